"""Tests derived from the source function itself.

Three kinds of case, all (arguments, expected result) pairs of Python literals
(``schemas.TestCase``):

* ``doctest``: ``>>> f(args)`` examples in the docstring followed by the printed result
  (read with the standard library's ``doctest.DocTestParser``);
* ``humaneval``: the ``assert candidate(...) == ...`` lines the sources stage already turned
  into cases (kept as given);
* ``generated``: inputs drawn from the parameters' type hints (or from the types the other
  cases use), bounded in number, whose expected output is whatever the *source* returns.

Every case is then run against the source function in the python sandbox
(``validation_program``), under the harness protocol of ``pipeline.harness.protocol``: the
program prints what the source returned for each case, and the host
(``read_validation``) compares given cases with their expected values, which never enter the
sandbox. Cases the source itself fails are dropped and counted as ``invalid_test``, as
TransCoder-ST does with its unit tests (Roziere et al. 2022, "Leveraging Automated Unit Tests
for Unsupervised Code Translation", arXiv:2110.06773). Generated cases whose run raises, uses
up its CPU-time budget or returns a non-literal are dropped too.

Limits count CPU time, so the cases kept do not depend on how busy the machine is: each call
gets ``per_case_cpu_s`` of CPU (``ITIMER_PROF``); a generous wall-clock backstop
(``per_case_wall_s``) only catches a source that blocks, and a run that hits it is reported
as *transient* (``Validation.transient``), never as a set of cases, so the caller retries it
instead of caching a load-dependent answer.
"""

from __future__ import annotations

import ast
import dataclasses
import doctest
import random
import re
from typing import Any

from pipeline.harness import protocol
from pipeline.harness.python import PRELUDE, SERIALISER
from pipeline.harness.pytypes import PyType, Signature, signature_of
from schemas import SourcePair, TestCase

#: Generated values stay within 32-bit integers so that a translation's ``int`` is a fair choice.
INT32 = 2**31 - 1
_DOCTEST = doctest.DocTestParser()


@dataclasses.dataclass(frozen=True)
class TestGenConfig:
    """How many cases to generate and what the source may spend per case.

    Attributes:
        max_generated: generated cases kept per pair (0 disables generation).
        max_cases: cases kept per pair in all (doctest/human-eval first).
        per_case_cpu_s: CPU time the source may use per case (more: the case is dropped);
            loading the source module gets five times as much.
        per_case_wall_s: wall-clock backstop per case, only for a source that blocks without
            using CPU; hitting it makes the whole run transient (retried, never cached).
        retries: re-runs of a transient validation (timeout, sandbox error, wall backstop)
            before the pair's tests count as unavailable.
        seed: generation seed (combined with the pair id, so results are stable per pair).
    """

    __test__ = False

    max_generated: int = 5
    max_cases: int = 20
    per_case_cpu_s: float = 1.0
    per_case_wall_s: float = 30.0
    retries: int = 2
    seed: int = 1234

    def __post_init__(self) -> None:
        if not (self.per_case_cpu_s > 0 and self.per_case_wall_s > self.per_case_cpu_s):
            raise ValueError("need 0 < per_case_cpu_s < per_case_wall_s")
        if self.retries < 0:
            raise ValueError("retries must be >= 0")


def _literal(node: ast.expr) -> Any:
    return ast.literal_eval(node)


def cases_from_docstring(code: str, docstring: str, func_name: str) -> list[TestCase]:
    """``>>> func_name(literal, ...)`` examples whose expected output is a literal.

    Keyword arguments are mapped onto positions through the source's signature; examples
    that call anything else, print, or raise are skipped.
    """
    sig = signature_of(code, func_name)
    short = func_name.rsplit(".", 1)[-1]
    text = docstring or ""
    try:  # CodeSearchNet's docstring column is often the summary only: read the code's too
        fn = next(
            n
            for n in ast.walk(ast.parse(code))
            if isinstance(n, ast.FunctionDef) and n.name == short
        )
        inner = ast.get_docstring(fn) or ""
        if inner and inner not in text:
            text = inner + "\n\n" + text
    except (SyntaxError, StopIteration):
        pass
    try:
        examples = _DOCTEST.get_examples(text)
    except ValueError:
        return []
    out: list[TestCase] = []
    for ex in examples:
        if ex.exc_msg is not None or not ex.want.strip():
            continue
        try:
            call = ast.parse(ex.source.strip(), mode="eval").body
            expected = ast.literal_eval(ex.want.strip())
        except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
            continue
        if not isinstance(call, ast.Call):
            continue
        callee = (
            call.func.attr
            if isinstance(call.func, ast.Attribute)
            else getattr(call.func, "id", None)
        )
        if callee != short:
            continue
        try:
            args = [_literal(a) for a in call.args]
            if any(isinstance(a, ast.Starred) for a in call.args):
                continue
            if call.keywords:
                if sig is None or any(k.arg is None for k in call.keywords):
                    continue
                kw = {k.arg: _literal(k.value) for k in call.keywords}
                slots = list(sig.params)
                if any(k not in slots for k in kw):
                    continue
                last = max(slots.index(k) for k in kw)
                for i in range(len(args), last + 1):
                    if slots[i] in kw:
                        args.append(kw[slots[i]])
                    else:
                        d = (
                            sig.defaults[i - (len(slots) - len(sig.defaults))]
                            if i >= len(slots) - len(sig.defaults)
                            else Ellipsis
                        )
                        if d is Ellipsis:
                            raise ValueError("gap")
                        args.append(d)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        out.append(TestCase(args=repr(tuple(args)), expected=repr(expected), origin="doctest"))
    return out


