"""Execution validation on the real sandbox: verdicts users rely on.

Correct and subtly wrong translations (off-by-one, wrong rounding, wrong string handling) in
nine languages must get ``passed`` and ``failed``; a wrong doctest is the source's fault
(``invalid_test``), not the translation's; unrenderable types are reported; verdicts are
cached across runs; Beam transforms keep, reject and pick the best attempt.
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.execute import (
    Execute,
    ExecuteConfig,
    SelectBestAttempt,
    Validator,
    keep,
    rejection_reason,
    select_best,
)
from pipeline.verdict_cache import VerdictCache
from schemas import Candidate, ExecStatus, SourcePair, Translation, Verdict
from tests.support import BACKENDS, get_sandbox


@pytest.fixture(scope="module")
def sandbox():
    """The session's bubblewrap sandbox; missing in CI is a failure (``tests/support.py``)."""
    return get_sandbox("bwrap")


def pair(name: str, code: str, docstring: str = "doc") -> SourcePair:
    return SourcePair.create(
        repository_name="t/repo",
        func_path_in_repository="m.py",
        func_name=name,
        language="python",
        code=code,
        docstring=docstring,
    )


def cand(p: SourcePair, language: str, code: str, attempt: int = 0) -> Candidate:
    return Candidate(
        p,
        Translation(p.pair_id, language, code, "test:hand", attempt=attempt),
        Verdict(p.pair_id, language, attempt, parse_ok=True),
    )


COUNT = pair(
    "count_upto",
    '''def count_upto(n: int) -> int:
    """Sum of the integers 1..n.

    >>> count_upto(3)
    6
    >>> count_upto(1)
    1
    """
    return n * (n + 1) // 2
''',
)
HALF = pair(
    "half",
    '''def half(n: int) -> float:
    """Half of n.

    >>> half(5)
    2.5
    >>> half(4)
    2.0
    """
    return n / 2
''',
)
WRAP = pair(
    "wrap",
    '''def wrap(s: str) -> str:
    """Strip s and put it in brackets.

    >>> wrap("  hi ")
    '[hi]'
    >>> wrap("a b")
    '[a b]'
    """
    return "[" + s.strip() + "]"
''',
)

