"""Verdicts that do not depend on how busy the machine is, on the real sandbox.

The same validate-only input checked on the machine as it is and again with every core busy
(CPU burners started by the test) must give the same verdicts; the source-test cases kept
depend on CPU time, not wall time; a validation run that says nothing (wall backstop,
timeout, sandbox error) is retried, never cached, and a pair still without tests is
rejected as ``tests_unavailable``, never admitted as ``no_tests``.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time

import pytest

from pipeline.execute import ExecuteConfig, Validator, keep, rejection_reason
from pipeline.testgen import TestGenConfig
from pipeline.verdict_cache import VerdictCache
from schemas import Candidate, ExecStatus, SourcePair, Translation, Verdict
from tests.support import get_sandbox


def pair(name: str, code: str) -> SourcePair:
    return SourcePair.create(
        repository_name="t/load",
        func_path_in_repository="m.py",
        func_name=name,
        language="python",
        code=code,
        docstring="doc",
    )


def cand(p: SourcePair, language: str, code: str, attempt: int = 0) -> Candidate:
    return Candidate(
        p,
        Translation(p.pair_id, language, code, "test:load", attempt=attempt),
        Verdict(p.pair_id, language, attempt, parse_ok=True),
    )


# A case costs up to about 0.4 s of CPU (n up to 10 with generated inputs): with a 1 s
# wall-clock limit per case, a busy machine used to drop cases and change tests_total.
CHURN = pair(
    "churn",
    '''def churn(n: int) -> int:
    """A checksum that takes about 35 ms of CPU per unit of n.

    >>> churn(2)
    800000
    """
    t = 0
    for i in range(n * 400000):
        t += (i * i) % 2
    return t * 2
''',
)
CHURN_PY = "def churn(n):\n    return sum((i * i) % 2 for i in range(n * 400000)) * 2\n"
CHURN_JS = "function churn(n) { let t = 0; for (let i = 0; i < n * 400000; i++) t += (i * i) % 2; return t * 2; }"
CHURN_WRONG = "def churn(n):\n    return n * 400001\n"
PLAIN = pair(
    "scale",
    '''from typing import List

def scale(xs: List[int], k: int) -> List[int]:
    """Every element times k.

    >>> scale([1, 2], 3)
    [3, 6]
    """
    return [x * k for x in xs]
''',
)
PLAIN_GO = "package main\n\nfunc Scale(xs []int, k int) []int {\n\tout := []int{}\n\tfor _, x := range xs {\n\t\tout = append(out, x*k)\n\t}\n\treturn out\n}\n"
PLAIN_RUST = "fn scale(xs: Vec<i64>, k: i64) -> Vec<i64> { xs.iter().map(|x| x * k).collect() }"
PLAIN_WRONG_C = "int scale(int *xs, int n, int k) { return k }"


@pytest.fixture(scope="module")
def sandbox():
    return get_sandbox("bwrap")  # missing in CI is a failure (tests/support.py)


def _verdicts(sandbox) -> list[tuple]:
    """One validate-only run from a cold start (no cache): what each candidate got, and the
    test cases it was judged on."""
    validator = Validator(ExecuteConfig(sandbox="bwrap"), sandbox)
    out = validator.check(
        [
            cand(CHURN, "python", CHURN_PY),
            cand(CHURN, "javascript", CHURN_JS),
            cand(CHURN, "python", CHURN_WRONG, 1),
            cand(PLAIN, "go", PLAIN_GO),
            cand(PLAIN, "rust", PLAIN_RUST),
            cand(PLAIN, "c", PLAIN_WRONG_C),
        ]
    )
    tests = validator.source_tests([CHURN, PLAIN])  # remembered from the check: no new run
    return [
        (
            c.translation.target_language,
            c.translation.attempt,
            str(c.verdict.exec_status),
            c.verdict.tests_passed,
            c.verdict.tests_total,
            c.verdict.stderr_tail,
            [(t.args, t.expected) for t in tests[c.pair.pair_id].cases],
        )
        for c in out
    ]


@pytest.mark.slow
def test_verdicts_are_the_same_with_every_core_busy(sandbox):
    idle = _verdicts(sandbox)
    assert [v[2] for v in idle] == [
        "passed",
        "passed",
        "failed",
        "passed",
        "passed",
        "compile_error",
    ]
    assert idle[0][4] > 3  # the doctest plus generated cases, each a few hundred ms of CPU
    # Each burner in its own session: with the scheduler's autogroups (one per session),
    # burners sharing the test's session would only compete with the test itself.
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
        for _ in range(4 * (os.cpu_count() or 1))
    ]
    try:
        time.sleep(0.5)
        assert all(b.poll() is None for b in burners)
        loaded = _verdicts(sandbox)
    finally:
        for b in burners:
            b.kill()
        for b in burners:
            b.wait()
    assert loaded == idle


BLOCKS = pair(
    "blocks",
    '''import time

def blocks(n: int) -> int:
    """n + 1, but waits forever for 5.

    >>> blocks(1)
    2
    """
    if n == 5:
        time.sleep(3600)
    return n + 1
''',
)


def test_a_source_that_blocks_gives_tests_unavailable_never_no_tests(sandbox, tmp_path):
    config = ExecuteConfig(
        sandbox="bwrap",
        cache_dir=str(tmp_path),
        testgen=TestGenConfig(per_case_cpu_s=0.5, per_case_wall_s=1.5, retries=1),
    )
    cache = VerdictCache(tmp_path)
    validator = Validator(config, sandbox, cache)
    code = "def blocks(n):\n    return n + 1\n"
    assert any(
        args == (5,) for args in _generated(BLOCKS, config)
    )  # the generated inputs include 5
    (c,) = validator.check([cand(BLOCKS, "python", code)])
    assert c.verdict.exec_status == ExecStatus.SANDBOX_ERROR
    assert c.verdict.stderr_tail.startswith(
        "tests_unavailable: source validation: a case hit the wall-clock backstop"
    )
    assert rejection_reason(c.verdict) == "tests_unavailable" and not keep(c.verdict, "default")
    assert validator.counts["source_retries"] == 1 and validator.counts["tests_unavailable"] == 1
    assert len(cache) == 0  # neither the source's tests nor a verdict was cached
    (again,) = validator.check([cand(BLOCKS, "python", code)])  # a later batch asks again
    assert validator.counts["tests_unavailable"] == 2 and again.verdict == c.verdict


def _generated(p: SourcePair, config: ExecuteConfig) -> list[tuple]:
    from pipeline.harness.pytypes import signature_of
    from pipeline.testgen import generate_inputs, seed_for

    return generate_inputs(
        signature_of(p.code, p.func_name),
        [(1,)],
        config.testgen.max_generated,
        seed_for(p.pair_id, config.testgen.seed),
    )


SPINS = pair(
    "spins",
    '''def spins(n: int) -> int:
    """n * 3, but spins for 4 (and will not be interrupted).

    >>> spins(2)
    6
    >>> spins(4)
    12
    """
    while n == 4:
        try:
            while True:
                pass
        except BaseException:
            pass
    return n * 3
''',
)


def test_the_per_case_budget_counts_cpu_time_and_survives_a_source_that_swallows_it(
    sandbox, tmp_path
):
    config = ExecuteConfig(
        sandbox="bwrap",
        cache_dir=str(tmp_path),
        testgen=TestGenConfig(per_case_cpu_s=0.3, per_case_wall_s=20.0, max_generated=0),
    )
    validator = Validator(config, sandbox, VerdictCache(tmp_path))
    started = time.monotonic()
    (c,) = validator.check([cand(SPINS, "javascript", "function spins(n) { return n * 3; }")])
    assert time.monotonic() - started < 15  # stopped by the CPU budget, far before the backstop
    # spins(4) used up its budget on the source itself: an invalid test, not a transient run
    assert c.verdict.exec_status == ExecStatus.PASSED and c.verdict.tests_total == 1
    assert "invalid_test: 1 of 2" in c.verdict.stderr_tail
    assert validator.counts.get("source_retries", 0) == 0
    assert len(VerdictCache(tmp_path)) == 2  # the source's tests and the verdict are answers


class LosesFirstRuns:
    """The real sandbox, except that the first ``n`` python runs are lost (``sandbox_error``),
    as when a sandbox dies under a program: an infrastructure failure, not the source's."""

    def __init__(self, inner, n: int):
        self.inner, self.left = inner, n

    def run_batch(self, programs):
        from sandboxes import RunResult, RunStatus

        results = self.inner.run_batch(programs)
        out = []
        for program, res in zip(programs, results, strict=True):
            if program.language == "python" and self.left > 0 and "@@HARNESS" in program.source:
                self.left -= 1
                res = RunResult(
                    RunStatus.SANDBOX_ERROR, None, "", "sandbox: agent lost", 0.0, "run"
                )
            out.append(res)
        return out

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_lost_validation_run_is_retried_and_only_the_answer_is_cached(sandbox, tmp_path):
    config = ExecuteConfig(sandbox="bwrap", cache_dir=str(tmp_path))
    validator = Validator(config, LosesFirstRuns(sandbox, 1), VerdictCache(tmp_path))
    tests = validator.source_tests([PLAIN])[PLAIN.pair_id]
    assert validator.counts["source_retries"] == 1 and tests.unavailable is None
    assert tests.cases and tests.cases[0].args == "([1, 2], 3)"
    assert len(VerdictCache(tmp_path)) == 1
    no_retry = dataclasses.replace(config, cache_dir=None, testgen=TestGenConfig(retries=0))
    never = Validator(no_retry, LosesFirstRuns(sandbox, 1), VerdictCache(None))
    assert never.source_tests([PLAIN])[PLAIN.pair_id].unavailable.startswith(
        "source validation ended in sandbox_error"
    )


def test_a_harness_run_is_limited_by_cpu_time_with_wall_time_only_a_backstop(sandbox):
    """A translation that waits 3 s without computing stays within a 2 s CPU limit (its wall
    backstop is twice that) and passes at the first run, with no timeout retry; one that
    spins is stopped by its CPU limit, not the backstop."""
    waits = "import time\ntime.sleep(3)\n\ndef scale(xs, k):\n    return [x * k for x in xs]\n"
    spins = "def scale(xs, k):\n    while True:\n        pass\n"
    validator = Validator(ExecuteConfig(sandbox="bwrap", timeout_s=2.0), sandbox)
    waited, spun = validator.check([cand(PLAIN, "python", waits), cand(PLAIN, "python", spins, 1)])
    assert str(waited.verdict.exec_status) == "passed", waited.verdict.stderr_tail
    assert str(spun.verdict.exec_status) == "timeout"
    assert validator.counts.get("timeout_retries") == 1, "only the spinning one was run again"
    assert spun.verdict.wall_s < 2 * 2.0 * 3, "ended by the CPU limit, not the wall backstop"
