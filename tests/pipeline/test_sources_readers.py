"""Each source kind read for real: the bundled sample, HumanEval, CSN JSONL, parquet,
SynthCoNL (JSONL and our release parquet), a local repository and a Hub-style dataset."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.sources import SourceStats, read_source, resolve_spec
from pipeline.sources.rows import detect_shape
from schemas import (
    RELEASE_SCHEMA,
    SOURCE_PAIR_SCHEMA,
    Candidate,
    RejectedRow,
    ReleaseRow,
    SourcePair,
    TestCase,
)

INC = 'def inc(x: int) -> int:\n    """Add one to x.\n\n    >>> inc(1)\n    2\n    >>> inc(-1)\n    0\n    """\n    return x + 1\n'


def csn_row(**over) -> dict:
    row = {
        "repo": "acme/tools",
        "path": "tools/num.py",
        "func_name": "inc",
        "original_string": INC,
        "language": "python",
        "code": INC,
        "code_tokens": [],
        "docstring": "Add one to x.",
        "docstring_tokens": [],
        "sha": "a" * 40,
        "url": "https://github.com/acme/tools/blob/x/tools/num.py#L1-L9",
        "partition": "train",
    }
    row.update(over)
    return row


def write_jsonl(path: Path, rows: list, gz: bool = False) -> Path:
    data = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def read(spec: str) -> tuple[list, SourceStats]:
    stats = SourceStats()
    return list(read_source(spec, stats=stats)), stats


def test_sample_reads_every_row_as_a_pair_with_doctest_tests():
    records, stats = read("sample")
    assert len(records) >= 64 and all(isinstance(r, SourcePair) for r in records)
    assert stats.total == stats.kept == len(records)
    python = [r for r in records if r.language == "python"]
    assert len(python) >= 48 and all(r.tests for r in python)
    assert {r.language for r in records} == {"python", "java", "javascript", "go"}
    assert stats.tests_extracted == sum(len(r.tests) for r in records)
    gcd = next(r for r in records if r.func_name == "gcd")
    assert TestCase("(12, 18)", "6", "doctest") in gcd.tests
    assert (
        gcd.license == "mit"
        and gcd.partition == "train"
        and gcd.url.startswith("https://github.com/")
    )


def test_humaneval_yields_164_pairs_most_with_tests():
    records, stats = read("humaneval")
    assert len(records) == 164 and all(isinstance(r, SourcePair) for r in records)
    assert sum(bool(r.tests) for r in records) >= 140
    assert stats.tests_skipped > 0 and stats.tests_extracted == sum(len(r.tests) for r in records)
    first = records[0]
    assert (
        first.func_path_in_repository == "HumanEval/0" and first.func_name == "has_close_elements"
    )
    assert first.repository_name == "openai/human-eval" and first.license == "mit"
    assert "def has_close_elements" in first.code and "for idx, elem" in first.code
    assert (
        first.docstring.startswith("Check if in given list of numbers")
        and ">>>" not in first.docstring
    )
    assert TestCase("([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3)", "True", "humaneval") in first.tests
    assert all(r.docstring for r in records)


def test_humaneval_assert_forms():
    from pipeline.sources.humaneval import check_cases

    test = """
def check(candidate):
    assert candidate(1, [2]) == 3
    assert "x" == candidate("a")
    assert candidate(0) is True
    assert abs(candidate(2.0) - 1.5) < 1e-6
    assert candidate(5)
    assert not candidate(6)
    assert candidate(1, k=2) == 3
    assert candidate(x) == 1
    for i in range(3):
        assert candidate(i) == i
    assert True, "not a test"