# (language, pair, correct translation, subtly wrong translation)
TRANSLATIONS = [
    (
        "cpp",
        COUNT,
        "long long count_upto(int n) { long long t = 0; for (int i = 1; i <= n; ++i) t += i; return t; }",
        "long long count_upto(int n) { long long t = 0; for (int i = 1; i < n; ++i) t += i; return t; }",
    ),
    ("cpp", HALF, "double half(int n) { return n / 2.0; }", "double half(int n) { return n / 2; }"),
    (
        "cpp",
        WRAP,
        '#include <string>\nstd::string wrap(const std::string& s) {\n  size_t b = s.find_first_not_of(" \\t\\n");\n'
        '  if (b == std::string::npos) return "[]";\n  size_t e = s.find_last_not_of(" \\t\\n");\n'
        '  return "[" + s.substr(b, e - b + 1) + "]";\n}\n',
        '#include <string>\nstd::string wrap(const std::string& s) { return "[" + s + "]"; }',
    ),
    (
        "java",
        COUNT,
        "public class Solution {\n  public static int countUpto(int n) { int t = 0; for (int i = 1; i <= n; i++) t += i; return t; }\n}",
        "public class Solution {\n  public static int countUpto(int n) { int t = 0; for (int i = 1; i < n; i++) t += i; return t; }\n}",
    ),
    (
        "java",
        HALF,
        "public class Solution {\n  public static double half(int n) { return n / 2.0; }\n}",
        "public class Solution {\n  public static double half(int n) { return n / 2; }\n}",
    ),
    (
        "java",
        WRAP,
        'public class Solution {\n  public static String wrap(String s) { return "[" + s.strip() + "]"; }\n}',
        'public class Solution {\n  public static String wrap(String s) { return "[" + s + "]"; }\n}',
    ),
    (
        "javascript",
        COUNT,
        "function countUpto(n) { let t = 0; for (let i = 1; i <= n; i++) t += i; return t; }",
        "function countUpto(n) { let t = 0; for (let i = 1; i < n; i++) t += i; return t; }",
    ),
    (
        "javascript",
        HALF,
        "function half(n) { return n / 2; }",
        "function half(n) { return Math.floor(n / 2); }",
    ),
    (
        "javascript",
        WRAP,
        'const wrap = (s) => "[" + s.trim() + "]";',
        'const wrap = (s) => "[" + s + "]";',
    ),
    (
        "go",
        COUNT,
        "package main\n\nfunc CountUpto(n int) int {\n\tt := 0\n\tfor i := 1; i <= n; i++ {\n\t\tt += i\n\t}\n\treturn t\n}\n",
        "package main\n\nfunc CountUpto(n int) int {\n\tt := 0\n\tfor i := 1; i < n; i++ {\n\t\tt += i\n\t}\n\treturn t\n}\n",
    ),
    (
        "go",
        HALF,
        "package main\n\nfunc Half(n int) float64 {\n\treturn float64(n) / 2\n}\n",
        "package main\n\nfunc Half(n int) float64 {\n\treturn float64(n / 2)\n}\n",
    ),
    (
        "go",
        WRAP,
        'package main\n\nimport "strings"\n\nfunc Wrap(s string) string {\n\treturn "[" + strings.TrimSpace(s) + "]"\n}\n',
        'package main\n\nfunc Wrap(s string) string {\n\treturn "[" + s + "]"\n}\n',
    ),
    (
        "rust",
        COUNT,
        "fn count_upto(n: i64) -> i64 { (1..=n).sum() }",
        "fn count_upto(n: i64) -> i64 { (1..n).sum() }",
    ),
    (
        "rust",
        HALF,
        "fn half(n: i32) -> f64 { n as f64 / 2.0 }",
        "fn half(n: i32) -> f64 { (n / 2) as f64 }",
    ),
    (
        "rust",
        WRAP,
        'fn wrap(s: &str) -> String { format!("[{}]", s.trim()) }',
        'fn wrap(s: &str) -> String { format!("[{}]", s) }',
    ),
    (
        "python",
        COUNT,
        "def count_upto(n):\n    return sum(range(1, n + 1))\n",
        "def count_upto(n):\n    return sum(range(1, n))\n",
    ),
    ("python", HALF, "def half(n):\n    return n / 2\n", "def half(n):\n    return n // 2\n"),
    (
        "python",
        WRAP,
        'def wrap(s):\n    return "[" + s.strip() + "]"\n',
        'def wrap(s):\n    return "[" + s + "]"\n',
    ),
    (
        "c",
        COUNT,
        "long count_upto(int n) { long t = 0; for (int i = 1; i <= n; i++) t += i; return t; }",
        "long count_upto(int n) { long t = 0; for (int i = 1; i < n; i++) t += i; return t; }",
    ),
    ("c", HALF, "double half(int n) { return n / 2.0; }", "double half(int n) { return n / 2; }"),
    (
        "php",
        COUNT,
        "<?php\nfunction countUpto($n) { $t = 0; for ($i = 1; $i <= $n; $i++) $t += $i; return $t; }",
        "<?php\nfunction countUpto($n) { $t = 0; for ($i = 1; $i < $n; $i++) $t += $i; return $t; }",
    ),
    (
        "php",
        HALF,
        "<?php\nfunction half($n) { return $n / 2; }",
        "<?php\nfunction half($n) { return intdiv($n, 2); }",
    ),
    (
        "php",
        WRAP,
        '<?php\nfunction wrap($s) { return "[" . trim($s) . "]"; }',
        '<?php\nfunction wrap($s) { return "[" . $s . "]"; }',
    ),
    (
        "ruby",
        COUNT,
        "def count_upto(n)\n  (1..n).sum\nend\n",
        "def count_upto(n)\n  (1...n).sum\nend\n",
    ),
    ("ruby", HALF, "def half(n)\n  n / 2.0\nend\n", "def half(n)\n  n / 2\nend\n"),
    (
        "ruby",
        WRAP,
        'def wrap(s)\n  "[" + s.strip + "]"\nend\n',
        'def wrap(s)\n  "[" + s + "]"\nend\n',
    ),
]


