"""``hf:NAME[:CONFIG][:SPLIT]``: spec parsing, datasets saved with ``save_to_disk``, parquet
folders in Hub layouts, ``load_dataset`` streaming over local files, shard units that Beam
spreads, and bad input (corrupt shards, unknown splits/configs/columns). No network: the
Hub itself is replaced by a test double of ``load_dataset`` where it would be needed."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.sources import ReadSource, SourceConfig, SourceError, read_source, resolve_spec
from pipeline.sources.core import SourceStats
from pipeline.sources.hub import HfSpec, parse_hf_spec
from schemas import SYNTHCONL_COLUMNS, Candidate, RejectedRow, SourcePair

INC = 'def inc(x: int) -> int:\n    """Add one to x.\n\n    >>> inc(1)\n    2\n    """\n    return x + 1\n'
GO = "func Abs(x int) int {\n\tif x < 0 {\n\t\treturn -x\n\t}\n\treturn x\n}\n"


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    datasets.disable_progress_bars()


def csn_hub_row(i: int, language: str = "go", **over) -> dict:
    """A row with the Hub ``code_search_net`` columns (token lists included, as there)."""
    code = INC.replace("inc", f"inc{i}") if language == "python" else GO.replace("Abs", f"Abs{i}")
    row = {
        "repository_name": f"acme/r{i % 4}",
        "func_path_in_repository": f"pkg/f{i}.{'py' if language == 'python' else 'go'}",
        "func_name": f"inc{i}" if language == "python" else f"Abs{i}",
        "whole_func_string": code,
        "language": language,
        "func_code_string": code,
        "func_code_tokens": code.split(),
        "func_documentation_string": f"Function number {i} does its job.",
        "func_documentation_tokens": ["Function", "number", str(i)],
        "split_name": "train",
        "func_code_url": f"https://github.com/acme/r{i % 4}/blob/{'a' * 40}/pkg/f{i}#L1-L6",
    }
    row.update(over)
    return row


def synthconl_row(i: int) -> dict:
    return {
        "repository_name": "acme/tools",
        "func_path_in_repository": f"tools/m{i}.py",
        "language2": "go",
        "func2": GO,
        "language1_CSN": "python",
        "func1_CSN": INC.replace("inc", f"inc{i}"),
        "func_documentation_string": "Add one to x.",
        "func_code_url": f"https://example.com/{i}",
    }


def columns_of(rows: list[dict]) -> dict[str, list]:
    return {k: [r[k] for r in rows] for k in rows[0]}


def save(path: Path, rows: list[dict], num_shards: int = 1) -> Path:
    datasets.Dataset.from_dict(columns_of(rows)).save_to_disk(str(path), num_shards=num_shards)
    return path


def write_parquet(path: Path, rows: list[dict], row_group_size: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)


def read(spec: str) -> tuple[list, SourceStats]:
    stats = SourceStats()
    return list(read_source(spec, stats=stats)), stats


def beam_matches_read_source(spec: str) -> int:
    """Run ``ReadSource`` on the DirectRunner and check it gives exactly ``read_source``'s records."""
    expected = list(read_source(spec))
    pairs = sorted(r.pair_id for r in expected if isinstance(r, SourcePair))
    candidates = sorted(r.key for r in expected if isinstance(r, Candidate))
    rejected = sorted(r.detail for r in expected if isinstance(r, RejectedRow))
    transform = ReadSource(spec)
    p = BeamTestPipeline()
    out = p | transform
    assert_that(out["pairs"] | beam.Map(lambda r: r.pair_id), equal_to(pairs), label="Pairs")
    assert_that(
        out["candidates"] | beam.Map(lambda c: c.key), equal_to(candidates), label="Candidates"
    )
    assert_that(
        out["rejected"] | beam.Map(lambda r: r.detail), equal_to(rejected), label="Rejected"
    )
    p.run().wait_until_finish()
    return len(transform.units)


