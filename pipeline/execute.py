"""Execution validation: every translation compiled, run and checked against its source's tests.

Pure core first (``Validator``: tests from the source, validated against the source in the
python sandbox; one harness program per translation; verdicts from the sandbox's results;
the verdict cache), then the Beam DoFn and the ``Execute`` / ``SelectBestAttempt``
PTransforms (docs/design.md, "Data flow", "Data contract", "Validation").

Every program runs under the harness protocol (``pipeline.harness.protocol``): it prints what
the function returned for each case, the host compares with expected values that never enter
the sandbox. Status of a translation (``schemas.ExecStatus``):
  * ``passed``: compiled, exited 0, printed exactly one well-formed protocol block (this run's
    nonce, one line per case in order, the end marker) and every value equals the expected one;
  * ``failed``: compiled and exited 0, but some value differs, the call raised, a case is
    missing or the output breaks the protocol;
  * ``no_tests``: compiled and ran as a library unit (no usable cases, or cases that cannot
    be written in that language: ``stderr_tail`` then says ``unrenderable: ...``);
  * otherwise the program status that stopped it (``compile_error``, ``runtime_error``,
    ``timeout``, ``memory_exceeded``, ``output_exceeded``, ``sandbox_error``);
  * ``sandbox_error`` with ``stderr_tail`` ``tests_unavailable: ...`` when the source's tests
    could not be derived for an infrastructure reason (its validation run kept ending in
    ``timeout`` or ``sandbox_error`` or at the wall backstop, retries included): the row is
    rejected with reason ``tests_unavailable``, never admitted as ``no_tests``;
  * ``not_run`` with ``--sandbox=none``.
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import apache_beam as beam

from pipeline.feedback import FACT_STATUSES, run_facts
from pipeline.harness import (
    PROTOCOL_VERSION,
    Case,
    HarnessRequest,
    Unrenderable,
    case_outcomes,
    harness_for,
    new_nonce,
    read_block,
    stdin_for,
)
from pipeline.harness.pytypes import Signature, signature_of
from pipeline.settings import setting
from pipeline.stage import StageFn
from pipeline.testgen import (
    TestGenConfig,
    Validation,
    generate_inputs,
    read_validation,
    seed_for,
    source_cases,
    validation_program,
    validation_timeout_s,
)
from pipeline.verdict_cache import VerdictCache, cache_key
from schemas import COMPILED_STATUSES, Candidate, ExecStatus, SourcePair, TestCase, Verdict, dumps

LOG = logging.getLogger(__name__)
STAGE = "execute"
SANDBOXES = ("auto", "docker", "bwrap", "none")
REQUIREMENTS = ("default", "passed", "compiled", "parsed")
#: Bumped whenever harness or verdict logic changes meaning, so old cache entries are not reused;
#: every key also carries the harness protocol's version (``PROTOCOL``). v5: verdicts keep the
#: repair loop's facts (``Verdict.feedback``). v6: a Go compile error's facts keep its
#: messages (v5 kept only the closing ``too many errors``), and no message keeps an absolute
#: directory path of the sandbox (v5 kept those of Go's ``cannot find package``). v7: a C++
#: program that included its first header again was a compile error in a batch with a PCH of
#: that header (``sandboxes/agent.py``, ``_build_pchs``), though right alone. v8: a harness
#: run's limit is CPU time, the wall limit only a backstop (``WALL_BACKSTOP_FACTOR``).
CACHE_VERSION = "execute/v8"
PROTOCOL = f"harness-protocol/{PROTOCOL_VERSION}"
STDERR_TAIL = 1000
TOOLCHAIN_UNAVAILABLE = "toolchain_unavailable"
TESTS_UNAVAILABLE = "tests_unavailable"
#: Program statuses that say nothing about the program (the machine or the sandbox decided):
#: a source validation that ends in one is retried, and no verdict that ends in one is cached.
TRANSIENT = ("timeout", "sandbox_error")
#: A harness run's limit is CPU time; its wall-clock backstop is this many times longer.
WALL_BACKSTOP_FACTOR = 2.0
#: A harness run that timed out is run once more with this many times its wall backstop.
TIMEOUT_RETRY_FACTOR = 3.0
#: Pairs whose source tests a worker keeps in memory (far more than one batch's pairs).
SOURCE_TESTS_KEPT = 4096


@dataclasses.dataclass(frozen=True)
class ExecuteConfig:
    """Configuration of the execute stage.

    Attributes:
        sandbox: ``auto`` (Docker if a daemon answers, else bubblewrap), ``docker``, ``bwrap``
            or ``none`` (nothing runs: verdicts ``not_run``, rows kept, a loud warning).
        require: what is kept: ``passed``, ``compiled`` (compiled and ran: passed, failed,
            no_tests), ``parsed`` (everything that reached this stage) or ``default``
            (passed where tests ran, else compiled and ran as a library unit).
        cache_dir: directory of the sqlite verdict cache (None: no cache).
        batch_size: programs per sandbox batch.
        timeout_s: run-time limit per program (None: the language table's default).
        testgen: test derivation and generation settings.
    """

    sandbox: str = setting(
        "auto",
        choices=SANDBOXES,
        help="where translations run: Docker if a daemon answers, "
        "else bubblewrap; none = parse-checked only",
    )
    require: str = setting(
        "default",
        choices=REQUIREMENTS,
        help="what enters the dataset: passed | compiled | parsed (default: passed where tests "
        "exist, compiled otherwise)",
    )
    cache_dir: str | None = None
    batch_size: int = 64
    timeout_s: float | None = None
    testgen: TestGenConfig = dataclasses.field(default_factory=TestGenConfig)

    def __post_init__(self) -> None:
        if self.sandbox not in SANDBOXES:
            raise ValueError(f"unknown sandbox {self.sandbox!r}; valid: {', '.join(SANDBOXES)}")
        if self.require not in REQUIREMENTS:
            raise ValueError(
                f"unknown requirement {self.require!r}; valid: {', '.join(REQUIREMENTS)}"
            )
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")

    def __str__(self) -> str:
        return (
            f"ExecuteConfig(sandbox={self.sandbox}, require={self.require}, cache={self.cache_dir})"
        )


@dataclasses.dataclass(frozen=True)
class SourceTests:
    """The validated cases of one source function.

    ``unavailable`` says why no answer could be had (every validation run was transient):
    the pair's translations are then rejected as ``tests_unavailable``, not run.
    """

    cases: tuple[TestCase, ...] = ()
    invalid: int = 0
    note: str | None = None
    unavailable: str | None = None


class _SourceCheck(NamedTuple):
    """A source function to validate: its given and generated cases and the program that runs them."""

    pair: SourcePair
    given: list[TestCase]
    generated: list[tuple]
    program: str


@dataclasses.dataclass(frozen=True)
class Planned:
    """One candidate's program, ready for the sandbox."""

    candidate: Candidate
    language: str
    source: str
    expected: tuple[Any, ...] | None
    note: str | None
    key: str | None
    #: The cases the harness runs (in order, with their origin), and the harness rendered with
    #: the given cases alone when some are held out (generated): the repair loop's feedback
    #: must not show the lines that call the function on held-out inputs.
    cases: tuple[TestCase, ...] = ()
    given_source: str | None = None

    @property
    def n_cases(self) -> int:
        return len(self.expected) if self.expected is not None else 0


class _Indexed(NamedTuple):
    """A plan and the position of its candidate in the batch being checked."""

    index: int
    plan: Planned


def _tail(text: str, n: int = STDERR_TAIL) -> str:
    text = text.strip()
    return text[-n:]


def _first_error(text: str, n: int = STDERR_TAIL) -> str:
    """Compiler output from its first ``error`` line on (rustc and g++ print warnings first)."""
    lines = text.strip().splitlines()
    for i, line in enumerate(lines):
        if "error" in line.lower():
            return "\n".join(lines[i:])[:n]
    return _tail(text, n)


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return True


def _cases(tests: Iterable[TestCase]) -> list[Case]:
    return [Case(tuple(ast.literal_eval(t.args)), ast.literal_eval(t.expected)) for t in tests]


def _given_only(module: Any, req: HarnessRequest, tests: tuple[TestCase, ...]) -> str | None:
    """The harness of ``req`` with its given cases alone (None when none is held out)."""
    given = tuple(case for case, t in zip(req.cases, tests, strict=True) if t.origin != "generated")
    if len(given) == len(req.cases):
        return None
    if given:
        try:
            return module.render(dataclasses.replace(req, cases=given))
        except Unrenderable:
            pass
    return module.library_unit(req.code)  # every case line counts as held out


def keep(verdict: Verdict, require: str) -> bool:
    """Does a verdict meet ``require`` (see ``ExecuteConfig``)?"""
    status = ExecStatus(verdict.exec_status)
    if status == ExecStatus.NOT_RUN or require == "parsed":
        return True
    if require == "passed":
        return status == ExecStatus.PASSED
    if require == "compiled":
        return status in COMPILED_STATUSES
    if verdict.tests_total > 0:  # default: passed where tests ran ...
        return status == ExecStatus.PASSED
    return status in (
        ExecStatus.NO_TESTS,
        ExecStatus.OK,
        ExecStatus.PASSED,
    )  # ... compiled otherwise


def rejection_reason(verdict: Verdict) -> str:
    """The rejected row's reason: the exec status, ``toolchain_unavailable`` or
    ``tests_unavailable`` (both ``sandbox_error`` verdicts that the stage itself wrote)."""
    if ExecStatus(verdict.exec_status) == ExecStatus.SANDBOX_ERROR and verdict.stderr_tail:
        for reason in (TOOLCHAIN_UNAVAILABLE, TESTS_UNAVAILABLE):
            if verdict.stderr_tail.startswith(f"{reason}: "):
                return reason
    return str(verdict.exec_status)


def verdict_from_run(
    base: Verdict,
    status: str,
    stdout: str,
    stderr: str,
    wall_s: float,
    nonce: str,
    expected: tuple[Any, ...] | None,
    note: str | None,
) -> Verdict:
    """The verdict of one harness run (``status``: the sandbox's program status).

    ``expected``: the cases' expected values, held by the host only (None: a library unit).
    ``passed`` needs a clean exit, one well-formed protocol block and every value equal; a
    broken protocol voids every value (``tests_passed`` 0).
    """
    n_cases = len(expected) if expected is not None else 0
    passed, problem, outcomes = 0, None, []
    if n_cases:
        block = read_block(stdout, nonce, n_cases)
        outcomes = case_outcomes(block, list(expected))
        passed = sum(o == "pass" for o in outcomes)
        if block.violation is not None:
            problem = f"harness protocol violated: {block.violation}"
        elif not block.started:
            problem = "no harness output: the program ended before the harness ran"
        elif not block.complete:
            problem = "the program ended before the harness's end marker"
    if status != "ok":
        exec_status = ExecStatus(status)
    elif n_cases == 0:
        exec_status = ExecStatus.NO_TESTS
    else:
        exec_status = (
            ExecStatus.PASSED if problem is None and passed == n_cases else ExecStatus.FAILED
        )
    detail = _first_error(stderr) if exec_status == ExecStatus.COMPILE_ERROR else _tail(stderr)
    if exec_status == ExecStatus.FAILED:
        bad = [f"{i}:{o}" for i, o in enumerate(outcomes) if o != "pass"]
        head = f"cases not passed: {', '.join(bad[:20])}"
        if problem:
            head = f"{problem}\n{head}"
        detail = head + (f"\n{detail}" if detail else "")
    if note:  # the note first and whole: it says why the cases were not (all) run
        note = note[: STDERR_TAIL // 2]
        detail = note + (f"\n{detail[: STDERR_TAIL - len(note) - 1]}" if detail else "")
    return dataclasses.replace(
        base,
        exec_status=exec_status,
        tests_passed=passed,
        tests_total=n_cases,
        stderr_tail=detail[:STDERR_TAIL] or None,
        wall_s=round(float(wall_s), 4),
    )


def base_verdict(c: Candidate) -> Verdict:
    t = c.translation
    if c.verdict is not None:
        return c.verdict
    return Verdict(pair_id=t.pair_id, target_language=t.target_language, attempt=t.attempt)


class _Recent(collections.OrderedDict):
    """A dict that keeps only its ``capacity`` most recently set keys."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)


class Validator:
    """The pure core: source tests, harness programs, verdicts (sandbox passed in).

    ``sandbox`` is any object with the ``sandboxes`` interface (``run_batch``,
    ``self_test``, ``toolchain_version``); ``None`` means nothing runs (``not_run``).
    """

    def __init__(
        self, config: ExecuteConfig, sandbox: Any | None, cache: VerdictCache | None = None
    ) -> None:
        self.config = config
        self.sandbox = sandbox
        self.cache = cache if cache is not None else VerdictCache(None)
        self._toolchains: dict[str, tuple[bool, str]] = {}
        self._versions: dict[str, str] = {}
        # Source tests of recent pairs (the other targets of a pair usually follow in the next
        # batches); older ones come back from the verdict cache, so memory stays bounded.
        self._source_tests: _Recent = _Recent(SOURCE_TESTS_KEPT)
        self.counts: dict[str, int] = {}

    def _count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    # -- toolchains ------------------------------------------------------------------------
    def toolchain(self, language: str) -> tuple[bool, str]:
        """(usable, message) for a language, self-tested once per process."""
        if language not in self._toolchains:
            try:
                report = self.sandbox.self_test([language])
                ok, message = next(iter(report.values()))
            except Exception as exc:  # an unknown language or a broken backend: say why once
                ok, message = False, f"{type(exc).__name__}: {exc}"
            if not ok:
                LOG.error("execute: %s toolchain unavailable: %s", language, message)
            self._toolchains[language] = (ok, message)
        return self._toolchains[language]

    def version(self, language: str) -> str:
        if language not in self._versions:
            self._versions[language] = self.sandbox.toolchain_version(language)
        return self._versions[language]

    def _program(
        self, language: str, source: str, nonce: str | None = None, timeout_s: float | None = None
    ) -> Any:
        from sandboxes import Program

        return Program(
            language=language,
            source=source,
            stdin=stdin_for(nonce) if nonce else "",
            timeout_s=timeout_s if timeout_s is not None else self.config.timeout_s,
        )

    def _harness_program(self, language: str, source: str, nonce: str, wall_factor: float) -> Any:
        """A harness run: its limit is CPU time (``_base_timeout_s``), with a wall-clock
        backstop ``wall_factor`` times longer for programs that wait without computing. A
        busy machine slows a program's wall clock, not its CPU count, so it cannot turn a
        program within its CPU into a timeout."""
        base = self._base_timeout_s(language)
        program = self._program(language, source, nonce, wall_factor * base)
        return dataclasses.replace(program, cpu_s=max(1.0, base))

    def _base_timeout_s(self, language: str) -> float:
        """The run limit a harness gets (as ``Program.timeout_s``): the configured one, else
        the language table's default expressed before its ``time_factor``."""
        if self.config.timeout_s is not None:
            return self.config.timeout_s
        from sandboxes import resolve_language

        lang = resolve_language(language)
        return lang.timeout_s / lang.time_factor

    # -- source tests ----------------------------------------------------------------------
    def source_tests(self, pairs: Iterable[SourcePair]) -> dict[str, SourceTests]:
        """Validated cases per pair id: given/doctest cases the source passes, plus generated.

        A validation run that is transient (``TRANSIENT`` statuses, the wall backstop) is run
        again, up to ``testgen.retries`` times; a pair still without an answer gets
        ``SourceTests.unavailable`` (not remembered, so a later batch tries again). Only
        answers are cached.
        """
        todo: list[_SourceCheck] = []
        queued: set[str] = set()
        wanted: list[str] = []
        unavailable: dict[str, SourceTests] = {}
        for pair in pairs:
            wanted.append(pair.pair_id)
            if pair.pair_id in self._source_tests or pair.pair_id in queued:
                continue
            queued.add(pair.pair_id)
            given = source_cases(pair, self.config.testgen)
            sig = (
                signature_of(pair.code, pair.func_name)
                if pair.language.lower() == "python"
                else None
            )
            if sig is None:
                self._source_tests[pair.pair_id] = SourceTests(
                    note=None if not given else "source signature unreadable"
                )
                continue
            try:
                existing = [tuple(ast.literal_eval(c.args)) for c in given]
            except (ValueError, SyntaxError):
                existing = []
            generated = generate_inputs(
                sig,
                existing,
                self.config.testgen.max_generated,
                seed_for(pair.pair_id, self.config.testgen.seed),
            )
            if not given and not generated:
                self._source_tests[pair.pair_id] = SourceTests()
                continue
            try:
                program = validation_program(
                    pair.code, pair.func_name, given, generated, self.config.testgen
                )
            except (ValueError, SyntaxError):  # a given case whose arguments are no literal
                given = [c for c in given if _is_literal(c.args)]
                program = validation_program(
                    pair.code, pair.func_name, given, generated, self.config.testgen
                )
            todo.append(_SourceCheck(pair, given, generated, program))
        if not todo:
            return {pid: self._source_tests[pid] for pid in wanted}
        python_ok, _ = self.toolchain("python")
        if not python_ok:
            for check in todo:
                self._source_tests[check.pair.pair_id] = SourceTests(
                    note=f"source not validated: python {TOOLCHAIN_UNAVAILABLE}"
                )
            return {pid: self._source_tests[pid] for pid in wanted}
        keys = [
            cache_key(CACHE_VERSION, PROTOCOL, "source", prog, "python", self.version("python"))
            for prog in (check.program for check in todo)
        ]
        cached = self.cache.get_many(keys)
        answers: dict[int, Validation] = {}
        why: dict[int, str] = {}
        pending = [i for i in range(len(todo)) if keys[i] not in cached]
        for attempt in range(1 + self.config.testgen.retries):
            if not pending:
                break
            if attempt:
                self._count("source_retries", len(pending))
            nonces = {i: new_nonce() for i in pending}
            results = self.sandbox.run_batch(
                [
                    self._program(
                        "python",
                        todo[i].program,
                        nonces[i],
                        validation_timeout_s(
                            len(todo[i].given) + len(todo[i].generated), self.config.testgen
                        ),
                    )
                    for i in pending
                ]
            )
            still: list[int] = []
            for i, res in zip(pending, results, strict=True):
                given, generated = todo[i].given, todo[i].generated
                status = res.status.value
                if status in TRANSIENT:
                    why[i] = (
                        f"source validation ended in {status}: {_tail(res.stderr, 300)}".rstrip(
                            ": "
                        )
                    )
                    still.append(i)
                    continue
                found = read_validation(
                    res.stdout, nonces[i], given, generated, self.config.testgen
                )
                if found.transient:
                    why[i] = f"source validation: {found.transient}"
                    still.append(i)
                    continue
                if status != "ok":
                    ended = f"source validation ended in {status}: {_tail(res.stderr, 300)}".rstrip(
                        ": "
                    )
                    found = dataclasses.replace(
                        found, note=f"{ended}; {found.note}" if found.note else ended
                    )
                answers[i] = found
            pending = still
        fresh: dict[str, dict] = {}
        for i, (pair, given, _, _) in enumerate(todo):  # _SourceCheck
            if i in pending:
                self._count(TESTS_UNAVAILABLE)
                LOG.warning("execute: no tests for %s: %s", pair.pair_id, why[i])
                unavailable[pair.pair_id] = SourceTests(
                    unavailable=why[i]
                )  # not remembered: asked again
                continue
            if keys[i] in cached:
                value = cached[keys[i]]
            else:
                found = answers[i]
                value = {
                    "cases": [dataclasses.asdict(c) for c in found.cases],
                    "invalid": found.invalid,
                    "note": found.note,
                }
                fresh[keys[i]] = value
            cases = tuple(TestCase(**c) for c in value["cases"])
            note = value.get("note")
            if value["invalid"]:
                self._count("invalid_test", value["invalid"])
                msg = f"invalid_test: {value['invalid']} of {len(given)} source cases fail on the source itself"
                note = f"{note}; {msg}" if note else msg
            self._source_tests[pair.pair_id] = SourceTests(
                cases=cases, invalid=value["invalid"], note=note
            )
        self.cache.put_many(fresh)
        return {pid: unavailable.get(pid) or self._source_tests[pid] for pid in wanted}

    # -- harness programs ------------------------------------------------------------------
    def plan(self, c: Candidate, tests: SourceTests) -> Planned:
        """The harness (or library-unit) program for one candidate."""
        t = c.translation
        language = t.target_language
        module = harness_for(language)
        note = tests.note
        expected = None
        source = None
        given_source = None
        if tests.cases:
            sig: Signature | None = signature_of(c.pair.code, c.pair.func_name)
            cases = _cases(tests.cases)
            try:
                if sig is None:
                    raise Unrenderable("source signature unreadable")
                req = HarnessRequest(
                    code=t.code,
                    func_name=c.pair.func_name,
                    signature=sig.refined([(k.args, k.expected) for k in cases]),
                    cases=tuple(cases),
                )
                source = module.render(req)
                expected = tuple(k.expected for k in cases)
                given_source = _given_only(module, req, tests.cases)
            except Unrenderable as exc:
                note = f"unrenderable: {exc}" + (f"; {note}" if note else "")
                self._count("unrenderable")
        if source is None:
            source = module.library_unit(t.code)
        return Planned(
            c,
            module.LANGUAGE,
            source,
            expected,
            note,
            None,
            tests.cases if expected is not None else (),
            given_source,
        )

    def verdict_key(self, p: Planned, tests: SourceTests, protocol: str = PROTOCOL) -> str:
        """The verdict cache key of a planned program: cache and protocol versions, program
        text, tests, language, toolchain version and time limit."""
        tests_json = dumps([dataclasses.asdict(k) for k in tests.cases])
        return cache_key(
            CACHE_VERSION,
            protocol,
            "verdict",
            p.source,
            tests_json,
            p.language,
            self.version(p.language),
            str(self.config.timeout_s),
        )

    # -- the whole check -------------------------------------------------------------------
    def check(self, candidates: list[Candidate]) -> list[Candidate]:
        """Candidates with verdicts filled (exec status, tests, stderr tail, wall time)."""
        if self.sandbox is None:
            self._count("not_run", len(candidates))
            return [
                dataclasses.replace(
                    c,
                    verdict=dataclasses.replace(
                        base_verdict(c),
                        exec_status=ExecStatus.NOT_RUN,
                        stderr_tail="not run: sandbox disabled (--sandbox=none)",
                    ),
                )
                for c in candidates
            ]
        tests = self.source_tests([c.pair for c in candidates])
        out: dict[int, Candidate] = {}
        plans: list[_Indexed] = []
        for i, c in enumerate(candidates):
            try:
                language = harness_for(c.translation.target_language).LANGUAGE
                ok, message = self.toolchain(language)
            except ValueError as exc:  # a target language without a harness
                ok, message = False, str(exc)
            if not ok:
                out[i] = dataclasses.replace(
                    c,
                    verdict=dataclasses.replace(
                        base_verdict(c),
                        exec_status=ExecStatus.SANDBOX_ERROR,
                        stderr_tail=_tail(f"{TOOLCHAIN_UNAVAILABLE}: {message}"),
                    ),
                )
                self._count(TOOLCHAIN_UNAVAILABLE)
                continue
            pair_tests = tests.get(c.pair.pair_id, SourceTests())
            if pair_tests.unavailable:
                out[i] = dataclasses.replace(
                    c,
                    verdict=dataclasses.replace(
                        base_verdict(c),
                        exec_status=ExecStatus.SANDBOX_ERROR,
                        stderr_tail=_tail(f"{TESTS_UNAVAILABLE}: {pair_tests.unavailable}"),
                    ),
                )
                continue
            p = self.plan(c, pair_tests)
            plans.append(_Indexed(i, dataclasses.replace(p, key=self.verdict_key(p, pair_tests))))
        cached = self.cache.get_many([p.key for _, p in plans])
        self._count("cache_hits", sum(p.key in cached for _, p in plans))
        to_run = [planned for planned in plans if planned.plan.key not in cached]
        nonces = [new_nonce() for _ in to_run]
        results = (
            self.sandbox.run_batch(
                [
                    self._harness_program(p.language, p.source, nonce, WALL_BACKSTOP_FACTOR)
                    for (_, p), nonce in zip(to_run, nonces, strict=True)
                ]
            )
            if to_run
            else []
        )
        # A timeout at the wall backstop may still be the machine's load: run the timeouts once
        # more with a backstop TIMEOUT_RETRY_FACTOR times longer and the same CPU limit (one
        # over its CPU ends the same way again).
        again = [j for j, res in enumerate(results) if res.status.value == "timeout"]
        if again:
            self._count("timeout_retries", len(again))
            for j in again:
                nonces[j] = new_nonce()
            rerun = self.sandbox.run_batch(
                [
                    self._harness_program(
                        to_run[j].plan.language,
                        to_run[j].plan.source,
                        nonces[j],
                        TIMEOUT_RETRY_FACTOR * WALL_BACKSTOP_FACTOR,
                    )
                    for j in again
                ]
            )
            for j, res in zip(again, rerun, strict=True):
                results[j] = res
        fresh: dict[str, dict] = {}
        for (i, p), nonce, res in zip(to_run, nonces, results, strict=True):
            v = verdict_from_run(
                base_verdict(p.candidate),
                res.status.value,
                res.stdout,
                res.stderr,
                res.wall_s,
                nonce,
                p.expected,
                p.note,
            )
            if str(v.exec_status) in FACT_STATUSES:  # what a repair round may tell the model
                v = dataclasses.replace(
                    v,
                    feedback=run_facts(
                        str(v.exec_status),
                        stdout=res.stdout,
                        stderr=res.stderr,
                        nonce=nonce,
                        cases=p.cases,
                        func_name=p.candidate.pair.func_name,
                        source=p.source,
                        code=p.candidate.translation.code,
                        given_source=p.given_source,
                    ),
                )
            if res.status.value not in TRANSIENT:  # a lost or timed-out run is redone next time
                fresh[p.key] = {
                    k: getattr(v, k)
                    for k in ("tests_passed", "tests_total", "stderr_tail", "wall_s", "feedback")
                } | {"exec_status": str(v.exec_status)}
            out[i] = dataclasses.replace(p.candidate, verdict=v)
        for i, p in plans:
            if p.key in cached:
                value = cached[p.key]
                out[i] = dataclasses.replace(
                    p.candidate,
                    verdict=dataclasses.replace(
                        base_verdict(p.candidate),
                        exec_status=ExecStatus(value["exec_status"]),
                        tests_passed=value["tests_passed"],
                        tests_total=value["tests_total"],
                        stderr_tail=value["stderr_tail"],
                        wall_s=value["wall_s"],
                        feedback=value.get("feedback"),
                    ),
                )
        self.cache.put_many(fresh)
        return [out[i] for i in range(len(candidates))]


# -- best of N -------------------------------------------------------------------------------

_RANK = {
    ExecStatus.PASSED: 0,
    ExecStatus.NO_TESTS: 1,
    ExecStatus.OK: 1,
    ExecStatus.NOT_RUN: 1,
    ExecStatus.FAILED: 2,
}


def select_best(candidates: Iterable[Candidate]) -> tuple[Candidate, list[Candidate]]:
    """(kept, others) among the attempts of one (pair, target).

    The first attempt (lowest index) that passes; if none passes, the best status in the
    order passed > no_tests/ok/not_run > failed > anything else, ties to the lowest attempt.
    Between repair rounds (``pipeline/repair.py``): an unrepaired pass first, then the pass of
    the earliest round; the round counts before the attempt index.
    """
    items = list(candidates)
    if not items:
        raise ValueError("select_best needs at least one candidate")

    def rank(c: Candidate) -> tuple[int, int, int]:
        status = ExecStatus(c.verdict.exec_status) if c.verdict else ExecStatus.NOT_RUN
        t = c.translation
        return _RANK.get(status, 3), t.repair_round if t else 0, t.attempt if t else 0

    items.sort(key=rank)
    return items[0], items[1:]


# -- Beam ------------------------------------------------------------------------------------


def _open_sandbox(choice: str) -> Any | None:
    if choice == "none":
        return None
    from sandboxes import open_sandbox

    return open_sandbox(choice)


class ExecuteFn(StageFn):
    """Runs a batch of candidates through the ``Validator``; tags kept/rejected."""

    NAMESPACE = STAGE

    def __init__(self, config: ExecuteConfig) -> None:
        self.config = config

    def setup(self) -> None:
        self.sandbox = _open_sandbox(self.config.sandbox)
        if self.sandbox is None:
            LOG.warning(
                "EXECUTE: SANDBOX DISABLED: translations are NOT compiled or run; "
                "rows keep exec_status=not_run"
            )
        self.cache = VerdictCache(self.config.cache_dir)
        self.validator = Validator(self.config, self.sandbox, self.cache)

    def _sandbox_cpu_s(self) -> float | None:
        return self.sandbox.cpu_seconds() if self.sandbox is not None else None

    def process(self, batch: list[Candidate]) -> Iterator:
        started = time.perf_counter()
        before = dict(self.validator.counts)
        box_before = self._sandbox_cpu_s()
        checked = self.validator.check(list(batch))
        per_item_ms = int(1000 * (time.perf_counter() - started) / max(1, len(checked)))
        box_after = self._sandbox_cpu_s()
        if box_before is not None and box_after is not None:  # containers: not our children
            self.count("sandbox_cpu_us", int(1e6 * max(0.0, box_after - box_before)))
        self.count("batches")
        self.distribution("batch_size", len(checked))
        for name, value in self.validator.counts.items():
            self.count(name, value - before.get(name, 0))
        for c in checked:
            self.seen()
            self.latency(per_item_ms)
            self.count(f"status_{c.verdict.exec_status}")
            if keep(c.verdict, self.config.require):
                yield self.keep(c)
            else:
                reason = rejection_reason(c.verdict)
                yield self.reject(c.reject(STAGE, reason, c.verdict.stderr_tail), reason)

    def teardown(self) -> None:
        if getattr(self, "cache", None) is not None:
            self.cache.close()
        if getattr(self, "sandbox", None) is not None:
            self.sandbox.close()
            self.sandbox = None


class BatchByTarget(beam.DoFn):
    """Candidates -> lists of up to ``batch_size`` candidates of one target language.

    A sandbox batch runs one language in one warm sandbox, so a batch that mixes languages
    pays one sandbox start (and one batch compile) per language in it. Buffers are per bundle
    and per (window, language); a full one is emitted at once, the rest at the end of the
    bundle. Fixed sizes: Beam's ``BatchElements`` starts at one element and sizes batches to a
    target *duration*, which on a busy machine keeps sandbox batches at a few programs.
    """

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size

    def start_bundle(self) -> None:
        self._buffers: dict[tuple[Any, str], list[Candidate]] = {}

    def process(self, c: Candidate, window=beam.DoFn.WindowParam) -> Iterator:
        key = (window, str(c.translation.target_language))
        buf = self._buffers.setdefault(key, [])
        buf.append(c)
        if len(buf) >= self.batch_size:
            del self._buffers[key]
            yield buf

    def finish_bundle(self) -> Iterator:
        from apache_beam.utils.windowed_value import WindowedValue

        for (window, _), buf in sorted(self._buffers.items(), key=lambda kv: kv[0][1]):
            yield WindowedValue(buf, window.max_timestamp(), (window,))
        self._buffers = {}


class Execute(beam.PTransform):
    """``Candidate`` (parsed) -> outputs ``candidates`` (verdict filled) and ``rejected``."""

    def __init__(self, config: ExecuteConfig | None = None) -> None:
        super().__init__()
        self.config = config or ExecuteConfig()

    def expand(self, pcoll):
        results = (
            pcoll
            | "BatchByTarget" >> beam.ParDo(BatchByTarget(self.config.batch_size))
            | "Run"
            >> beam.ParDo(ExecuteFn(self.config)).with_outputs("rejected", main="candidates")
        )
        return {"candidates": results.candidates, "rejected": results.rejected}


def _select_group(item: tuple[Any, Iterable[Candidate]]) -> Iterator:
    _, group = item
    best, others = select_best(group)
    yield best
    for c in others:
        yield beam.pvalue.TaggedOutput(
            "rejected",
            c.reject(
                "select",
                "not_best_attempt",
                f"attempt {best.translation.attempt} kept"
                + (
                    f" (repair round {best.translation.repair_round})"
                    if best.translation.repair_round
                    else ""
                ),
            ),
        )


class SelectBestAttempt(beam.PTransform):
    """Keep one attempt per (pair, target): ``candidates`` and ``rejected`` (stage ``select``)."""

    def expand(self, pcoll):
        results = (
            pcoll
            | "KeyByTarget"
            >> beam.Map(lambda c: ((c.pair.pair_id, c.translation.target_language), c))
            | "GroupAttempts" >> beam.GroupByKey()
            | "Pick" >> beam.FlatMap(_select_group).with_outputs("rejected", main="candidates")
        )
        return {"candidates": results.candidates, "rejected": results.rejected}
