"""Path-taking sources on an object store: ``csn:``, ``parquet:`` and ``synthconl:`` URLs read
from a real S3-compatible server (moto's, on 127.0.0.1) through Beam's S3 filesystem give
exactly the records the same files give on a local disk (files, prefixes and globs alike), and
a URL that names nothing, or a ``repo:`` URL, stops the run with a clear message."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.sources import SourceError, SourceStats, read_source, resolve_spec
from tests.pipeline.test_sources_readers import csn_row, release_table, write_jsonl


def _tree(root):
    """Local input files: CSN JSONL (one gzipped, one with a bad line), parquet, SynthCoNL."""
    (root / "csn" / "python").mkdir(parents=True)
    (root / "csn" / "java").mkdir(parents=True)
    write_jsonl(
        root / "csn" / "python" / "a.jsonl.gz",
        [csn_row(), csn_row(func_name="inc2", path="t/b.py")],
        gz=True,
    )
    java = "public static int inc(int x) {\n    return x + 1;\n}\n"
    write_jsonl(
        root / "csn" / "java" / "b.jsonl",
        [csn_row(language="java", code=java, original_string=java, path="Num.java"), "{not json"],
    )
    (root / "csn" / "notes.txt").write_text("not an input")
    (root / "pq").mkdir()
    pq.write_table(
        pa.Table.from_pylist([csn_row(), csn_row(func_name="dec", path="t/d.py")]),
        root / "pq" / "part-0.parquet",
    )
    (root / "syn").mkdir()
    release_table(root / "syn")
    return root


def _upload(s3, root) -> str:
    bucket = s3.new_bucket()
    client = s3.client()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        client.put_object(
            Bucket=bucket, Key=path.relative_to(root).as_posix(), Body=path.read_bytes()
        )
    return f"s3://{bucket}"


def _read(spec: str) -> tuple[list, dict]:
    stats = SourceStats()
    return list(read_source(spec, stats=stats)), stats.as_dict()


@pytest.fixture()
def trees(s3, tmp_path):
    root = _tree(tmp_path / "local")
    return root, _upload(s3, root)


@pytest.mark.parametrize(
    "rel",
    [
        "csn:{}/csn/",  # a prefix: searched like a directory, by suffix
        "csn:{}/csn/*/*.jsonl*",  # a glob: '*' stays within one level
        "csn:{}/csn/python/a.jsonl.gz",  # one object (gzip found by its magic bytes)
        "parquet:{}/pq/*.parquet",
        "synthconl:{}/syn",
    ],
)
def test_an_s3_url_reads_what_the_same_local_files_give(trees, rel):
    root, url = trees
    local_records, local_stats = _read(rel.format(root))
    s3_records, s3_stats = _read(rel.format(url))
    assert s3_records == local_records and s3_stats == local_stats
    assert local_stats["kept"] >= 1


def test_s3_units_are_urls_and_bad_lines_are_rejected_with_their_object_and_line(trees):
    _, url = trees
    units = resolve_spec(f"csn:{url}/csn/")
    assert [u.location for u in units] == [
        f"{url}/csn/java/b.jsonl",
        f"{url}/csn/python/a.jsonl.gz",
    ]
    records, stats = _read(f"csn:{url}/csn/**.jsonl*")  # Beam glob: "**" crosses levels
    assert stats["dropped_malformed_json"] == 1
    (bad,) = [r for r in records if getattr(r, "reason", None) == "malformed_json"]
    assert bad.detail.startswith("b.jsonl:2: not JSON")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("csn:{}/nothing/", "no such file, directory or prefix"),
        ("csn:{}/csn/*.parquet", "no files match"),
        ("csn:{}/pq/", "no .jsonl/.jsonl.gz"),
        ("synthconl:{}/pq/part-0.parquet", "not a synthconl table"),
        ("repo:{}/checkouts", "object store keeps no checkout"),
    ],
)
def test_an_unusable_s3_url_stops_the_run_with_a_clear_message(trees, spec, message):
    _, url = trees
    with pytest.raises(SourceError, match=message):
        resolve_spec(spec.format(url))