# --- the spec ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        ("code-search-net/code_search_net", HfSpec("code-search-net/code_search_net")),
        ("org/ds:test", HfSpec("org/ds", None, "test")),
        ("org/ds:validation", HfSpec("org/ds", None, "validation")),
        ("org/ds:valid", HfSpec("org/ds", None, "valid")),
        ("org/ds:dev", HfSpec("org/ds", None, "dev")),
        ("org/ds:python", HfSpec("org/ds", "python", "train")),
        ("org/ds:python:test", HfSpec("org/ds", "python", "test")),
        ("org/ds:train[:1000]", HfSpec("org/ds", None, "train", None, "1000")),
        ("org/ds:python:train[10%:20%]", HfSpec("org/ds", "python", "train", "10%", "20%")),
        ("org/ds:extra[-5:]", HfSpec("org/ds", None, "extra", "-5", None)),
        ("org/ds:python:extra", HfSpec("org/ds", "python", "extra")),
        ("/data/sets/my/local-dir:go:test", HfSpec("/data/sets/my/local-dir", "go", "test")),
        ("squad", HfSpec("squad")),
    ],
)
def test_spec_parts_are_config_and_split_by_the_documented_rule(rest, expected):
    assert parse_hf_spec(rest) == expected


def test_spec_label_names_config_and_slice():
    assert parse_hf_spec("org/ds:train[:10]").label == "hf:org/ds:default:train[:10]"
    assert parse_hf_spec("org/ds:go:test").label == "hf:org/ds:go:test"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("hf:", "needs a dataset name"),
        ("hf:a:b:c:d", "too many ':'-separated parts"),
        ("hf:org/ds:cfg:train[x]", "is not a split name"),
        ("hf:a/b/c", "no such dataset directory"),
        ("synthconl:hf:", "needs a dataset name"),
    ],
)
def test_malformed_specs_are_one_line_source_errors(spec, message):
    with pytest.raises(SourceError) as info:
        resolve_spec(spec)
    assert message in str(info.value) and "\n" not in str(info.value)


# --- save_to_disk ------------------------------------------------------------------------------


def test_saved_dataset_reads_one_unit_per_arrow_shard_and_beam_agrees(tmp_path):
    rows = [csn_hub_row(i) for i in range(10)] + [csn_hub_row(10, language="cobol")]
    path = save(tmp_path / "saved", rows, num_shards=4)
    units = resolve_spec(f"hf:{path}")
    assert len(units) == 4 and all(u.fmt == "hf" and u.location.endswith(".arrow") for u in units)
    records, stats = read(f"hf:{path}")
    pairs = [r for r in records if isinstance(r, SourcePair)]
    assert [p.func_name for p in pairs] == [f"Abs{i}" for i in range(10)]  # every row, in order
    assert (
        pairs[3].repository_name == "acme/r3"
        and pairs[3].url.endswith("#L1-L6")
        and pairs[3].partition == "train"
    )
    assert pairs[0].docstring == "Function number 0 does its job." and pairs[0].language == "go"
    (bad,) = [r for r in records if isinstance(r, RejectedRow)]
    assert bad.reason == "unknown_language" and bad.detail.startswith(
        f"hf:{path}:default:train:shard 3:row "
    )
    assert stats.total == 11 and stats.kept == 10
    assert beam_matches_read_source(f"hf:{path}") == 4


def test_python_rows_get_doctest_tests(tmp_path):
    path = save(
        tmp_path / "py", [csn_hub_row(i, language="python") for i in range(3)], num_shards=2
    )
    records, stats = read(f"hf:{path}")
    assert [len(r.tests) for r in records] == [1, 1, 1] and stats.tests_extracted == 3


def test_saved_dataset_dict_picks_the_split(tmp_path):
    train = datasets.Dataset.from_dict(columns_of([csn_hub_row(i) for i in range(6)]))
    test = datasets.Dataset.from_dict(
        columns_of([csn_hub_row(i, split_name="test") for i in range(100, 103)])
    )
    path = tmp_path / "dd"
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(
        str(path), num_shards={"train": 3, "test": 1}
    )
    assert len(resolve_spec(f"hf:{path}")) == 3
    records, _ = read(f"hf:{path}:test")
    assert [r.func_name for r in records] == ["Abs100", "Abs101", "Abs102"]
    assert records[0].partition == "test"
    with pytest.raises(
        SourceError, match=r"unknown split 'validation'; available splits: train, test$"
    ):
        resolve_spec(f"hf:{path}:validation")
    with pytest.raises(
        SourceError,
        match=r"unknown config 'python'; available configs: none \(splits: train, test\)",
    ):
        resolve_spec(f"hf:{path}:python")