def source_cases(pair: SourcePair, config: TestGenConfig) -> list[TestCase]:
    """The pair's own cases plus its docstring's, deduplicated, at most ``max_cases``."""
    if pair.language.lower() != "python":
        return []
    seen: set[tuple[str, str]] = set()
    out: list[TestCase] = []
    for case in list(pair.tests) + cases_from_docstring(pair.code, pair.docstring, pair.func_name):
        key = (case.args, case.expected)
        if key not in seen:
            seen.add(key)
            out.append(case)
    return out[: config.max_cases]


# -- generated inputs ---------------------------------------------------------------------


def _gen(t: PyType, rng: random.Random, lo: int, hi: int, depth: int = 0) -> Any:
    k = t.kind
    if k == "int":
        return (
            rng.choice([lo, hi, 0, 1, 2, 3, 5, 10, rng.randint(lo, hi), rng.randint(lo, hi)])
            if lo < 0
            else rng.choice([0, 1, 2, 3, 5, 10, hi, rng.randint(0, hi), rng.randint(0, hi)])
        )
    if k == "float":
        return round(rng.uniform(lo, hi), 2)
    if k == "bool":
        return rng.random() < 0.5
    if k == "str":
        alphabet = "abcdefghijklmnopqrstuvwxyzABC xyz0123456789"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
    if k == "none":
        return None
    if depth > 2:
        raise ValueError("too deep")
    if k == "list":
        return [_gen(t.args[0], rng, lo, hi, depth + 1) for _ in range(rng.randint(0, 5))]
    if k == "tuple":
        return tuple(_gen(a, rng, lo, hi, depth + 1) for a in t.args)
    if k == "dict":
        return {
            _gen(t.args[0], rng, lo, hi, depth + 1): _gen(t.args[1], rng, lo, hi, depth + 1)
            for _ in range(rng.randint(0, 3))
        }
    if k == "optional":
        return None if rng.random() < 0.2 else _gen(t.args[0], rng, lo, hi, depth + 1)
    raise ValueError(f"cannot generate {t}")


def _int_range(values: list[Any]) -> tuple[int, int]:
    ints: list[int] = []

    def walk(v: Any) -> None:
        if isinstance(v, bool):
            return
        if isinstance(v, int):
            ints.append(v)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in (*v.keys(), *v.values()):
                walk(x)

    for v in values:
        walk(v)
    lo = min(ints, default=-5)
    hi = max(ints, default=20)
    return (0 if lo >= 0 else max(lo, -20)), max(min(hi, 100), 10)


def generate_inputs(
    signature: Signature, existing: list[tuple[Any, ...]], n: int, seed: int
) -> list[tuple[Any, ...]]:
    """Up to ``3 * n`` distinct argument tuples drawn from the (refined) parameter types.

    Nothing when a parameter's type is unknown: inputs of a guessed type would mostly test
    the guess. Integers stay in the range the existing cases use (non-negative when they are),
    so generated inputs respect simple preconditions such as ``n >= 0``.
    """
    if n <= 0 or not signature.params:
        return []
    sig = signature.refined([(a, None) for a in existing]) if existing else signature
    if not all(t.is_known for t in sig.param_types):
        return []
    lo, hi = _int_range([a for args in existing for a in args])
    rng = random.Random(seed)
    seen = {repr(a) for a in existing}
    out: list[tuple[Any, ...]] = []
    for _ in range(n * 10):
        try:
            args = tuple(_gen(t, rng, lo, hi) for t in sig.param_types)
        except (ValueError, TypeError):
            return []
        key = repr(args)
        if key not in seen:
            seen.add(key)
            out.append(args)
        if len(out) >= 3 * n:
            break
    return out