"""
    cases, skipped = check_cases(test, returns_bool=True)
    assert [(c.args, c.expected) for c in cases] == [
        ("(1, [2])", "3"),
        ("('a',)", "'x'"),
        ("(0,)", "True"),
        ("(2.0,)", "1.5"),
        ("(5,)", "True"),
        ("(6,)", "False"),
    ]
    assert skipped == 3  # keyword argument, non-literal argument, the assert inside a loop
    cases, skipped = check_cases(test, returns_bool=False)
    assert len(cases) == 4 and skipped == 5


def test_csn_file_glob_and_directory(tmp_path):
    d = tmp_path / "csn" / "python" / "final" / "jsonl" / "train"
    d.mkdir(parents=True)
    write_jsonl(
        d / "python_train_0.jsonl.gz",
        [csn_row(), csn_row(func_name="inc2", code=INC.replace("inc", "inc2"))],
        gz=True,
    )
    write_jsonl(d / "python_train_1.jsonl", [csn_row(path="tools/other.py")])
    (d / "README.txt").write_text("not data")
    for spec in (
        f"csn:{d / 'python_train_0.jsonl.gz'}",
        f"csn:{d}/*.jsonl*",
        f"csn:{tmp_path / 'csn'}",
    ):
        records, stats = read(spec)
        assert all(isinstance(r, SourcePair) for r in records)
        assert stats.dropped == {}
    assert len(records) == 3 and len(resolve_spec(f"csn:{tmp_path / 'csn'}")) == 2
    pair = records[0]
    assert pair.repository_name == "acme/tools" and pair.func_path_in_repository == "tools/num.py"
    assert pair.language == "python" and pair.code == INC and pair.docstring == "Add one to x."
    assert pair.sha == "a" * 40 and pair.partition == "train" and pair.license is None
    assert pair.tests == (TestCase("(1,)", "2"), TestCase("(-1,)", "0"))


def test_csn_falls_back_to_original_string_and_normalises_language(tmp_path):
    path = write_jsonl(
        tmp_path / "x.jsonl",
        [
            csn_row(code="", original_string=INC, language="Python"),
            csn_row(
                func_name="add",
                language="JavaScript",
                code="function add(a, b) {\n  return a + b;\n}\n",
                docstring="Add two numbers.",
            ),
        ],
    )
    records, _ = read(f"csn:{path}")
    assert [r.language for r in records] == ["python", "javascript"]
    assert records[0].code == INC and records[1].tests == ()


def test_parquet_with_source_pair_columns_keeps_ids_and_tests(tmp_path):
    pair = SourcePair.create(
        repository_name="o/r",
        func_path_in_repository="a.py",
        func_name="f",
        language="python",
        code="def f():\n    return 1\n",
        docstring="One.",
        tests=[TestCase("()", "1", "generated")],
    )
    path = tmp_path / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist([pair.to_row()], schema=SOURCE_PAIR_SCHEMA), path)
    records, _ = read(f"parquet:{path}")
    assert records == [pair]


def test_parquet_with_csn_columns(tmp_path):
    path = tmp_path / "csn.parquet"
    pq.write_table(pa.Table.from_pylist([csn_row()]), path)
    (record,), _ = read(f"parquet:{path}")
    assert isinstance(record, SourcePair) and record.func_name == "inc" and len(record.tests) == 2


def release_table(tmp_path: Path) -> Path:
    rows = []
    for target, code in (
        ("go", "func inc(x int) int {\n\treturn x + 1\n}\n"),
        ("rust", "fn inc(x: i64) -> i64 {\n    x + 1\n}\n"),
    ):
        rows.append(
            ReleaseRow(
                repository_name="acme/tools",
                func_path_in_repository="tools/num.py",
                language2=target,
                func2=code,
                language1_CSN="python",
                func1_CSN=INC,
                func_documentation_string="Add one to x.",
                func_code_url="https://github.com/acme/tools/blob/x/tools/num.py#L1-L9",
                pair_id="0123456789abcdef",
                license="mit",
                translator="py2many:0.9",
                prompt_version="none",
                attempt=0,
                parse_ok=True,
                exec_status="passed",
                tests_passed=2,
                tests_total=2,
                dedup_cluster=None,
                split="train",
            ).to_row()
        )
    path = tmp_path / "train-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=RELEASE_SCHEMA), path)
    return path


def test_parquet_with_release_rows_gives_each_source_pair_once(tmp_path):
    path = release_table(tmp_path)
    records, stats = read(f"parquet:{path}")
    pairs = [r for r in records if isinstance(r, SourcePair)]
    assert (
        len(pairs) == 1 and pairs[0].pair_id == "0123456789abcdef" and pairs[0].func_name == "inc"
    )
    assert [r.reason for r in records if isinstance(r, RejectedRow)] == ["duplicate_pair"]
    assert stats.total == 2


def test_synthconl_reads_our_release_parquet_as_candidates(tmp_path):
    path = release_table(tmp_path)
    records, stats = read(f"synthconl:{path}")
    assert len(records) == 2 and all(isinstance(r, Candidate) for r in records)
    c = records[0]
    assert (
        c.pair.pair_id == "0123456789abcdef" and c.pair.language == "python" and c.pair.code == INC
    )
    assert c.pair.tests == (TestCase("(1,)", "2"), TestCase("(-1,)", "0"))
    assert c.translation.pair_id == c.pair.pair_id
    assert {r.translation.target_language for r in records} == {"go", "rust"}
    assert c.translation.translator == "py2many:0.9"
    assert stats.kept == 2


def test_synthconl_jsonl_with_the_eight_columns(tmp_path):
    java = "public static int inc(int x) {\n    return x + 1;\n}\n"
    row = {
        "repository_name": "acme/tools",
        "func_path_in_repository": "src/Num.java",
        "language2": "C++",
        "func2": "int inc(int x) {\n    return x + 1;\n}\n",
        "language1_CSN": "Java",
        "func1_CSN": java,
        "func_documentation_string": "Adds one.",
        "func_code_url": "https://github.com/acme/tools/blob/x/src/Num.java",
    }
    path = write_jsonl(
        tmp_path / "synthconl.jsonl",
        [
            row,
            {**row, "language2": "JavaScript", "func2": "function inc(x) {\n  return x + 1;\n}\n"},
        ],
    )
    records, _ = read(f"synthconl:{path}")
    assert all(isinstance(r, Candidate) for r in records)
    first = records[0]
    assert (
        first.pair.language == "java" and first.pair.func_name == "inc" and first.pair.tests == ()
    )
    assert [r.translation.target_language for r in records] == ["cpp", "javascript"]
    assert all(r.translation.translator == "synthconl" for r in records)
    assert records[0].pair.pair_id == records[1].pair.pair_id  # same source, two translations


def test_synthconl_parquet_without_the_columns_is_refused(tmp_path):
    from pipeline.sources import SourceError

    path = tmp_path / "csn.parquet"
    pq.write_table(pa.Table.from_pylist([csn_row()]), path)
    with pytest.raises(SourceError, match="not a synthconl table"):
        resolve_spec(f"synthconl:{path}")


def make_repo(root: Path) -> Path:
    (root / ".git" / "refs" / "heads").mkdir(parents=True)
    (root / ".git" / "config").write_text(
        '[core]\n\tbare = false\n[remote "origin"]\n\turl = https://github.com/acme/widgets.git\n'
    )
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / ".git" / "refs" / "heads" / "main").write_text("f" * 40 + "\n")
    (root / "LICENSE").write_text(
        "Apache License\nVersion 2.0, January 2004\nhttp://www.apache.org/licenses/\n"
    )
    pkg = root / "widgets"
    pkg.mkdir()
    (pkg / "core.py").write_text('''
class Widget:
    def __init__(self, size):
        """Create a widget of the given size."""
        self.size = size
        self.parts = []

    def __repr__(self):
        """Readable form of the widget for debugging."""
        text = f"Widget({self.size})"
        return text

    def area(self, other: int) -> int:
        """Compute the area of the widget times other.

        More detail in a second paragraph.

        >>> Widget(2).area(3)
        6
        """
        result = self.size * other
        return result


def scale(x: int, k: int) -> int:
    """Scale x by the factor k.

    >>> scale(2, 3)
    6
    """
    y = x * k
    return y


def tiny(x):
    """Return x unchanged always."""
    return x


def undocumented(x):
    y = x + 1
    z = y * 2
    return z


def test_scale_is_right():
    """Check that scale multiplies numbers."""
    assert scale(2, 3) == 6
    assert scale(0, 3) == 0
    return None


def short_doc(x):
    """Doubles."""
    y = x * 2
    return y
''')
    (pkg / "Util.java").write_text("""package widgets;