def test_a_split_slice_cuts_across_shards(tmp_path):
    path = save(
        tmp_path / "saved", [csn_hub_row(i) for i in range(12)], num_shards=4
    )  # 3 rows a shard
    units = resolve_spec(f"hf:{path}:train[4:8]")
    assert [(u.hub.index, u.hub.start, u.hub.stop) for u in units] == [(1, 1, 3), (2, 0, 2)]
    records, _ = read(f"hf:{path}:train[4:8]")
    assert [r.func_name for r in records] == ["Abs4", "Abs5", "Abs6", "Abs7"]
    assert [r.func_name for r in read(f"hf:{path}:train[75%:]")[0]] == ["Abs9", "Abs10", "Abs11"]
    assert [r.func_name for r in read(f"hf:{path}:train[-2:]")[0]] == ["Abs10", "Abs11"]


def test_columns_of_no_shape_give_one_unknown_format_row(tmp_path):
    path = save(tmp_path / "other", [{"text": f"t{i}", "label": i} for i in range(9)], num_shards=3)
    assert len(resolve_spec(f"hf:{path}")) == 1  # the source is reported once, not per shard
    (record,), stats = read(f"hf:{path}")
    assert record.reason == "unknown_format" and "['label', 'text']" in record.detail
    assert stats.total == 1


def test_corrupt_arrow_shard_keeps_the_rows_before_it(tmp_path):
    # 2,500 rows in two shards of 1,250 = record batches of 1,000 + 250 each.
    path = save(tmp_path / "big", [csn_hub_row(i) for i in range(2500)], num_shards=2)
    shard1 = path / "data-00001-of-00002.arrow"
    data = shard1.read_bytes()
    shard1.write_bytes(data[: int(len(data) * 0.9)])  # cut inside the second record batch
    records, stats = read(f"hf:{path}")
    assert stats.kept == 1250 + 1000
    (bad,) = [r for r in records if isinstance(r, RejectedRow)]
    assert bad.reason == "read_error"
    assert bad.detail.startswith(
        f"hf:{path}:default:train:shard 1:row 1001: shard unreadable from here on"
    )


# --- parquet folders ---------------------------------------------------------------------------


def make_config_layout(root: Path) -> Path:
    """Hub parquet layout with configs: CONFIG/SPLIT/NNNN.parquet."""
    write_parquet(
        root / "python" / "train" / "0000.parquet", [csn_hub_row(i, "python") for i in range(3)]
    )
    write_parquet(
        root / "python" / "train" / "0001.parquet", [csn_hub_row(i, "python") for i in range(3, 5)]
    )
    write_parquet(
        root / "python" / "test" / "0000.parquet", [csn_hub_row(i, "python") for i in range(50, 52)]
    )
    write_parquet(root / "go" / "train" / "0000.parquet", [csn_hub_row(i) for i in range(70, 73)])
    return root


def test_parquet_configs_and_splits_select_files(tmp_path):
    root = make_config_layout(tmp_path / "csn")
    assert len(resolve_spec(f"hf:{root}:python")) == 2
    assert [r.func_name for r in read(f"hf:{root}:python")[0]] == [f"inc{i}" for i in range(5)]
    assert [r.func_name for r in read(f"hf:{root}:python:test")[0]] == ["inc50", "inc51"]
    assert [r.func_name for r in read(f"hf:{root}:go")[0]] == ["Abs70", "Abs71", "Abs72"]
    with pytest.raises(
        SourceError, match=r"has several configs; name one as hf:NAME:CONFIG\[:SPLIT\]: go, python$"
    ):
        resolve_spec(f"hf:{root}")
    with pytest.raises(SourceError, match=r"unknown config 'java'; available configs: go, python$"):
        resolve_spec(f"hf:{root}:java:train")
    with pytest.raises(
        SourceError, match=r"unknown split 'validation'; available splits: train, test$"
    ):
        resolve_spec(f"hf:{root}:python:validation")


