"""The tree-sitter parse check in every language of the registry, and the ``ParseCheck`` stage."""

from __future__ import annotations

import json

import apache_beam as beam
import pytest

from pipeline.parse_check import GRAMMARS, ParseCheck, ParseChecker
from pipeline.stats import beam_metrics
from schemas import Candidate, SourcePair, Translation

VALID = {
    "python": "def add(a: int, b: int) -> int:\n    return a + b\n",
    "javascript": "function add(a, b) {\n  return a + b;\n}\n",
    "java": "public static int add(int a, int b) {\n    return a + b;\n}\n",
    "cpp": "#include <vector>\nint add(const std::vector<int>& xs) {\n    int s = 0;\n    for (int x : xs) s += x;\n    return s;\n}\n",
    "c": "#include <stdio.h>\nint add(int a, int b) {\n    return a + b;\n}\n",
    "go": 'import "fmt"\n\nfunc Add(a int, b int) int {\n\tfmt.Println(a)\n\treturn a + b\n}\n',
    "rust": "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
    "php": "<?php\nfunction add($a, $b) {\n    return $a + $b;\n}\n",
    "ruby": "def add(a, b)\n  a + b\nend\n",
    "typescript": "function add<T extends number>(a: T, b: number): number {\n  return a + b;\n}\n",
}

# Each has its first error on line 2.
INVALID = {
    "python": "def add(a, b):\n    return a +\n",
    "javascript": "function add(a, b) {\n  return a + ;\n}\n",
    "java": "public static int add(int a, int b) {\n    return a + b\n}\n",
    "cpp": "int add(int a, int b) {\n    return a + b\n}\n",
    "c": "int add(int a, int b) {\n    return (a + b;\n}\n",
    "go": "func Add(a int, b int) int {\n\treturn s[..]\n}\n",
    "rust": "pub fn add(a: i32, b: i32) -> i32 {\n    let x = ;\n    x\n}\n",
    "php": "function add($a, $b) {\n    return $a + ;\n}\n",
    "ruby": "def add(a, b)\n  a + (b\nend\n",
    "typescript": "function add(a: number, b: number): number {\n  return a + ;\n}\n",
}


@pytest.fixture(scope="module")
def checker() -> ParseChecker:
    return ParseChecker()


def test_every_language_has_grammars():
    assert set(GRAMMARS) == set(VALID) == set(INVALID)


@pytest.mark.parametrize("language", sorted(VALID))
def test_valid_code_parses(checker, language):
    assert checker.check(language, VALID[language]) == (True, None)


@pytest.mark.parametrize("language", sorted(INVALID))
def test_invalid_code_names_line_col_and_snippet(checker, language):
    ok, error = checker.check(language, INVALID[language])
    assert not ok
    line, col, rest = error.split(":", 2)
    assert int(line) == 2 and int(col) >= 1, error
    second_line = INVALID[language].splitlines()[1].strip()
    assert repr(second_line[:60]) in rest, error


def test_methods_outside_a_class_parse(checker):
    assert checker.check("java", "public int size() {\n    return this.n;\n}\n") == (True, None)
    assert checker.check("php", "public function size() {\n    return $this->n;\n}\n") == (
        True,
        None,
    )
    assert checker.check("javascript", "async get size () {\n  return this.n\n}\n") == (True, None)
    assert checker.check("javascript", "foo(a, b);\nbar()\n") == (True, None)  # calls, not a method
    ok, error = checker.check("javascript", "size(a) {\n  return a +;\n}\n")
    assert not ok and error.startswith("2:"), error  # reported in the method's own coordinates


def test_php_without_open_tag_is_really_checked(checker):
    # Without the tag the grammar reads everything as inline HTML and would accept garbage.
    ok, error = checker.check("php", "function f( {\n")
    assert not ok and error.startswith("1:")


def test_empty_code_and_unknown_language(checker):
    assert checker.check("go", "  \n") == (False, "1:1: empty code")
    with pytest.raises(ValueError, match="cobol"):
        checker.check("cobol", "x")


def _candidate(language: str, code: str, i: int) -> Candidate:
    pair = SourcePair.create(
        repository_name="o/r",
        func_path_in_repository="m.py",
        func_name=f"f{i}",
        language="python",
        code=f"def f{i}():\n    pass\n",
        docstring="d",
    )
    return Candidate(
        pair,
        Translation(
            pair_id=pair.pair_id, target_language=language, code=code, translator="test:none"
        ),
    )


def test_parse_check_stage_routes_and_counts(tmp_path):
    items = [_candidate(lang, VALID[lang], i) for i, lang in enumerate(sorted(VALID))]
    items += [_candidate(lang, INVALID[lang], 100 + i) for i, lang in enumerate(sorted(INVALID))]
    p = beam.Pipeline(runner="DirectRunner")
    out = p | beam.Create(items) | ParseCheck()
    (
        out["candidates"]
        | "C" >> beam.Map(lambda c: json.dumps(c.verdict.to_row()))
        | "WC" >> beam.io.WriteToText(str(tmp_path / "ok"))
    )
    (
        out["rejected"]
        | "R" >> beam.Map(lambda r: json.dumps(r.to_row()))
        | "WR" >> beam.io.WriteToText(str(tmp_path / "bad"))
    )
    result = p.run()
    result.wait_until_finish()

    def read(prefix: str) -> list:
        return [
            json.loads(x) for f in tmp_path.glob(prefix + "*") for x in f.read_text().splitlines()
        ]

    ok, bad = read("ok"), read("bad")
    n = len(VALID)
    assert len(ok) == n and all(v["parse_ok"] and v["exec_status"] == "not_run" for v in ok)
    assert (
        len(bad) == n
        and {r["stage"] for r in bad} == {"parse"}
        and {r["reason"] for r in bad} == {"parse_error"}
    )
    assert all(r["detail"].startswith("2:") and r["translated_code"] for r in bad)
    counters = beam_metrics(result)["counters"]
    assert counters["parse/total"] == 2 * n and counters["parse/kept"] == n
    assert counters["parse/dropped_parse_error"] == n
