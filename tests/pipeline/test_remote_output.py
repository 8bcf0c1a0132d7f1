"""``--output`` on an object store: the whole run writes and publishes through Beam's
FileSystems (here a stand-in object store, ``objtest://``; GCS/S3 cannot be reached)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystems import FileSystems

from pipeline.run import main
from pipeline.sinks import list_files
from tests.pipeline import objstore_standin


@pytest.fixture()
def store(tmp_path):
    objstore_standin.BASE["dir"] = str(tmp_path / "bucket-root")
    return "objtest://bucket/codetrans/run1"


def test_run_writes_dataset_stats_and_card_to_an_object_store(store, tmp_path):
    argv = ["--runner=DirectRunner", "--target_languages=go", "--sandbox=none", "--decontaminate=",
            f"--output={store}", f"--cache_dir={tmp_path / 'cache'}"]
    assert main(argv) == 0
    shards = list_files(f"{store}/data", "*.parquet")
    assert [s.rsplit("/", 1)[1] for s in shards] == [
        "test-00000-of-00001.parquet", "train-00000-of-00001.parquet", "validation-00000-of-00001.parquet"]
    with FileSystems.open(f"{store}/stats.json") as f:
        stats = json.loads(f.read())
    assert stats["accounting"]["balanced"]
    rows = 0
    for shard in shards:
        with FileSystems.open(shard) as f:
            rows += pq.read_table(f).num_rows
    assert rows == stats["released_rows"] > 0
    assert list_files(f"{store}/.staging", "**") == []  # staging cleaned after publishing
    # A second run replaces the published shards instead of adding to them.
    assert main(argv) == 0
    assert list_files(f"{store}/data", "*.parquet") == shards