CARD = """---
configs:
- config_name: python
  data_files:
  - split: train
    path: "python/train-*.parquet"
  - split: test
    path: "python/test-*.parquet"
  default: true
- config_name: go
  data_files: "go/*.parquet"
---
# A downloaded Hub snapshot
"""


def test_configs_declared_in_the_dataset_card_select_files(tmp_path):
    root = tmp_path / "snapshot"
    write_parquet(
        root / "python" / "train-00000-of-00002.parquet",
        [csn_hub_row(i, "python") for i in range(2)],
    )
    write_parquet(
        root / "python" / "train-00001-of-00002.parquet",
        [csn_hub_row(i, "python") for i in range(2, 3)],
    )
    write_parquet(
        root / "python" / "test-00000-of-00001.parquet",
        [csn_hub_row(i, "python") for i in range(40, 41)],
    )
    write_parquet(root / "go" / "part-0.parquet", [csn_hub_row(i) for i in range(60, 62)])
    (root / "README.md").write_text(CARD)
    assert len(resolve_spec(f"hf:{root}")) == 2  # the card's default config, split train
    assert [r.func_name for r in read(f"hf:{root}")[0]] == ["inc0", "inc1", "inc2"]
    assert [r.func_name for r in read(f"hf:{root}:test")[0]] == ["inc40"]
    assert [r.func_name for r in read(f"hf:{root}:go")[0]] == ["Abs60", "Abs61"]
    with pytest.raises(SourceError, match=r"unknown config 'java'; available configs: python, go$"):
        resolve_spec(f"hf:{root}:java")
    with pytest.raises(SourceError, match=r"unknown split 'test'; available splits: train$"):
        resolve_spec(f"hf:{root}:go:test")


def test_hub_data_layout_one_unit_per_parquet_file_and_beam_agrees(tmp_path):
    root = tmp_path / "ds"
    write_parquet(
        root / "data" / "train-00000-of-00002.parquet", [csn_hub_row(i) for i in range(4)]
    )
    write_parquet(
        root / "data" / "train-00001-of-00002.parquet", [csn_hub_row(i) for i in range(4, 7)]
    )
    write_parquet(
        root / "data" / "validation-00000-of-00001.parquet", [csn_hub_row(i) for i in range(90, 92)]
    )
    assert len(resolve_spec(f"hf:{root}")) == 2
    assert [r.func_name for r in read(f"hf:{root}:dev")[0]] == [
        "Abs90",
        "Abs91",
    ]  # dev = validation
    assert beam_matches_read_source(f"hf:{root}:train") == 2


def test_corrupt_parquet_shard_is_one_read_error_and_the_others_are_read(tmp_path):
    root = tmp_path / "ds"
    write_parquet(
        root / "data" / "train-00000-of-00002.parquet", [csn_hub_row(i) for i in range(4)]
    )
    broken = root / "data" / "train-00001-of-00002.parquet"
    write_parquet(broken, [csn_hub_row(i) for i in range(4, 8)])
    broken.write_bytes(broken.read_bytes()[:200])  # no footer any more
    records, stats = read(f"hf:{root}")
    assert stats.kept == 4
    (bad,) = [r for r in records if isinstance(r, RejectedRow)]
    assert bad.reason == "read_error" and bad.detail.startswith(
        f"hf:{root}:default:train:shard 1:row 1: "
    )


def test_synthconl_hf_gives_candidates_and_rejects_other_columns_once(tmp_path):
    root = tmp_path / "synth"
    write_parquet(
        root / "data" / "train-00000-of-00002.parquet", [synthconl_row(i) for i in range(2)]
    )
    write_parquet(
        root / "data" / "train-00001-of-00002.parquet", [synthconl_row(i) for i in range(2, 3)]
    )
    assert set(synthconl_row(0)) == set(SYNTHCONL_COLUMNS)
    records, _ = read(f"synthconl:hf:{root}")
    assert [type(r).__name__ for r in records] == ["Candidate"] * 3
    assert records[2].pair.func_name == "inc2" and records[2].translation.translator == "synthconl"
    assert beam_matches_read_source(f"synthconl:hf:{root}") == 2
    other = save(tmp_path / "csn", [csn_hub_row(i) for i in range(4)], num_shards=2)
    (record,), _ = read(f"synthconl:hf:{other}")
    assert record.reason == "unknown_format" and "synthconl" in record.detail