public class Util {
    /**
     * Clamps the value into the range given here.
     *
     * @param v the value
     */
    public static int clamp(int v, int lo, int hi) {
        if (v < lo) return lo;
        if (v > hi) return hi;
        return v;
    }

    /** Renders this utility as a readable string. */
    public String toString() {
        String s = "util";
        return s;
    }
}
""")
    (pkg / "geo.go").write_text("""package widgets

// Abs returns the absolute value of the integer.
// It never fails.
func Abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
""")
    (pkg / "fmt.js").write_text("""/**
 * Join the words given with single spaces.
 */
export function joinWords(words) {
  let out = "";
  for (const w of words) out += (out ? " " : "") + w;
  return out;
}
""")
    (pkg / "hello.php").write_text("""<?php
/**
 * Greets the person with the given name politely.
 */
function greet($name) {
    $msg = "Hello " . $name;
    return $msg;
}
""")
    (pkg / "names.rb").write_text("""class Names
  # Returns the initials of the full name given.
  def initials(name)
    parts = name.split
    parts.map { |p| p[0] }.join
  end
end
""")
    (root / "tests").mkdir()
    (root / "tests" / "helpers.py").write_text(
        'def helper(x):\n    """A helper used by the tests only."""\n    y = x\n    return y\n'
    )
    (root / "node_modules" / "dep").mkdir(parents=True)
    (root / "node_modules" / "dep" / "index.js").write_text(
        "/** Dependency code here. */\nfunction dep() {\n  return 1;\n}\n"
    )
    return root


def test_repo_extracts_documented_functions_with_csn_filters(tmp_path):
    root = make_repo(tmp_path / "checkout")
    records, stats = read(f"repo:{root}")
    assert all(isinstance(r, SourcePair) for r in records)
    by_name = {r.func_name: r for r in records}
    assert set(by_name) == {
        "Widget.area",
        "scale",
        "Util.clamp",
        "Abs",
        "joinWords",
        "greet",
        "Names.initials",
    }
    area = by_name["Widget.area"]
    assert (
        area.repository_name == "acme/widgets"
        and area.sha == "f" * 40
        and area.license == "apache-2.0"
    )
    assert (
        area.url == f"https://github.com/acme/widgets/blob/{'f' * 40}/widgets/core.py#L13-L22"
    )  # CSN's form
    assert area.func_path_in_repository == "widgets/core.py"
    assert area.docstring == "Compute the area of the widget times other."  # first paragraph only
    assert area.code.startswith("def area(self, other: int) -> int:")
    assert by_name["scale"].tests == (TestCase("(2, 3)", "6"),)
    assert by_name["Util.clamp"].docstring == "Clamps the value into the range given here."
    assert (
        by_name["Abs"].docstring == "Abs returns the absolute value of the integer. It never fails."
    )
    assert by_name["joinWords"].code.startswith("function joinWords(words) {")
    assert {r.language for r in records} == {"python", "java", "go", "javascript", "php", "ruby"}
    assert stats.filtered["constructor"] == 1 and stats.filtered["extension_method"] == 2
    assert stats.filtered["short_code"] == 1 and stats.filtered["short_docstring"] == 1
    assert stats.filtered["test_function"] == 1 and stats.files["skipped_test_file"] == 1
    assert stats.filtered["no_docstring"] == 1


def test_repo_without_git_is_named_after_its_directory(tmp_path):
    root = tmp_path / "plain-project"
    root.mkdir()
    (root / "m.py").write_text(
        'def f(x):\n    """Return twice the value of x."""\n    y = 2 * x\n    return y\n'
    )
    (record,), _ = read(f"repo:{root}")
    assert (
        record.repository_name == "plain-project" and record.sha is None and record.license is None
    )


def test_hub_dataset_through_load_dataset_on_a_local_parquet_dir(tmp_path, monkeypatch):
    """``hf:`` runs the real ``datasets.load_dataset`` code path, pointed at local files."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "my_dataset" / "data"
    data.mkdir(parents=True)
    hub_row = {
        "repository_name": "acme/tools",
        "func_path_in_repository": "tools/num.py",
        "func_name": "inc",
        "whole_func_string": INC,
        "language": "python",
        "func_code_string": INC,
        "func_documentation_string": "Add one to x.",
        "split_name": "test",
        "func_code_url": "https://github.com/acme/tools/blob/x/tools/num.py#L1-L9",
    }
    pq.write_table(
        pa.Table.from_pylist([hub_row, {**hub_row, "func_name": "inc2"}]),
        data / "test-00000.parquet",
    )
    records, stats = read(f"hf:{tmp_path / 'my_dataset'}:test")
    assert [r.func_name for r in records] == ["inc", "inc2"]
    assert (
        records[0].partition == "test"
        and records[0].url.endswith("#L1-L9")
        and len(records[0].tests) == 2
    )
    assert stats.kept == 2