# -- validation against the source ----------------------------------------------------------

#: The source runs under two timers: ITIMER_PROF (CPU time: the budget) and ITIMER_REAL (wall
#: time: the backstop). A handler that fires while a call is armed raises, and re-arms itself
#: so that a source swallowing the exception (``except BaseException: pass``) is interrupted
#: again; the third time the handler itself reports the case and every later one with that
#: outcome and ends the program (a source that cannot be interrupted cannot run more cases).
#: Once the call is over, a late signal is ignored.
_LIMITS = """
import signal as __signal


class __Limit(BaseException):
    pass


__state = {"armed": False, "cpu": False, "wall": False, "fired": 0, "next": 0, "n": 0}


def __give_up(token):
    for i in range(__state["next"], __state["n"]):
        __emit(__CASE + str(i) + " " + token)
    __emit(__END + __NONCE)
    __os._exit(0)


def __on_signal(signum, frame):
    if not __state["armed"]:
        return
    wall = signum != __signal.SIGPROF
    __state["wall" if wall else "cpu"] = True
    __state["fired"] += 1
    if __state["fired"] >= 3:
        __give_up("W" if __state["wall"] else "C")
    __signal.setitimer(__signal.ITIMER_REAL if wall else __signal.ITIMER_PROF, 0.2)
    raise __Limit()


__signal.signal(__signal.SIGPROF, __on_signal)
__signal.signal(__signal.SIGALRM, __on_signal)


def __guarded(call, cpu_s, wall_s):
    # (token, value): token None with the value, or the W / C / X... token of the outcome
    __state.update(armed=True, cpu=False, wall=False, fired=0)
    __signal.setitimer(__signal.ITIMER_REAL, wall_s)
    __signal.setitimer(__signal.ITIMER_PROF, cpu_s)
    try:
        try:
            got = (None, call())
        except BaseException as e:
            got = (__raised(e), None)
        finally:
            __state["armed"] = False
    except BaseException as e:
        got = (__raised(e), None)
    __state["armed"] = False
    __signal.setitimer(__signal.ITIMER_PROF, 0)
    __signal.setitimer(__signal.ITIMER_REAL, 0)
    if __state["wall"]:
        return "W", None
    if __state["cpu"]:
        return "C", None
    return got
"""

_PROGRAM = """{prelude}
{serialiser}
__CASE = {case!r}
__END = {end!r}
{limits}
import io as __io

__sink = __io.StringIO()
__real_stdout = __sys.stdout
__ALL = {args}
__state["n"] = len(__ALL)
__emit({begin!r} + __NONCE)
__ns = {{"__name__": "__source__", "__builtins__": __builtins__}}
__sys.stdout = __sink
exec("import math, re, os, string, itertools, functools, collections, heapq, bisect, random, operator\\n"
     "from typing import *\\nfrom collections import *\\n", __ns)
__loaded, _ = __guarded(lambda: exec(compile({code!r}, "<source>", "exec"), __ns), {import_cpu!r}, {wall!r})
__sys.stdout = __real_stdout
if __loaded is None and {name!r} not in __ns:
    __loaded = __raised(NameError())
__stop = None
for __i, __args in enumerate(__ALL):
    __state["next"] = __i
    if __loaded is not None or __stop is not None:
        __line = __loaded or __stop
    else:
        __sys.stdout = __sink
        __token, __got = __guarded(lambda: __ns[{name!r}](*__args), {cpu!r}, {wall!r})
        __sys.stdout = __real_stdout
        __sink.seek(0)
        __sink.truncate()
        if __token is None:
            try:
                __line = __value(__got)
            except BaseException as __e:
                __line = __raised(__e)
        else:
            __line = __token
        if __line == "W":
            __stop = "W"
    __emit(__CASE + str(__i) + " " + __line)
__emit(__END + __NONCE)
"""


def validation_program(
    code: str,
    func_name: str,
    given: list[TestCase],
    generated: list[tuple[Any, ...]],
    config: TestGenConfig,
) -> str:
    """A python program that runs the source on every case's arguments and prints, under the
    harness protocol, what it returned (given cases first, then generated ones, in order).

    No expected value is written into it: ``read_validation`` compares on the host. The
    function's own prints to ``sys.stdout`` are swallowed; anything it writes to fd 1
    directly is ordinary program output, and if it looks like protocol text the whole run is
    void (``Validation.note``).
    """
    args = [ast.literal_eval(c.args) for c in given] + [tuple(a) for a in generated]
    return _PROGRAM.format(
        prelude=PRELUDE,
        serialiser=SERIALISER,
        limits=_LIMITS,
        code=code,
        name=func_name.rsplit(".", 1)[-1],
        args=repr([tuple(a) for a in args]),
        cpu=float(config.per_case_cpu_s),
        import_cpu=5.0 * float(config.per_case_cpu_s),
        wall=float(config.per_case_wall_s),
        begin=f"{protocol.PREFIX} BEGIN ",
        case=f"{protocol.PREFIX} CASE ",
        end=f"{protocol.PREFIX} END ",
    )