# --- load_dataset streaming --------------------------------------------------------------------


def make_json_dir(root: Path, shards: int = 3, per_shard: int = 3) -> Path:
    (root / "data").mkdir(parents=True)
    for k in range(shards):
        lines = [json.dumps(csn_hub_row(k * per_shard + i)) for i in range(per_shard)]
        (root / "data" / f"train-{k:05d}-of-{shards:05d}.jsonl").write_text("\n".join(lines) + "\n")
    (root / "data" / "test-00000-of-00001.jsonl").write_text(json.dumps(csn_hub_row(99)) + "\n")
    return root


def test_json_folder_streams_through_load_dataset_one_unit_per_file(tmp_path):
    root = make_json_dir(tmp_path / "js")
    units = resolve_spec(f"hf:{root}")
    assert [(u.hub.fmt, u.hub.index, u.hub.num_shards) for u in units] == [
        ("stream", k, 3) for k in range(3)
    ]
    records, _ = read(f"hf:{root}")
    assert [r.func_name for r in records] == [f"Abs{i}" for i in range(9)]
    assert records[4].partition == "train"
    assert beam_matches_read_source(f"hf:{root}") == 3
    assert [r.func_name for r in read(f"hf:{root}:train[2:5]")[0]] == ["Abs2", "Abs3", "Abs4"]
    assert [r.func_name for r in read(f"hf:{root}:test")[0]] == ["Abs99"]
    with pytest.raises(
        SourceError, match=r"unknown split 'validation'; available splits: train, test$"
    ):
        resolve_spec(f"hf:{root}:validation")
    with pytest.raises(SourceError, match=r"unknown config 'python'; available configs: default$"):
        resolve_spec(f"hf:{root}:python")


def test_without_streaming_the_split_is_downloaded_then_read(tmp_path):
    root = make_json_dir(tmp_path / "js")
    config = SourceConfig(hf_streaming=False)
    assert [r.func_name for r in read_source(f"hf:{root}", config)] == [f"Abs{i}" for i in range(9)]
    assert [r.func_name for r in read_source(f"hf:{root}:train[2:5]", config)] == [
        "Abs2",
        "Abs3",
        "Abs4",
    ]


class FakeHub:
    """Test double of ``datasets.load_dataset`` for Hub ids (the Hub cannot be reached here).

    It returns real ``IterableDataset``s built from generators, one generator shard per entry
    of ``shards``, like a Hub dataset streamed from several files; a shard whose rows contain
    the string ``"BOOM"`` raises there, as a broken download would. Configs: ``go`` only.
    """

    def __init__(self, shards: list[list[dict]]) -> None:
        self.shards = shards
        self.calls: list[tuple] = []
        self.revisions: list[str | None] = []

    @staticmethod
    def _rows(shard: list[list[dict]]):
        for rows in shard:
            for row in rows:
                if row == "BOOM":
                    raise ConnectionError("connection reset by peer")
                yield row

    def __call__(self, name, config=None, split=None, streaming=False, **kwargs):
        self.calls.append((name, config, split, streaming))
        self.revisions.append(kwargs.get("revision"))
        if config not in (None, "go"):
            raise ValueError(f"BuilderConfig '{config}' not found. Available: ['go']")
        if split != "train":
            raise ValueError(f"Bad split: {split}. Available splits: ['train']")
        return datasets.IterableDataset.from_generator(
            self._rows, gen_kwargs={"shard": self.shards}
        )


