"""The card's YAML metadata matches the shards and is what ``datasets`` reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.hub_metadata import (
    hub_yaml,
    render_front_matter,
    replace_front_matter,
    scan_splits,
    size_category,
    split_front_matter,
)
from schemas import REJECTED_SCHEMA, RELEASE_SCHEMA, SYNTHCONL_COLUMNS, RejectedRow, ReleaseRow

#: (split, repository, source language, target language) per row of the fixture.
FIXTURE_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("train", "acme/alpha", "python", "cpp"),
    ("train", "acme/alpha", "python", "go"),
    ("train", "acme/beta", "java", "rust"),
    ("train", "acme/beta", "java", "python"),
    ("train", "acme/gamma", "go", "java"),
    ("validation", "acme/delta", "ruby", "javascript"),
    ("validation", "acme/delta", "ruby", "c"),
    ("test", "acme/eps", "php", "ruby"),
    ("test", "acme/zeta", "javascript", "php"),
)


def release_row(i: int, split: str, repo: str, src: str, tgt: str) -> dict:
    """One release row with every column filled."""
    return ReleaseRow(
        repository_name=repo,
        func_path_in_repository=f"src/f{i}.x",
        language2=tgt,
        func2=f"// {tgt} translation {i}\nint f{i}() {{ return {i}; }}",
        language1_CSN=src,
        func1_CSN=f"def f{i}():\n    return {i}",
        func_documentation_string=f"Return {i}.",
        func_code_url=f"https://example.org/{repo}/blob/main/src/f{i}.x",
        pair_id=f"pair{i:04d}",
        license="mit",
        translator="py2many:0.9",
        prompt_version="v1",
        attempt=0,
        parse_ok=True,
        exec_status="passed" if i % 2 else "no_tests",
        tests_passed=i % 3,
        tests_total=2,
        dedup_cluster=None,
        split=split,
    ).to_row()


def make_output_dir(
    root: Path,
    rows: tuple[tuple[str, str, str, str], ...] = FIXTURE_ROWS,
    *,
    shards: dict | None = None,
) -> Path:
    """Build a pipeline output directory (docs/design.md, "Running and outputs") the way a run leaves it.

    ``data/{split}-SSSSS-of-NNNNN.parquet`` (two shards for train), ``rejected/``, a small
    ``stats.json``, a card with front matter, a plot and a cache folder.
    """
    shards = shards or {"train": 2, "validation": 1, "test": 1}
    data = root / "data"
    data.mkdir(parents=True)
    by_split: dict[str, list[dict]] = {}
    for i, (split, repo, src, tgt) in enumerate(rows):
        by_split.setdefault(split, []).append(release_row(i, split, repo, src, tgt))
    for split, split_rows in by_split.items():
        n = shards.get(split, 1)
        for k in range(n):
            part = split_rows[k::n]
            table = pa.Table.from_pylist(part, schema=RELEASE_SCHEMA)
            pq.write_table(table, data / f"{split}-{k:05d}-of-{n:05d}.parquet")
    (root / "rejected").mkdir()
    rejected = [RejectedRow(stage="parse", reason="parse_error", pair_id="pairX").to_row()]
    pq.write_table(
        pa.Table.from_pylist(rejected, schema=REJECTED_SCHEMA),
        root / "rejected" / "rejected-00000-of-00001.parquet",
    )
    stats = {
        "run_id": "run0123abcd",
        "schema_version": "1.1",
        "splits": {s: len(by_split.get(s, [])) for s in ("train", "validation", "test")},
        "released_rows": len(rows),
    }
    (root / "stats.json").write_text(json.dumps(stats))
    (root / "README.md").write_text("---\nlicense: other\n---\n# Fixture dataset\n\nSome text.\n")
    (root / "language_matrix.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "cache").mkdir()
    (root / "cache" / "verdicts.sqlite").write_bytes(b"cache")
    return root


def test_size_category_buckets():
    assert size_category(0) == "n<1K"
    assert size_category(999) == "n<1K"
    assert size_category(1_000) == "1K<n<10K"
    assert size_category(922_000) == "100K<n<1M"
    with pytest.raises(ValueError):
        size_category(-1)


def test_scan_splits_reads_footers(tmp_path):
    out = make_output_dir(tmp_path / "out")
    found = scan_splits(out / "data")
    assert list(found) == ["train", "validation", "test"]
    assert [found[s].num_examples for s in found] == [5, 2, 2]
    assert len(found["train"].paths) == 2
    assert all(f.num_bytes > 0 and f.download_size > 0 for f in found.values())


def test_scan_splits_rejects_unknown_split(tmp_path):
    out = make_output_dir(tmp_path / "out")
    (out / "data" / "extra-00000-of-00001.parquet").write_bytes(b"")
    with pytest.raises(ValueError, match="unknown split 'extra'"):
        scan_splits(out / "data")


def test_hub_yaml_configs_features_and_sizes(tmp_path):
    out = make_output_dir(tmp_path / "out")
    meta = hub_yaml(out / "data", license="other", pretty_name="Fixture")
    assert meta["license"] == "other"
    assert meta["pretty_name"] == "Fixture"
    assert meta["language"] == ["en", "code"]
    assert meta["size_categories"] == ["n<1K"]
    assert "text-retrieval" in meta["task_categories"]
    for lang in ("python", "cpp", "go", "rust", "java", "javascript", "ruby", "php", "c"):
        assert lang in meta["tags"]
    assert meta["configs"] == [
        {
            "config_name": "default",
            "data_files": [
                {"split": "train", "path": "data/train-*"},
                {"split": "validation", "path": "data/validation-*"},
                {"split": "test", "path": "data/test-*"},
            ],
        }
    ]
    info = meta["dataset_info"]
    names = [f["name"] for f in info["features"]]
    assert names == RELEASE_SCHEMA.names
    assert tuple(names[:8]) == SYNTHCONL_COLUMNS
    dtypes = {f["name"]: f["dtype"] for f in info["features"]}
    assert (
        dtypes["func2"] == "string"
        and dtypes["attempt"] == "int32"
        and dtypes["parse_ok"] == "bool"
    )
    assert [(s["name"], s["num_examples"]) for s in info["splits"]] == [
        ("train", 5),
        ("validation", 2),
        ("test", 2),
    ]
    assert info["dataset_size"] == sum(s["num_bytes"] for s in info["splits"])
    disk = sum(p.stat().st_size for p in (out / "data").glob("*.parquet"))
    assert info["download_size"] == disk


def test_hub_yaml_leaves_out_empty_splits(tmp_path):
    rows = tuple(r for r in FIXTURE_ROWS if r[0] != "validation")
    out = make_output_dir(tmp_path / "out", rows)
    meta = hub_yaml(out / "data", license="other", pretty_name="Fixture")
    assert [d["split"] for d in meta["configs"][0]["data_files"]] == ["train", "test"]


def test_hub_yaml_errors(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        hub_yaml(tmp_path / "missing", license="other", pretty_name="x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no shards"):
        hub_yaml(tmp_path / "empty", license="other", pretty_name="x")
    out = make_output_dir(tmp_path / "out")
    with pytest.raises(ValueError, match="license"):
        hub_yaml(out / "data", license="", pretty_name="x")


def test_front_matter_round_trips_through_datasets_readers(tmp_path):
    """What we render is what ``datasets``/``huggingface_hub`` parse out of a card."""
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    out = make_output_dir(tmp_path / "out")
    meta = hub_yaml(out / "data", license="other", pretty_name="Fixture")
    card_text = replace_front_matter((out / "README.md").read_text(), meta)
    assert card_text.startswith("---\nlicense: other\n")
    assert card_text.endswith("# Fixture dataset\n\nSome text.\n")
    card = DatasetCard(card_text)
    infos = DatasetInfosDict.from_dataset_card_data(card.data)
    assert infos["default"].splits["train"].num_examples == 5
    assert list(infos["default"].features) == RELEASE_SCHEMA.names
    configs = MetadataConfigs.from_dataset_card_data(card.data)
    assert configs["default"]["data_files"][0] == {"split": "train", "path": "data/train-*"}
    parsed, body = split_front_matter(card_text)
    assert parsed == yaml.safe_load(render_front_matter(meta)[4:-4])
    assert body.startswith("# Fixture dataset")


def test_split_front_matter_without_block():
    assert split_front_matter("# Title\n") == ({}, "# Title\n")