@pytest.fixture(
    scope="module",
    params=[pytest.param(b, marks=getattr(pytest.mark, b)) for b in BACKENDS],
)
def checked(request):
    """Every translation above checked once on each backend (one batch, as the pipeline does)."""
    backend = request.param
    validator = Validator(ExecuteConfig(sandbox=backend), get_sandbox(backend))
    cands = []
    for lang, p, good, bad in TRANSLATIONS:
        cands += [cand(p, lang, good, 0), cand(p, lang, bad, 1)]
    out = validator.check(cands)
    return {
        (c.translation.target_language, c.pair.func_name, c.translation.attempt): c.verdict
        for c in out
    }


@pytest.mark.parametrize(
    "lang,p",
    [(t[0], t[1]) for t in TRANSLATIONS],
    ids=[f"{t[0]}-{t[1].func_name}" for t in TRANSLATIONS],
)
def test_correct_translation_passes_and_subtly_wrong_one_fails(checked, lang, p):
    good, bad = checked[(lang, p.func_name, 0)], checked[(lang, p.func_name, 1)]
    assert good.exec_status == ExecStatus.PASSED, good
    assert good.tests_total >= 2 and good.tests_passed == good.tests_total
    assert bad.exec_status == ExecStatus.FAILED, bad
    assert 0 <= bad.tests_passed < bad.tests_total == good.tests_total
    assert "cases not passed" in bad.stderr_tail


def test_generated_cases_extend_the_doctests(checked):
    # two doctests each, plus inputs generated from the int/str hints (source gives expected)
    assert checked[("python", "count_upto", 0)].tests_total > 2
    assert checked[("python", "wrap", 0)].tests_total > 2


def test_program_statuses_are_kept_apart(sandbox):
    validator = Validator(ExecuteConfig(sandbox="bwrap"), sandbox)
    out = validator.check(
        [
            cand(
                COUNT, "cpp", "long long count_upto(int n) { return n * (n + 1) / 2 }"
            ),  # missing ';'
            cand(COUNT, "c", "#include <stdlib.h>\nlong count_upto(int n) { abort(); return 0; }"),
            cand(
                COUNT,
                "rust",
                'fn count_upto(n: i64) -> i64 { if n == 1 { panic!("boom") } (1..=n).sum() }',
            ),
            cand(
                COUNT,
                "go",
                'package main\n\nimport "fmt"\n\nfunc CountUpto(n int) int { return n }\n',
            ),
        ]
    )
    status = {c.translation.target_language: c.verdict for c in out}
    assert status["cpp"].exec_status == ExecStatus.COMPILE_ERROR
    assert (
        "error" in status["cpp"].stderr_tail.splitlines()[0]
    )  # the compiler's first error, not its tail
    assert status["c"].exec_status == ExecStatus.RUNTIME_ERROR and status["c"].tests_passed == 0
    # a panic inside one case fails that case only; the others still run
    assert (
        status["rust"].exec_status == ExecStatus.FAILED and "1:error" in status["rust"].stderr_tail
    )
    assert status["rust"].tests_passed == status["rust"].tests_total - 1
    assert (
        status["go"].exec_status == ExecStatus.COMPILE_ERROR
    )  # unused import is Go's compile error


def test_wrong_doctest_is_invalid_test_not_a_failed_translation(sandbox):
    wrong = pair(
        "double",
        '''def double(x: int) -> int:
    """Twice x.

    >>> double(2)
    4
    >>> double(3)
    7
    """
    return 2 * x
''',
    )
    validator = Validator(ExecuteConfig(sandbox="bwrap"), sandbox)
    (c,) = validator.check([cand(wrong, "javascript", "function double(x) { return 2 * x; }")])
    assert c.verdict.exec_status == ExecStatus.PASSED
    assert "invalid_test: 1 of 2 source cases fail on the source itself" in c.verdict.stderr_tail
    assert validator.counts["invalid_test"] == 1


