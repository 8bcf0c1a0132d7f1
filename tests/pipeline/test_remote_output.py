"""The whole pipeline on an S3 bucket: inputs, outputs and caches on a real S3-compatible
server (moto's, on 127.0.0.1), reached through Beam's own S3 filesystem and its
``--s3_endpoint_url`` flags on the launcher and on every worker.

A second run over the same output, with two worker processes, reuses every translation and
verdict the first run stored in ``s3://.../cache`` and gives the same rows.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil

import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystems import FileSystems

from pipeline.run import main
from pipeline.sinks import list_files
from pipeline.sources import SAMPLE_PATH
from pipeline.translate import TranslationCache
from pipeline.verdict_cache import VerdictCache

SANDBOX = "--sandbox=bwrap" if shutil.which("bwrap") else "--sandbox=none"


def _sample_rows() -> list[str]:
    """16 Python rows of the bundled sample (py2many translates them) and 2 Java rows (which
    it cannot: rejected, so the rejected path runs too)."""
    lines = SAMPLE_PATH.read_text(encoding="utf-8").splitlines()
    python = [line for line in lines if json.loads(line)["language"] == "python"][:16]
    java = [line for line in lines if json.loads(line)["language"] == "java"][:2]
    return python + java


def _upload_input(s3, bucket: str) -> str:
    """The input as two objects under ``in/`` (one gzipped) and a file the reader must skip."""
    rows = _sample_rows()
    client = s3.client()
    client.put_object(
        Bucket=bucket, Key="in/part-0.jsonl.gz", Body=gzip.compress("\n".join(rows[:9]).encode())
    )
    client.put_object(Bucket=bucket, Key="in/part-1.jsonl", Body="\n".join(rows[9:]).encode())
    client.put_object(Bucket=bucket, Key="in/README.txt", Body=b"not an input")
    return f"s3://{bucket}/in/"


def _released(store: str) -> list[tuple]:
    rows = []
    for shard in list_files(f"{store}/data", "*.parquet"):
        with FileSystems.open(shard) as f:
            table = pq.read_table(io.BytesIO(f.read()))
        rows += [
            (r["pair_id"], r["language2"], r["func2"], r["split"], r["exec_status"])
            for r in table.to_pylist()
        ]
    return sorted(rows)


def _stats(store: str) -> dict:
    with FileSystems.open(f"{store}/stats.json") as f:
        return json.loads(f.read())


@pytest.mark.slow
def _execute_counters(counters: dict) -> dict:
    return {k: v for k, v in sorted(counters.items()) if k.startswith("execute/")}


def test_s3_run_then_a_two_worker_rerun_reuses_every_generation_and_verdict(s3):
    bucket = s3.new_bucket()
    source = _upload_input(s3, bucket)
    store = f"s3://{bucket}/out"
    argv = [
        "--runner=DirectRunner",
        "--target_languages=go",
        SANDBOX,
        "--decontaminate=",
        f"--source=csn:{source}",
        f"--output={store}",
        *s3.beam_flags,
    ]

    assert main(argv) == 0
    shards = list_files(f"{store}/data", "*.parquet")
    assert [s.rsplit("/", 1)[1] for s in shards] == [
        "test-00000-of-00001.parquet",
        "train-00000-of-00001.parquet",
        "validation-00000-of-00001.parquet",
    ]
    first = _stats(store)
    released_first = _released(store)
    assert first["accounting"]["balanced"] and first["accounting"]["source_rows"] == 18
    assert first["released_rows"] == len(released_first) > 0
    assert s3.keys(bucket, "out/README.md") == ["out/README.md"]
    assert list_files(f"{store}/.staging", "**") == [], "staging cleaned after publishing"
    assert s3.keys(bucket, "out/cache/translations/"), (
        "the caches default to OUTPUT/cache, on S3 too"
    )

    # What the first run stored, as any worker reads it from the bucket.
    translations = TranslationCache(f"{store}/cache/translations")
    verdicts = VerdictCache(f"{store}/cache/verdicts")
    stored_translations, stored_verdicts = len(translations), len(verdicts)
    translations.close()
    verdicts.close()
    assert stored_translations > 0
    c1 = first["metrics"]["counters"]

    assert main([*argv, "--direct_running_mode=multi_processing", "--direct_num_workers=2"]) == 0
    second = _stats(store)
    c2 = second["metrics"]["counters"]
    assert c2["translate/cache_hits"] == stored_translations, "every stored generation reused"
    assert (
        c2.get("translate/cache_misses", 0) == c1["translate/cache_misses"] - stored_translations
    )  # transient only
    if SANDBOX != "--sandbox=none":
        assert stored_verdicts > 0
        lost = c1.get("execute/status_sandbox_error", 0)  # not stored, so run again
        assert c2.get("execute/cache_hits", 0) == c2["execute/total"] - lost > 0, (
            f"every verdict reused; first run {_execute_counters(c1)}, second {_execute_counters(c2)}"
        )
    # The launcher merged the first run's shards into one per cache before the workers
    # started; the second run recomputed nothing, so it wrote no shard.
    if c2.get("translate/cache_misses", 0) == 0:
        assert len(s3.keys(bucket, "out/cache/translations/")) == 1
    assert second["accounting"]["balanced"]
    assert _released(store) == released_first, "the same rows, replacing the first run's shards"