def test_shape_detection():
    assert detect_shape(csn_row()) == "csn"
    assert detect_shape(SOURCE_PAIR_SCHEMA.names) == "source_pair"
    assert detect_shape(RELEASE_SCHEMA.names) == "synthconl"
    assert detect_shape(["a", "b"]) is None


@pytest.mark.parametrize(
    ("text", "license_id"),
    [
        ("MIT License\n\nPermission is hereby granted, free of charge, to any person", "mit"),
        (
            "Redistribution and use in source and binary forms, with or without\nmodification ... Neither the name",
            "bsd-3-clause",
        ),
        ("GNU GENERAL PUBLIC LICENSE\n   Version 3, 29 June 2007", "gpl-3.0"),
        ("All rights reserved. Do not copy.", None),
    ],
)
def test_license_files_are_recognised(tmp_path, text, license_id):
    from pipeline.sources.licenses import detect_license

    (tmp_path / "LICENSE.txt").write_text(text)
    assert detect_license(tmp_path) == license_id


def test_language_names_and_first_paragraph():
    from pipeline.sources import first_paragraph, normalize_language

    assert [
        normalize_language(x)
        for x in ("Python", "JavaScript", "js", "C++", "cpp", "Go", "golang", "PHP")
    ] == ["python", "javascript", "javascript", "cpp", "cpp", "go", "go", "php"]
    assert normalize_language("cobol") is None and normalize_language(None) is None
    assert first_paragraph("  Sum two\n  numbers.\n\n  Details.\n") == "Sum two numbers."
    assert first_paragraph("Sum.\n>>> f(1)\n1\n") == "Sum."
    assert first_paragraph("Clamp a value.\n@param v the value\n") == "Clamp a value."
