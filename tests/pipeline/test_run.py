"""End to end: ``python -m pipeline.run`` on real parts (Beam DirectRunner, py2many,
tree-sitter, the bubblewrap sandbox, parquet) and the guarantees users rely on."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.run import main
from schemas import REJECTED_SCHEMA, RELEASE_SCHEMA, SPLITS, SYNTHCONL_COLUMNS, schema_version_of

# Few targets and the quick sandbox keep the end-to-end runs to tens of seconds.
BASE = ["--runner=DirectRunner", "--target_languages=go,rust", "--decontaminate=humaneval"]
SANDBOX = "--sandbox=bwrap" if shutil.which("bwrap") else "--sandbox=none"


def _rows(directory: Path) -> list[dict]:
    rows = []
    for path in sorted(directory.glob("*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample_run")
    assert main([*BASE, SANDBOX, f"--output={out}"]) == 0
    return out


def test_sample_run_writes_the_documented_layout(sample_run):
    shards = sorted(p.name for p in (sample_run / "data").glob("*.parquet"))
    assert shards == [f"{s}-00000-of-00001.parquet" for s in sorted(SPLITS)]
    for path in (sample_run / "data").glob("*.parquet"):
        schema = pq.read_schema(path)
        assert tuple(schema.names[:8]) == SYNTHCONL_COLUMNS
        assert schema.names == RELEASE_SCHEMA.names
        assert schema_version_of(schema) == "1.0"
    assert pq.read_schema(next((sample_run / "rejected").glob("*.parquet"))).names == REJECTED_SCHEMA.names
    card = (sample_run / "README.md").read_text()
    assert card.startswith("---\n") and "## Language matrix" in card and "## Rejection reasons" in card


def test_every_row_is_accounted_for(sample_run):
    stats = json.loads((sample_run / "stats.json").read_text())
    released, rejected = _rows(sample_run / "data"), _rows(sample_run / "rejected")
    acc = stats["accounting"]
    assert acc["balanced"], acc
    assert acc["source_rows"] >= 60
    assert acc["source_rows"] == acc["pairs"] + acc["ready_candidates"] + acc["rejected_at_source"]
    assert acc["translation_requests"] == len(released) + sum(r["stage"] != "source" for r in rejected)
    assert stats["released_rows"] == len(released) > 0
    assert all(r["stage"] and r["reason"] for r in rejected)
    assert sum(stats["splits"].values()) == len(released)


def test_released_rows_are_validated_and_repository_disjoint(sample_run):
    released = _rows(sample_run / "data")
    assert all(r["parse_ok"] for r in released)
    if SANDBOX != "--sandbox=none":
        assert {r["exec_status"] for r in released} <= {"passed", "no_tests"}
        assert any(r["exec_status"] == "passed" for r in released)
    split_of_repo: dict[str, str] = {}
    for r in released:
        assert split_of_repo.setdefault(r["repository_name"], r["split"]) == r["split"]
    keys = [(r["pair_id"], r["language2"]) for r in released]
    assert len(keys) == len(set(keys)), "one row per (pair, target)"


def test_rerun_resumes_and_gives_the_same_dataset(sample_run, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(sample_run, out)
    before = sorted((r["pair_id"], r["language2"], r["func2"], r["split"]) for r in _rows(out / "data"))
    assert main([*BASE, SANDBOX, f"--output={out}"]) == 0
    after = sorted((r["pair_id"], r["language2"], r["func2"], r["split"]) for r in _rows(out / "data"))
    assert after == before
    stats = json.loads((out / "stats.json").read_text())
    counters = stats["metrics"]["counters"]
    generated = sum(v for k, v in counters.items() if k.startswith("translate/") and k.endswith("cache_misses"))
    assert generated == 0, {k: v for k, v in counters.items() if k.startswith("translate/")}


def test_multiprocessing_runner_gives_the_same_rows(sample_run, tmp_path):
    out = tmp_path / "mp"
    # Same caches as the in-process run, so this compares graph execution, not py2many again.
    shutil.copytree(sample_run / "cache", out / "cache")
    assert main([*BASE, SANDBOX, f"--output={out}", "--direct_running_mode=multi_processing",
                 "--direct_num_workers=2"]) == 0
    key = lambda r: (r["pair_id"], r["language2"], r["func2"], r["split"], r["exec_status"])  # noqa: E731
    assert sorted(map(key, _rows(out / "data"))) == sorted(map(key, _rows(sample_run / "data")))


def test_bad_input_is_rejected_with_reasons_not_crashed(tmp_path):
    good = {"repo": "o/r", "path": "a.py", "func_name": "inc", "language": "python",
            "code": "def inc(x: int) -> int:\n    \"\"\"Add one.\n\n    >>> inc(1)\n    2\n    \"\"\"\n    return x + 1\n",
            "original_string": "", "docstring": "Add one.", "sha": "0" * 40, "url": "u", "partition": "train"}
    lines = [json.dumps(good), "{not json", json.dumps({**good, "code": "", "func_name": "empty"}),
             json.dumps({**good, "language": "cobol", "func_name": "cob"}),
             json.dumps({**good, "func_name": "big", "code": "def big():\n" + "    x = 1\n" * 200_000})]
    path = tmp_path / "csn.jsonl.gz"
    with gzip.open(path, "wb") as f:
        f.write(("\n".join(lines) + "\n").encode() + b"\xff\xfe broken utf8 line\n")
    out = tmp_path / "out"
    assert main([*BASE, "--sandbox=none", "--decontaminate=", f"--source=csn:{path}", f"--output={out}"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["accounting"]["balanced"]
    assert stats["accounting"]["source_rows"] == 6
    reasons = stats["rejection_reasons"]["source"]
    assert sum(reasons.values()) == 5, reasons


def test_missing_input_is_a_clean_error(tmp_path, capsys):
    assert main(["--source=csn:/nonexistent/file.jsonl", f"--output={tmp_path}"]) == 2
    assert "nonexistent" in capsys.readouterr().err
    assert main(["--target_languages=klingon", f"--output={tmp_path}"]) == 2
    assert "klingon" in capsys.readouterr().err
