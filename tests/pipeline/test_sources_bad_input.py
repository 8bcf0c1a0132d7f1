"""Bad input never crashes and is never dropped silently: every bad row becomes a rejected
row (stage ``source``) with its reason and ``file:line``; an unreadable source is a
``SourceError`` with a one-line message."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.sources import SourceConfig, SourceError, SourceStats, read_source, resolve_spec
from schemas import Candidate, RejectedRow, SourcePair

INC = (
    'def inc(x: int) -> int:\n    """Add one.\n\n    >>> inc(1)\n    2\n    """\n    return x + 1\n'
)
GOOD = {
    "repo": "o/r",
    "path": "a.py",
    "func_name": "inc",
    "language": "python",
    "code": INC,
    "original_string": INC,
    "docstring": "Add one.",
    "sha": "0" * 40,
    "url": "u",
    "partition": "train",
}


def read(spec: str, config: SourceConfig | None = None) -> tuple[list, SourceStats]:
    stats = SourceStats()
    return list(read_source(spec, config, stats)), stats


def write_lines(path: Path, lines: list[bytes], gz: bool = False) -> Path:
    data = b"".join(line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def line(row: dict) -> bytes:
    return json.dumps(row).encode()


@pytest.mark.parametrize("gz", [False, True])
def test_each_bad_row_gets_its_reason_and_location(tmp_path, gz):
    missing = {k: v for k, v in GOOD.items() if k != "func_name"}
    lines = [
        line(GOOD),  # 1 kept
        b'{"repo": "o/r", "path": ',  # 2 malformed_json
        b"\xff\xfe broken utf8 \x80",  # 3 invalid_utf8
        line(
            {**GOOD, "func_name": "empty", "code": "   \n", "original_string": ""}
        ),  # 4 empty_code
        line(
            {**GOOD, "func_name": "big", "code": "def big():\n" + "    x = 1\n" * 120_000}
        ),  # 5 too_large
        line({**GOOD, "func_name": "cob", "language": "cobol"}),  # 6 unknown_language
        line(missing),  # 7 missing_field
        b"",  # 8 blank: not a row
        b"[1, 2, 3]",  # 9 malformed_json (not an object)
        line({**GOOD, "func_name": "nodoc", "docstring": " "}),  # 10 empty_docstring
        line({**GOOD, "func_name": "numeric", "language": 3}),  # 11 missing_field (not a string)
    ]
    path = write_lines(tmp_path / ("csn.jsonl.gz" if gz else "csn.jsonl"), lines, gz=gz)
    records, stats = read(f"csn:{path}")
    assert isinstance(records[0], SourcePair)
    rejected = records[1:]
    assert all(isinstance(r, RejectedRow) and r.stage == "source" for r in rejected)
    assert [(r.reason, r.detail.split(":")[1]) for r in rejected] == [
        ("malformed_json", "2"),
        ("invalid_utf8", "3"),
        ("empty_code", "4"),
        ("too_large", "5"),
        ("unknown_language", "6"),
        ("missing_field", "7"),
        ("malformed_json", "9"),
        ("empty_docstring", "10"),
        ("missing_field", "11"),
    ]
    assert all(r.detail.startswith(path.name + ":") for r in rejected)
    assert "func_name" in rejected[5].detail and "cobol" in rejected[4].detail
    too_large = rejected[3]
    assert too_large.func_name == "big" and len(too_large.source_code) < 3_000  # excerpt, not 1 MB
    assert stats.total == 10 and stats.kept == 1 and sum(stats.dropped.values()) == 9


def test_size_limit_is_configurable():
    records, _ = read("sample", SourceConfig(max_code_bytes=400))
    reasons = {r.reason for r in records if isinstance(r, RejectedRow)}
    assert reasons == {"too_large"}
    assert 0 < sum(isinstance(r, SourcePair) for r in records) < len(records)
    with pytest.raises(ValueError, match="max_code_bytes"):
        SourceConfig(max_code_bytes=0)


def test_truncated_gzip_keeps_the_rows_before_and_records_the_break(tmp_path):
    data = gzip.compress(b"".join(line({**GOOD, "func_name": f"f{i}"}) + b"\n" for i in range(50)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    records, _ = read(f"csn:{path}")
    assert isinstance(records[-1], RejectedRow) and records[-1].reason == "read_error"
    assert "cut.jsonl.gz:" in records[-1].detail
    assert all(isinstance(r, SourcePair) for r in records[:-1])


def test_synthconl_bad_rows(tmp_path):
    row = {
        "repository_name": "o/r",
        "func_path_in_repository": "a.py",
        "language2": "go",
        "func2": "func inc(x int) int {\n\treturn x + 1\n}\n",
        "language1_CSN": "python",
        "func1_CSN": INC,
        "func_documentation_string": "Add one.",
        "func_code_url": None,
    }
    lines = [
        line(row),
        line({**row, "language2": "klingon"}),
        line({**row, "func2": ""}),
        line({k: v for k, v in row.items() if k != "func2"}),
        line({**row, "func1_CSN": ""}),
        b"{oops",
    ]
    path = write_lines(tmp_path / "s.jsonl", lines)
    records, _ = read(f"synthconl:{path}")
    assert isinstance(records[0], Candidate)
    assert [r.reason for r in records[1:]] == [
        "unknown_language",
        "empty_code",
        "missing_field",
        "empty_code",
        "malformed_json",
    ]
    assert records[1].target_language == "klingon" and records[1].translated_code.startswith(
        "func inc"
    )


def test_parquet_unknown_rows_and_columns(tmp_path):
    odd = tmp_path / "odd.parquet"
    pq.write_table(pa.table({"x": [1], "y": ["a"]}), odd)
    with pytest.raises(SourceError, match="columns"):
        resolve_spec(f"parquet:{odd}")
    nulls = tmp_path / "nulls.parquet"
    pq.write_table(pa.Table.from_pylist([GOOD, {**GOOD, "func_name": None}]), nulls)
    records, _ = read(f"parquet:{nulls}")
    assert isinstance(records[0], SourcePair) and records[1].reason == "missing_field"
    assert records[1].detail == "nulls.parquet:row 2: missing or non-string field(s) func_name"


def test_repo_file_with_invalid_utf8_is_one_rejected_row(tmp_path):
    (tmp_path / "good.py").write_text(
        'def f(x):\n    """Return twice the value of x."""\n    y = 2 * x\n    return y\n'
    )
    (tmp_path / "bad.py").write_bytes(b'def g():\n    """\xff\xfe."""\n    return 1\n')
    records, _ = read(f"repo:{tmp_path}")
    assert [type(r).__name__ for r in records] == ["RejectedRow", "SourcePair"]
    assert records[0].reason == "invalid_utf8" and "bad.py" in records[0].detail


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("csn:/nonexistent/file.jsonl", "no such file or directory: '/nonexistent/file.jsonl'"),
        ("parquet:/nonexistent/dir/*.parquet", "no files match"),
        ("synthconl:", "empty path"),
        ("repo:/nonexistent/repo", "is not a directory"),
        ("github:foo/bar", "unknown source 'github:foo/bar'; valid: sample | humaneval"),
        ("sampel", "unknown source 'sampel'"),
        ("hf:", "needs a dataset name"),
    ],
)
def test_unreadable_sources_raise_one_line_source_errors(spec, message):
    with pytest.raises(SourceError) as info:
        resolve_spec(spec)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_empty_directory_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="no .* files under directory"):
        resolve_spec(f"csn:{tmp_path}")


def test_unreachable_hub_dataset_is_a_source_error(monkeypatch):
    """With the Hub unreachable (offline mode), ``load_dataset`` fails and we say so in one line."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SourceError, match="cannot load Hub dataset 'no-such-org/no-such-set'"):
        resolve_spec("hf:no-such-org/no-such-set:train")


def test_cli_prints_counts_and_exits_cleanly_on_errors(tmp_path, capsys):
    from pipeline.sources.__main__ import main

    path = write_lines(tmp_path / "c.jsonl", [line(GOOD), b"{bad"])
    out = tmp_path / "records.jsonl"
    assert main([f"csn:{path}", f"--output={out}"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["total"] == 2 and summary["kept"] == 1 and summary["dropped_malformed_json"] == 1
    kinds = [json.loads(x)["kind"] for x in out.read_text().splitlines()]
    assert kinds == ["pair", "rejected"]
    assert main(["csn:/nonexistent.jsonl"]) == 2
    assert "no such file" in capsys.readouterr().err
