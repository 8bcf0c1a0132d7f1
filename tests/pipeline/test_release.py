"""``python -m pipeline.release``: the dry run for real, the upload up to the Hub client."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.release import (
    DELETE_PATTERNS,
    ReleaseConfig,
    ReleaseError,
    load_back,
    main,
    stage_release,
)
from schemas import RELEASE_SCHEMA
from tests.pipeline.test_hub_metadata import FIXTURE_ROWS, make_output_dir, release_row


class StandInHfApi:
    """Test double for ``huggingface_hub.HfApi`` (the Hub cannot be reached from here).

    Records every call with its arguments; ``upload_folder`` also records the folder's file
    list at call time, since the release deletes its temporary folder afterwards.
    """

    def __init__(
        self, token: str, *, fail: bool = False, remote_files: tuple[str, ...] = ()
    ) -> None:
        self.token = token
        self.calls: list[tuple[str, tuple, dict]] = []
        self.uploaded_files: list[str] = []
        self.uploaded_card = ""
        self._fail = fail
        self._remote = remote_files

    def _record(self, name: str, args: tuple, kwargs: dict) -> None:
        self.calls.append((name, args, kwargs))

    def create_repo(self, *args, **kwargs):
        self._record("create_repo", args, kwargs)
        if self._fail:
            raise RuntimeError("401 Unauthorized")
        return f"https://huggingface.co/datasets/{args[0]}"

    def create_branch(self, *args, **kwargs):
        self._record("create_branch", args, kwargs)

    def _snapshot(self, folder: str) -> None:
        root = Path(folder)
        self.uploaded_files = sorted(
            str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
        )
        self.uploaded_card = (root / "README.md").read_text()

    def upload_folder(self, *args, **kwargs):
        self._record("upload_folder", args, kwargs)
        self._snapshot(kwargs["folder_path"])
        return "commit-info"

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def call(self, name: str) -> tuple[tuple, dict]:
        (match,) = [c for c in self.calls if c[0] == name]
        return match[1], match[2]


class StandInLargeHfApi(StandInHfApi):
    """Test double for a 0.25-1.x ``HfApi`` that still has ``upload_large_folder``."""

    def upload_large_folder(self, *args, **kwargs):
        self._record("upload_large_folder", args, kwargs)
        self._snapshot(kwargs["folder_path"])

    def list_repo_files(self, *args, **kwargs):
        self._record("list_repo_files", args, kwargs)
        return [*self.uploaded_files, *self._remote]

    def delete_files(self, *args, **kwargs):
        self._record("delete_files", args, kwargs)


@pytest.fixture()
def out_dir(tmp_path: Path) -> Path:
    return make_output_dir(tmp_path / "out")


def _stats(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())


def _set_stats(out: Path, **changes) -> None:
    stats = _stats(out)
    stats.update(changes)
    (out / "stats.json").write_text(json.dumps(stats))


def test_dry_run_builds_checks_and_loads_back(out_dir, tmp_path, capsys):
    stage = tmp_path / "stage"
    rc = main([str(out_dir), "--repo_id=acme/codetrans", "--dry_run", f"--staging_dir={stage}"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "release of run run0123abcd: 9 rows" in captured.out
    assert "train | 2 | 5 |" in captured.out
    assert "loaded back with datasets.load_dataset" in captured.out
    files = sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "data/test-00000-of-00001.parquet",
        "data/train-00000-of-00002.parquet",
        "data/train-00001-of-00002.parquet",
        "data/validation-00000-of-00001.parquet",
        "language_matrix.png",
        "stats.json",
    ]  # no rejected/, no cache/
    card = (stage / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["license"] == "other"  # kept from the pipeline's card
    assert [(s["name"], s["num_examples"]) for s in meta["dataset_info"]["splits"]] == [
        ("train", 5),
        ("validation", 2),
        ("test", 2),
    ]
    assert "# Fixture dataset" in card  # the body is kept


def test_loaded_features_match_the_contract(out_dir, tmp_path):
    import datasets

    stage = stage_release(out_dir, tmp_path / "stage", ReleaseConfig(out_dir, "acme/codetrans"))
    rows = load_back(stage, _stats(out_dir))
    assert rows == {"train": 5, "validation": 2, "test": 2}
    ds = datasets.load_dataset(str(stage), split="test", cache_dir=str(tmp_path / "cache"))
    assert ds.column_names == RELEASE_SCHEMA.names
    assert ds.features["attempt"] == datasets.Value("int32")
    assert ds.features["parse_ok"] == datasets.Value("bool")
    assert sorted(ds["pair_id"]) == ["pair0007", "pair0008"]


def test_load_back_catches_a_card_that_lies_about_split_sizes(out_dir, tmp_path):
    stage = stage_release(out_dir, tmp_path / "stage", ReleaseConfig(out_dir, "acme/codetrans"))
    card = (stage / "README.md").read_text().replace("num_examples: 5", "num_examples: 6")
    (stage / "README.md").write_text(card)
    with pytest.raises(ReleaseError, match="NonMatchingSplitsSizesError"):
        load_back(stage, _stats(out_dir))


def test_tampered_count_fails_with_a_clear_message(out_dir, capsys):
    _set_stats(out_dir, splits={"train": 6, "validation": 2, "test": 2})
    rc = main([str(out_dir), "--repo_id=acme/codetrans", "--dry_run"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "split train: 5 rows in the shards, stats.json says 6" in err
    assert "Traceback" not in err


def test_released_rows_total_is_checked(out_dir, capsys):
    _set_stats(out_dir, released_rows=10)
    assert main([str(out_dir), "--repo_id=acme/codetrans", "--dry_run"]) == 2
    assert "'released_rows' says 10" in capsys.readouterr().err


def _add_shard(out: Path, name: str, rows: list[dict], schema: pa.Schema = RELEASE_SCHEMA) -> None:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), out / "data" / name)


def test_pair_and_repository_leaking_across_splits_fail(out_dir, capsys):
    # Put a copy of a train row (same pair_id, same repository) into the test split.
    split, repo, src, tgt = FIXTURE_ROWS[0]
    row = release_row(0, "test", repo, src, tgt)
    (out_dir / "data" / "test-00000-of-00001.parquet").unlink()
    original = [release_row(i, *FIXTURE_ROWS[i]) for i in (7, 8)]
    _add_shard(out_dir, "test-00000-of-00001.parquet", [*original, row])
    _set_stats(out_dir, splits={"train": 5, "validation": 2, "test": 3}, released_rows=10)
    assert main([str(out_dir), "--repo_id=acme/codetrans", "--dry_run"]) == 2
    err = capsys.readouterr().err
    assert "pair_id pair0000 is in both train and test" in err
    assert "repository acme/alpha is in both train and test" in err


def test_wrong_schema_and_wrong_split_column_fail(out_dir, capsys):
    (out_dir / "data" / "validation-00000-of-00001.parquet").unlink()
    rows = [release_row(i, *FIXTURE_ROWS[i]) for i in (5, 6)]
    rows[0]["split"] = "train"
    bad = pa.schema(
        [f for f in RELEASE_SCHEMA if f.name != "dedup_cluster"]
    )  # no schema_version either
    for r in rows:
        r.pop("dedup_cluster")
    _add_shard(out_dir, "validation-00000-of-00001.parquet", rows, bad)
    assert main([str(out_dir), "--repo_id=acme/codetrans", "--dry_run"]) == 2
    err = capsys.readouterr().err
    assert "validation-00000-of-00001.parquet: columns/types differ" in err
    assert "schema_version None" in err
    assert "rows with split ['train'] in the validation shards" in err


def test_unreadable_shard_fails(out_dir, capsys):
    (out_dir / "data" / "test-00000-of-00001.parquet").write_bytes(b"not parquet")
    assert main([str(out_dir), "--repo_id=acme/codetrans", "--dry_run"]) == 2
    assert "test-00000-of-00001.parquet: unreadable parquet" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv_tail", "message"),
    [
        (["--repo_id=acme"], "ORG/NAME"),
        (["--repo_id=acme/codetrans"], "no Hub token: set HF_TOKEN"),
        (["--repo_id=acme/codetrans", "--token_env=MY_TOKEN"], "set MY_TOKEN"),
    ],
)
def test_usage_errors_exit_2(out_dir, capsys, monkeypatch, argv_tail, message):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("MY_TOKEN", raising=False)
    assert main([str(out_dir), *argv_tail]) == 2
    assert message in capsys.readouterr().err


def test_missing_directory_and_stats(tmp_path, capsys):
    assert main([str(tmp_path / "nope"), "--repo_id=a/b", "--dry_run"]) == 2
    assert "is not a directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "--repo_id=a/b", "--dry_run"]) == 2
    assert "stats.json not found" in capsys.readouterr().err


def test_upload_calls_the_client(out_dir, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    apis: list[StandInHfApi] = []

    def factory(token: str) -> StandInHfApi:
        apis.append(StandInHfApi(token))
        return apis[-1]

    rc = main([str(out_dir), "--repo_id=acme/codetrans", "--private"], api_factory=factory)
    assert rc == 0, capsys.readouterr().err
    (api,) = apis
    assert api.token == "hf_secret"
    assert api.names() == ["create_repo", "upload_folder"]
    args, kwargs = api.call("create_repo")
    assert args == ("acme/codetrans",)
    assert kwargs == {"repo_type": "dataset", "private": True, "exist_ok": True}
    _, kwargs = api.call("upload_folder")
    assert kwargs["repo_id"] == "acme/codetrans"
    assert kwargs["repo_type"] == "dataset"
    assert kwargs["revision"] is None
    assert "run0123abcd" in kwargs["commit_message"]
    assert kwargs["delete_patterns"] == list(DELETE_PATTERNS)
    assert api.uploaded_files == [
        "README.md",
        "data/test-00000-of-00001.parquet",
        "data/train-00000-of-00002.parquet",
        "data/train-00001-of-00002.parquet",
        "data/validation-00000-of-00001.parquet",
        "language_matrix.png",
        "stats.json",
    ]
    assert "path: data/train-*" in api.uploaded_card
    assert not Path(kwargs["folder_path"]).exists()  # the temporary release folder is cleaned up
    assert "uploaded to https://huggingface.co/datasets/acme/codetrans" in capsys.readouterr().out


def test_upload_to_a_branch_with_rejected_rows(out_dir, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    api = StandInHfApi("unused")
    rc = main(
        [str(out_dir), "--repo_id=acme/codetrans", "--revision=v1.0", "--include_rejected"],
        api_factory=lambda token: api,
    )
    assert rc == 0
    assert api.names() == ["create_repo", "create_branch", "upload_folder"]
    args, kwargs = api.call("create_branch")
    assert (
        args == ("acme/codetrans",)
        and kwargs["branch"] == "v1.0"
        and kwargs["repo_type"] == "dataset"
    )
    assert api.call("upload_folder")[1]["revision"] == "v1.0"
    assert "rejected/rejected-00000-of-00001.parquet" in api.uploaded_files


def test_large_upload_removes_stale_shards(out_dir, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    stale = ("data/train-00000-of-00009.parquet", "notes.txt")
    api = StandInLargeHfApi("unused", remote_files=stale)
    assert (
        main([str(out_dir), "--repo_id=acme/codetrans", "--large"], api_factory=lambda token: api)
        == 0
    )
    assert api.names() == ["create_repo", "upload_large_folder", "list_repo_files", "delete_files"]
    assert api.call("upload_large_folder")[1]["repo_type"] == "dataset"
    _, kwargs = api.call("delete_files")
    assert kwargs["delete_patterns"] == [
        "data/train-00000-of-00009.parquet"
    ]  # notes.txt is not ours
    assert "run0123abcd" in kwargs["commit_message"]


def test_large_flag_falls_back_to_upload_folder_on_new_clients(out_dir, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    api = StandInHfApi("unused")  # huggingface_hub 2.x: no upload_large_folder
    assert (
        main([str(out_dir), "--repo_id=acme/codetrans", "--large"], api_factory=lambda token: api)
        == 0
    )
    assert api.names() == ["create_repo", "upload_folder"]


def test_failed_upload_exits_1_without_traceback(out_dir, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    rc = main(
        [str(out_dir), "--repo_id=acme/codetrans"],
        api_factory=lambda token: StandInHfApi(token, fail=True),
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert "upload to acme/codetrans failed: RuntimeError: 401 Unauthorized" in err
    assert "Traceback" not in err


def test_card_keeps_extra_front_matter(out_dir, tmp_path):
    (out_dir / "README.md").write_text(
        "---\nlicense: apache-2.0\nsource_datasets:\n- code_search_net\ntags:\n- old\n---\n# Card\n"
    )
    stage = stage_release(out_dir, tmp_path / "stage", ReleaseConfig(out_dir, "acme/codetrans"))
    meta = yaml.safe_load((stage / "README.md").read_text().split("---\n")[1])
    assert meta["license"] == "apache-2.0"
    assert meta["source_datasets"] == ["code_search_net"]
    assert "old" not in meta["tags"]  # regenerated from the shards
    assert meta["pretty_name"] == "codetrans"


def test_staging_dir_must_be_empty(out_dir, tmp_path):
    (tmp_path / "stage").mkdir()
    (tmp_path / "stage" / "x").write_text("x")
    with pytest.raises(ReleaseError, match="not empty"):
        stage_release(out_dir, tmp_path / "stage", ReleaseConfig(out_dir, "acme/codetrans"))


def test_broken_card_yaml_is_a_clear_error(out_dir, capsys):
    (out_dir / "README.md").write_text("---\nlicense: [unclosed\n---\n# Card\n")
    assert main([str(out_dir), "--repo_id=acme/codetrans", "--dry_run"]) == 2
    assert "unreadable YAML front matter" in capsys.readouterr().err
    assert not list(out_dir.glob(".release-*"))  # the temporary folder is gone


def test_license_and_pretty_name_flags_set_the_hub_metadata(out_dir, tmp_path):
    stage = tmp_path / "stage"
    rc = main(
        [
            str(out_dir),
            "--repo_id=acme/codetrans",
            "--dry_run",
            f"--staging_dir={stage}",
            "--license=apache-2.0",
            "--pretty_name=CodeTrans Fixture",
        ]
    )
    assert rc == 0
    meta = yaml.safe_load((stage / "README.md").read_text().split("---\n")[1])
    assert (meta["license"], meta["pretty_name"]) == ("apache-2.0", "CodeTrans Fixture")
    # Without the flags: the pipeline card's license and the repository's name.
    plain = tmp_path / "plain"
    assert (
        main([str(out_dir), "--repo_id=acme/codetrans", "--dry_run", f"--staging_dir={plain}"]) == 0
    )
    meta = yaml.safe_load((plain / "README.md").read_text().split("---\n")[1])
    assert (meta["license"], meta["pretty_name"]) == ("other", "codetrans")