def validation_timeout_s(n_cases: int, config: TestGenConfig) -> float:
    """The sandbox's wall limit for a validation program: a backstop far above what the
    per-case CPU budgets allow even when the machine is busy (one blocked case, the module
    load and every case at five times its CPU budget)."""
    return 10.0 + config.per_case_wall_s + 5.0 * config.per_case_cpu_s * (n_cases + 5)


def _small_ints(v: Any) -> bool:
    if isinstance(v, bool):
        return True
    if isinstance(v, int):
        return -INT32 - 1 <= v <= INT32
    if isinstance(v, (list, tuple)):
        return all(_small_ints(x) for x in v)
    if isinstance(v, dict):
        return all(_small_ints(x) for x in (*v.keys(), *v.values()))
    return True


@dataclasses.dataclass(frozen=True)
class Validation:
    """What one validation run says about a pair's cases.

    Attributes:
        cases: the cases kept (given ones the source reproduces, then generated ones).
        invalid: given cases the source does not reproduce (``invalid_test``).
        transient: why the run says nothing about the cases (the wall backstop fired): retry
            it, never cache it. None when the run is an answer.
        note: why fewer cases than expected were read (a crash part-way, a broken protocol).
    """

    cases: tuple[TestCase, ...] = ()
    invalid: int = 0
    transient: str | None = None
    note: str | None = None


def _writable(v: Any) -> bool:
    """Can ``v`` be written as a Python literal that reads back equal (the form of
    ``TestCase.expected``)? Top-level sets, bytes and complex numbers are not kept."""
    if isinstance(v, (set, frozenset, bytes, complex)):
        return False
    try:
        return ast.literal_eval(repr(v)) == v
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def read_validation(
    stdout: str,
    nonce: str,
    given: list[TestCase],
    generated: list[tuple[Any, ...]],
    config: TestGenConfig,
) -> Validation:
    """The cases a validation run supports (``validation_program``'s output, read on the host).

    Given cases count as valid when the source's result equals their expected value under
    ``protocol.equal_strict`` (a list is not a tuple, ``True`` is not ``1``); the others are
    ``invalid_test``. Generated inputs are kept (at most ``max_generated``, while
    ``max_cases`` allows) when the source returned, within its CPU budget, a literal with
    32-bit integers that prints in at most 2,000 characters. A protocol violation voids the
    run (no case is trusted); a wall backstop makes it transient.
    """
    n = len(given) + len(generated)
    block = protocol.read_block(stdout, nonce, n)
    if any(isinstance(v, protocol.WallLimit) for v in block.values):
        return Validation(transient="a case hit the wall-clock backstop")
    if block.violation is not None:
        return Validation(
            invalid=0, note=f"source output broke the harness protocol: {block.violation}"
        )
    note = (
        None
        if block.complete
        else f"source validation stopped after {len(block.values)} of {n} cases"
    )
    valid: list[TestCase] = []
    invalid = 0
    for i, case in enumerate(given):
        ok = False
        if i < len(block.values):
            try:
                ok = protocol.equal_strict(block.values[i], ast.literal_eval(case.expected))
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                ok = False
        if ok:
            valid.append(case)
        else:
            invalid += 1
    kept_generated = 0
    for j, args in enumerate(generated):
        if kept_generated >= config.max_generated or len(valid) >= config.max_cases:
            break
        if len(given) + j >= len(block.values):
            break
        got = block.values[len(given) + j]
        if isinstance(got, (protocol.Raised, protocol.Opaque, protocol.CpuLimit)):
            continue
        try:
            value = protocol.to_python(got)
        except TypeError:  # an unhashable item in a set or a dict key
            continue
        if not _writable(value):
            continue
        expected_text = repr(value)
        if len(expected_text) > 2000 or not (_small_ints(args) and _small_ints(value)):
            continue
        valid.append(TestCase(args=repr(args), expected=expected_text, origin="generated"))
        kept_generated += 1
    return Validation(cases=tuple(valid), invalid=invalid, note=note)


def seed_for(pair_id: str, seed: int) -> int:
    """A generation seed stable per pair and run seed."""
    return int(re.sub(r"[^0-9a-f]", "", pair_id.lower())[:12] or "0", 16) ^ seed