def test_unrenderable_types_are_reported_and_the_unit_still_compiled(sandbox):
    p = pair(
        "total",
        '''from typing import Dict

def total(d: Dict[str, int]) -> int:
    """Sum of the values.

    >>> total({"a": 1, "b": 2})
    3
    """
    return sum(d.values())
''',
    )
    validator = Validator(ExecuteConfig(sandbox="bwrap"), sandbox)
    (c,) = validator.check(
        [
            cand(
                p,
                "c",
                "int total(const int *values, int n) { int t = 0; for (int i = 0; i < n; i++) t += values[i]; return t; }",
            )
        ]
    )
    assert c.verdict.exec_status == ExecStatus.NO_TESTS
    assert c.verdict.stderr_tail.startswith("unrenderable: dict in c")
    assert c.verdict.tests_total == 0


def test_pairs_without_tests_are_compiled_as_library_units(sandbox):
    go_src = SourcePair.create(
        repository_name="t/r",
        func_path_in_repository="a.go",
        func_name="Add",
        language="go",
        code="func Add(a, b int) int { return a + b }",
        docstring="add",
    )
    validator = Validator(ExecuteConfig(sandbox="bwrap"), sandbox)
    out = validator.check(
        [
            cand(go_src, "rust", "pub fn add(a: i64, b: i64) -> i64 { a + b }"),
            cand(
                go_src,
                "java",
                "public class A { public static int add(int a, int b) { return a + b }",
            ),
        ]
    )
    assert [c.verdict.exec_status for c in out] == [ExecStatus.NO_TESTS, ExecStatus.COMPILE_ERROR]


