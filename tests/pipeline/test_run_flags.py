"""The tuning flags of ``python -m pipeline.run``, each run through ``main(argv)`` with an
assertion on what it changes (one run per flag family).

A module-scoped run on the bundled sample (py2many -> Go, the bubblewrap sandbox) fills the
translation and verdict caches; each flag run starts from a copy of them, so it pays only for
what its flag changes.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.run import main
from tests.support import get_sandbox

# Every run here executes in bubblewrap (the docker path is test_run.py's): a missing bwrap
# fails loudly, or skips with the reason when a developer opts out (tests/support.py).
pytestmark = pytest.mark.bwrap
BASE = ["--runner=DirectRunner", "--target_languages=go", "--decontaminate=", "--sandbox=bwrap"]
SAMPLE = Path(__file__).resolve().parents[2] / "pipeline" / "data" / "sample.jsonl"


def _rows(directory: Path) -> list[dict]:
    rows = []
    for path in sorted(directory.glob("*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def _stats(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())


def _keys(rows: list[dict]) -> set[tuple[str, str]]:
    return {(r["pair_id"], r["language2"]) for r in rows}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    get_sandbox("bwrap")
    out = tmp_path_factory.mktemp("flags") / "base"
    assert main([*BASE, f"--output={out}"]) == 0
    return out


def _run_from(base: Path, tmp_path: Path, name: str, *flags: str) -> Path:
    out = tmp_path / name
    shutil.copytree(base / "cache", out / "cache")
    assert main([*BASE, f"--output={out}", *flags]) == 0
    return out


def test_require_widens_what_enters_the_dataset(base, tmp_path):
    released = _rows(base / "data")
    assert {r["exec_status"] for r in released} <= {"passed", "no_tests"}
    compiled = _rows(_run_from(base, tmp_path, "compiled", "--require=compiled") / "data")
    parsed = _rows(_run_from(base, tmp_path, "parsed", "--require=parsed") / "data")
    assert _keys(released) <= _keys(compiled) <= _keys(parsed)
    assert "compile_error" not in {r["exec_status"] for r in compiled}
    assert "failed" in {r["exec_status"] for r in compiled}  # ran, wrong answer: compiled
    assert "compile_error" in {r["exec_status"] for r in parsed}
    assert all(r["parse_ok"] for r in parsed)


def test_num_shards_and_split_flags(base, tmp_path):
    out = _run_from(base, tmp_path, "shards", "--num_shards=2", "--split_fractions=0,0,1")
    names = sorted(p.name for p in (out / "data").glob("*.parquet"))
    assert "test-00000-of-00002.parquet" in names and "test-00001-of-00002.parquet" in names
    rows = _rows(out / "data")
    assert {r["split"] for r in rows} == {"test"}
    assert _keys(rows) == _keys(_rows(base / "data"))
    assert _stats(out)["splits"]["test"] == len(rows)

    reseeded = _rows(
        _run_from(base, tmp_path, "seed", "--seed=7", "--split_fractions=0.5,0.25,0.25") / "data"
    )
    again = _rows(
        _run_from(base, tmp_path, "seed_again", "--seed=8", "--split_fractions=0.5,0.25,0.25")
        / "data"
    )
    split = lambda rows: {r["repository_name"]: r["split"] for r in rows}  # noqa: E731
    assert _keys(reseeded) == _keys(again) == _keys(_rows(base / "data"))
    assert split(reseeded) != split(again)  # the seed moves repositories between splits


def test_targets_per_pair_and_num_samples(base, tmp_path):
    base_requests = _stats(base)["accounting"]["translation_requests"]
    two = _run_from(base, tmp_path, "two", "--target_languages=go,rust", "--targets_per_pair=1")
    acc = _stats(two)["accounting"]
    assert acc["balanced"]
    per_pair = Counter(
        r["pair_id"]
        for r in _rows(two / "data") + _rows(two / "rejected")
        if r.get("stage") != "source"
    )
    assert per_pair and max(per_pair.values()) == 1  # one of the two targets per pair
    targets = {r["language2"] for r in _rows(two / "data")} | {
        r.get("language2") for r in _rows(two / "rejected")
    }
    assert {"go", "rust"} <= targets  # ... chosen per pair, not one target for all

    samples = _run_from(base, tmp_path, "samples", "--num_samples=2")
    acc = _stats(samples)["accounting"]
    assert acc["balanced"] and acc["translation_requests"] == 2 * base_requests
    assert _keys(_rows(samples / "data")) == _keys(_rows(base / "data"))  # best attempt kept, once


def test_dedup_flags_reach_the_dedup_stage(base, tmp_path):
    out = _run_from(base, tmp_path, "dedup", "--dedup_threshold=0.3", "--num_perm=64", "--ngram=3")
    stats = _stats(out)
    assert stats["accounting"]["balanced"]
    config = stats["config"]
    assert (config["dedup_threshold"], config["num_perm"], config["ngram"]) == (0.3, 64, 3)
    assert _stats(base)["dedup"]["near_duplicate_rows"] == 0
    # Go translations of different sample functions share many 3-grams (package, func, return):
    # at Jaccard 0.3 some of them are near-duplicates, at the default 0.7 none are.
    assert stats["dedup"]["near_duplicate_rows"] > 0
    removed = [r for r in _rows(out / "rejected") if r["stage"] == "dedup"]
    assert len(removed) == stats["dedup"]["near_duplicate_rows"]


def test_max_code_bytes_rejects_larger_sources(base, tmp_path):
    limit = 300
    sizes = [
        len(json.loads(line)["code"].encode())
        for line in SAMPLE.read_text().splitlines()
        if line.strip()
    ]
    too_large = sum(size > limit for size in sizes)
    assert 0 < too_large < len(sizes)
    out = _run_from(base, tmp_path, "small", f"--max_code_bytes={limit}")
    stats = _stats(out)
    assert stats["accounting"]["balanced"]
    assert stats["rejection_reasons"]["source"] == {"too_large": too_large}


def _go_file(name: str, body_lines: int) -> str:
    body = "".join(f"\ty += {i}\n" for i in range(body_lines))
    return (
        f"package p\n\n// {name} returns x plus a constant.\nfunc {name}(x int) int {{\n"
        f"\ty := x\n{body}\treturn y\n}}\n"
    )


def test_repo_corpus_max_file_bytes_keeps_larger_files_out(tmp_path):
    """Go sources stop at translation under py2many, so no program reaches the sandbox."""
    get_sandbox("bwrap")
    root = tmp_path / "goproj"
    root.mkdir()
    (root / "small.go").write_text(_go_file("Small", 2))
    (root / "large.go").write_text(_go_file("Large", 200))
    limit = 1000
    assert (root / "small.go").stat().st_size < limit < (root / "large.go").stat().st_size
    corpora = {}
    for flag in ([], [f"--repo_corpus_max_file_bytes={limit}"]):
        out = tmp_path / ("limited" if flag else "default")
        assert (
            main(
                [
                    "--runner=DirectRunner",
                    f"--source=repo:{root}",
                    "--translator=py2many",
                    "--sandbox=bwrap",
                    "--decontaminate=",
                    "--emit_repo_corpus",
                    f"--output={out}",
                    *flag,
                ]
            )
            == 0
        )
        corpora[bool(flag)] = sorted(
            r["path"] for r in pq.read_table(out / "repo_corpus").to_pylist()
        )
    assert corpora == {False: ["large.go", "small.go"], True: ["small.go"]}