def test_hub_stream_is_read_shard_by_shard_with_a_broken_shard(monkeypatch):
    shards = [
        [csn_hub_row(0), csn_hub_row(1)],
        [csn_hub_row(2), "BOOM", csn_hub_row(3)],
        [csn_hub_row(4)],
    ]
    hub = FakeHub(shards)
    monkeypatch.setattr(datasets, "load_dataset", hub)
    monkeypatch.setattr(datasets, "get_dataset_config_names", lambda name: ["go"])
    spec = "hf:code-search-net/code_search_net:go:train"
    units = resolve_spec(spec)
    assert [(u.hub.index, u.hub.num_shards) for u in units] == [(0, 3), (1, 3), (2, 3)]
    records, stats = read(spec)
    assert [r.func_name for r in records if isinstance(r, SourcePair)] == [
        "Abs0",
        "Abs1",
        "Abs2",
        "Abs4",
    ]
    (bad,) = [r for r in records if isinstance(r, RejectedRow)]
    assert bad.reason == "read_error"
    assert bad.detail.startswith("hf:code-search-net/code_search_net:go:train:shard 1:row 2: ")
    assert "ConnectionError: connection reset by peer" in bad.detail
    assert hub.calls[0] == ("code-search-net/code_search_net", "go", "train", True)
    assert beam_matches_read_source(spec) == 3
    with pytest.raises(SourceError, match=r"unknown config 'java'; available configs: go$"):
        resolve_spec("hf:code-search-net/code_search_net:java:train")


class FakeHfApi:
    """Test double of ``huggingface_hub.HfApi`` (the Hub cannot be reached here): every
    revision of every dataset currently points at ``SHA``."""

    SHA = "5f" * 20
    asked: list[tuple] = []

    def dataset_info(self, name, revision=None):
        self.asked.append((name, revision))
        return type("DatasetInfo", (), {"sha": self.SHA})()


def test_hub_stream_is_pinned_to_one_commit_that_every_shard_reads(monkeypatch):
    import huggingface_hub

    hub = FakeHub([[csn_hub_row(0)], [csn_hub_row(1)], [csn_hub_row(2)]])
    monkeypatch.setattr(datasets, "load_dataset", hub)
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHfApi)
    FakeHfApi.asked = []
    spec = "hf:org/ds@v1.0:go:train"
    assert (
        parse_hf_spec(spec[3:]).revision == "v1.0" and parse_hf_spec("org/ds:go").revision is None
    )
    units = resolve_spec(spec)
    assert FakeHfApi.asked == [("org/ds", "v1.0")]
    assert [u.hub.revision for u in units] == [FakeHfApi.SHA] * 3
    records, _ = read(spec)
    assert [r.func_name for r in records] == ["Abs0", "Abs1", "Abs2"]
    assert set(hub.revisions) == {FakeHfApi.SHA}  # resolving and all three shards read one commit
    with pytest.raises(SourceError, match="NAME@REVISION"):
        parse_hf_spec("org/ds@")


def test_unreachable_hub_is_a_source_error_before_anything_runs():
    with pytest.raises(SourceError, match="cannot load Hub dataset 'no-such-org/no-such-set'"):
        resolve_spec("hf:no-such-org/no-such-set:train")


# --- command lines -----------------------------------------------------------------------------


def test_sources_cli_reports_rows_per_second(tmp_path, capsys):
    from pipeline.sources.__main__ import main

    path = save(tmp_path / "saved", [csn_hub_row(i) for i in range(6)], num_shards=2)
    assert main([f"hf:{path}"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["total"] == summary["kept"] == 6 and summary["rows_per_s"] > 0
    assert main([f"hf:{path}:nope:train"]) == 2
    assert "unknown config 'nope'" in capsys.readouterr().err


def test_pipeline_run_reads_a_saved_dataset(tmp_path):
    from pipeline.run import main

    path = save(tmp_path / "saved", [csn_hub_row(i, "python") for i in range(2)], num_shards=2)
    out = tmp_path / "out"
    assert (
        main(
            [
                "--runner=DirectRunner",
                f"--source=hf:{path}",
                "--translator=py2many",
                "--target_languages=go",
                "--sandbox=none",
                "--decontaminate=",
                f"--output={out}",
            ]
        )
        == 0
    )
    stats = json.loads((out / "stats.json").read_text())
    assert stats["accounting"]["balanced"] and stats["accounting"]["source_rows"] == 2
    assert stats["accounting"]["pairs"] == 2