class CountingSandbox:
    """Wraps the real sandbox and counts programs it was asked to run."""

    def __init__(self, inner):
        self.inner, self.programs = inner, 0

    def run_batch(self, programs):
        self.programs += len(programs)
        return self.inner.run_batch(programs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_rerun_reuses_cached_verdicts(sandbox, tmp_path):
    cands = [
        cand(COUNT, "python", TRANSLATIONS[15][2]),
        cand(HALF, "javascript", TRANSLATIONS[7][3]),
    ]
    first_box = CountingSandbox(sandbox)
    first = Validator(
        ExecuteConfig(sandbox="bwrap", cache_dir=str(tmp_path)), first_box, VerdictCache(tmp_path)
    )
    v1 = [c.verdict for c in first.check(cands)]
    assert first_box.programs == 4  # two source validations + two harnesses
    again_box = CountingSandbox(sandbox)
    again = Validator(
        ExecuteConfig(sandbox="bwrap", cache_dir=str(tmp_path)), again_box, VerdictCache(tmp_path)
    )
    v2 = [c.verdict for c in again.check(cands)]
    assert again_box.programs == 0 and again.counts["cache_hits"] == 2
    assert v1 == v2 and [v.exec_status for v in v2] == [ExecStatus.PASSED, ExecStatus.FAILED]


def test_a_verdict_cached_under_another_harness_protocol_is_not_reused(sandbox, tmp_path):
    """The cache key carries the protocol version: a verdict the previous protocol cached
    (one a forger could have earned) is never read back, while the current key is."""
    from pipeline.execute import PROTOCOL

    wrong = cand(COUNT, "python", TRANSLATIONS[15][3])
    validator = Validator(
        ExecuteConfig(sandbox="bwrap", cache_dir=str(tmp_path)), sandbox, VerdictCache(tmp_path)
    )
    tests = validator.source_tests([COUNT])[COUNT.pair_id]
    plan = validator.plan(wrong, tests)
    old_key, key = (
        validator.verdict_key(plan, tests, protocol="harness-protocol/1"),
        validator.verdict_key(plan, tests),
    )
    assert PROTOCOL == "harness-protocol/2" and old_key != key
    forged = {
        "exec_status": "passed",
        "tests_passed": 7,
        "tests_total": 7,
        "stderr_tail": None,
        "wall_s": 0.01,
    }
    VerdictCache(tmp_path).put(old_key, forged)
    (c,) = validator.check([wrong])
    assert c.verdict.exec_status == ExecStatus.FAILED and validator.counts.get("cache_hits", 0) == 0
    fresh = VerdictCache(tmp_path / "current")
    fresh.put(key, forged)  # the control: under the current key the cache is read
    (again,) = Validator(validator.config, sandbox, fresh).check([wrong])
    assert again.verdict.exec_status == ExecStatus.PASSED and again.verdict.tests_total == 7


def test_unknown_target_language_is_reported_not_crashed_on(sandbox):
    (c,) = Validator(ExecuteConfig(sandbox="bwrap"), sandbox).check(
        [cand(COUNT, "cobol", "IDENTIFICATION DIVISION.")]
    )
    assert c.verdict.exec_status == ExecStatus.SANDBOX_ERROR
    assert c.verdict.stderr_tail.startswith("toolchain_unavailable: no test harness for 'cobol'")
    assert rejection_reason(c.verdict) == "toolchain_unavailable"


def test_no_sandbox_keeps_rows_as_not_run():
    validator = Validator(ExecuteConfig(sandbox="none"), None)
    (c,) = validator.check(
        [cand(COUNT, "go", "package main\nfunc CountUpto(n int) int { return n }")]
    )
    assert (
        c.verdict.exec_status == ExecStatus.NOT_RUN and "sandbox disabled" in c.verdict.stderr_tail
    )
    assert keep(c.verdict, "passed")


def _v(status: str, total: int = 0) -> Verdict:
    return Verdict("p", "go", exec_status=ExecStatus(status), tests_total=total)


def test_require_policy():
    assert keep(_v("passed", 3), "default") and not keep(_v("failed", 3), "default")
    assert keep(_v("no_tests"), "default") and not keep(_v("compile_error"), "default")
    assert keep(_v("failed", 3), "compiled") and not keep(_v("runtime_error", 3), "compiled")
    assert not keep(_v("no_tests"), "passed") and keep(_v("compile_error"), "parsed")
    with pytest.raises(ValueError, match="valid: default, passed, compiled, parsed"):
        ExecuteConfig(require="tested")


def test_select_best_prefers_the_first_passing_attempt():
    def c(attempt, status):
        x = cand(COUNT, "go", f"// {attempt}", attempt)
        return dataclasses.replace(
            x, verdict=dataclasses.replace(x.verdict, exec_status=ExecStatus(status))
        )

    best, others = select_best([c(2, "passed"), c(0, "failed"), c(1, "passed"), c(3, "no_tests")])
    assert best.translation.attempt == 1 and sorted(o.translation.attempt for o in others) == [
        0,
        2,
        3,
    ]
    best, _ = select_best([c(1, "compile_error"), c(2, "failed"), c(0, "timeout")])
    assert best.translation.attempt == 2
    with pytest.raises(ValueError):
        select_best([])


def test_execute_and_select_best_attempt_transforms(tmp_path):
    get_sandbox("bwrap")  # the transform opens its own; this one says why when bwrap is missing
    attempts = [
        cand(COUNT, "python", TRANSLATIONS[15][3], 0),  # wrong: rejected by Execute (failed)
        cand(COUNT, "python", TRANSLATIONS[15][2], 1),  # first passing attempt: kept
        cand(
            COUNT, "python", "def count_upto(n):\n    return n * (n + 1) // 2\n", 2
        ),  # passes, not kept
        cand(HALF, "python", "def half(n) return n", 0),  # compile (syntax) error
    ]
    config = ExecuteConfig(sandbox="bwrap", cache_dir=str(tmp_path))
    with test_pipeline.TestPipeline() as p:
        executed = p | beam.Create(attempts) | Execute(config)
        best = executed["candidates"] | SelectBestAttempt()
        assert_that(
            best["candidates"]
            | "Kept"
            >> beam.Map(
                lambda c: (c.pair.func_name, c.translation.attempt, str(c.verdict.exec_status))
            ),
            equal_to([("count_upto", 1, "passed")]),
            label="CheckKept",
        )
        assert_that(
            executed["rejected"]
            | "Why" >> beam.Map(lambda r: (r.func_name, r.attempt, r.stage, r.reason)),
            equal_to(
                [("count_upto", 0, "execute", "failed"), ("half", 0, "execute", "runtime_error")]
            ),
            label="CheckRejected",
        )
        assert_that(
            best["rejected"] | "NotBest" >> beam.Map(lambda r: (r.attempt, r.stage, r.reason)),
            equal_to([(2, "select", "not_best_attempt")]),
            label="CheckNotBest",
        )
