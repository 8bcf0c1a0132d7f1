"""Caches a cluster shares (``pipeline/cache_store.py``): the translation and verdict caches on
a real S3-compatible server (moto's, on 127.0.0.1, through Beam's S3 filesystem), and the
guarantees workers rely on: what one worker stored, another reads; concurrent writers and
compaction lose nothing; a damaged shard costs only its unreadable part; a local path keeps
the single-machine SQLite cache."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from pipeline.cache_store import (
    SharedShards,
    compact,
    is_shared,
    list_shards,
    shard_name,
    write_shard,
)
from pipeline.translate import TranslationCache, TranslationRequest
from pipeline.translate.base import Reason, TranslationFailure
from pipeline.verdict_cache import VerdictCache
from schemas import SourcePair, Translation

IDENT = ("py2many:0.9", "none", "{}")  # translator, prompt version, sampling (cache key parts)


def _pair(i: int) -> SourcePair:
    code = f'def scale_{i}(x: int) -> int:\n    """Scale by {i}."""\n    return x * {i}\n'
    return SourcePair.create(
        repository_name=f"octo/r{i}",
        func_path_in_repository="m.py",
        func_name=f"scale_{i}",
        language="python",
        code=code,
        docstring=f"Scale by {i}.",
    )


def _translation(request: TranslationRequest, code: str) -> Translation:
    return Translation(
        pair_id=request.pair.pair_id,
        target_language=request.target_language,
        code=code,
        translator=IDENT[0],
        prompt_version=IDENT[1],
        sampling=IDENT[2],
        attempt=request.attempt,
    )


def _load_verdict_rows(location: str, shared: SharedShards | None = None) -> list[tuple[str, str]]:
    """(key, value) of every verdict row the shards at ``location`` hold, as a worker loads them."""
    shared = shared or SharedShards(location, "verdicts")
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute(
        "CREATE TABLE verdicts (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"
    )
    shared.load_into(db)
    shared.close()
    return db.execute("SELECT key, value FROM verdicts ORDER BY key").fetchall()


def test_a_local_path_keeps_the_sqlite_cache(tmp_path):
    assert not is_shared(tmp_path) and not is_shared(None) and is_shared("s3://bucket/cache")
    verdicts = VerdictCache(tmp_path / "verdicts")
    verdicts.put_many({"k": {"exec_status": "passed"}})
    verdicts.close()
    translations = TranslationCache(tmp_path / "translations")
    translations.close()
    assert (tmp_path / "verdicts" / "verdicts.sqlite").is_file()
    assert (tmp_path / "translations" / "translations.sqlite").is_file()
    assert VerdictCache(tmp_path / "verdicts").get("k") == {"exec_status": "passed"}


def test_verdicts_one_worker_stored_are_read_by_another(s3):
    bucket = s3.new_bucket()
    location = f"s3://{bucket}/out/cache/verdicts"
    first = VerdictCache(location)
    first.put_many({f"key{i}": {"exec_status": "passed", "tests_passed": i} for i in range(5)})
    first.put_many({"key9": {"exec_status": "failed", "tests_passed": 0}})
    working_copy = first.path
    first.close()
    assert not working_copy.exists(), "the working copy is a temp file, removed on close"
    assert len(s3.keys(bucket, "out/cache/verdicts/")) == 2, "one shard per store call"

    second = VerdictCache(location)  # another worker, later: a fresh working copy
    assert second.path != working_copy
    assert second.get_many([f"key{i}" for i in range(5)] + ["key9", "absent"]) == {
        **{f"key{i}": {"exec_status": "passed", "tests_passed": i} for i in range(5)},
        "key9": {"exec_status": "failed", "tests_passed": 0},
    }
    assert (second.hits, second.misses) == (6, 1)
    second.close()


def test_a_miss_finds_what_another_worker_stored_after_this_one_started(s3):
    """A worker lists the store when it starts; a key it lacks may have been stored since
    (a sibling worker, or a listing that came back short on a loaded store): before the
    caller pays to recompute it, the cache loads the newer shards."""
    bucket = s3.new_bucket()
    verdicts_at = f"s3://{bucket}/cache/verdicts"
    early, late = VerdictCache(verdicts_at), VerdictCache(verdicts_at)
    late.put_many({"k1": {"exec_status": "passed"}})
    assert early.get_many(["k1", "k2"]) == {"k1": {"exec_status": "passed"}}
    assert (early.hits, early.misses) == (1, 1)
    assert early.get_many(["k2"]) == {} and len(early) == 1
    early.close(), late.close()

    translations_at = f"s3://{bucket}/cache/translations"
    request = TranslationRequest(_pair(1), "go")
    early, late = TranslationCache(translations_at), TranslationCache(translations_at)
    late.put_many([(request, _translation(request, "package main\n"))], *IDENT)
    (got,) = early.get_many([request], *IDENT)
    assert isinstance(got, Translation) and got.code == "package main\n"
    early.close(), late.close()


def test_translations_and_stored_failures_are_shared_transient_ones_are_not(s3):
    bucket = s3.new_bucket()
    location = f"s3://{bucket}/cache/translations"
    requests = [TranslationRequest(_pair(i), "go") for i in range(3)]
    results = [
        _translation(requests[0], "package main\nfunc Scale0(x int) int { return 0 }\n"),
        TranslationFailure(
            requests[1], Reason.UNSUPPORTED_SOURCE_LANGUAGE, "no such source", None, *IDENT
        ),
        TranslationFailure(requests[2], Reason.REQUEST_FAILED, "connection refused", None, *IDENT),
    ]
    # What the cache keeps is the translate stage's call (TranslationFailure.transient).
    kept = [isinstance(r, Translation) or not r.transient for r in results]
    assert kept[0] and kept[1] and not kept[2]
    first = TranslationCache(location)
    assert first.put_many(zip(requests, results, strict=True), *IDENT) == sum(kept)
    first.close()

    again = TranslationCache(location)
    got = again.get_many(requests, *IDENT)
    assert isinstance(got[0], Translation) and got[0].code == results[0].code
    assert (
        isinstance(got[1], TranslationFailure)
        and got[1].reason == Reason.UNSUPPORTED_SOURCE_LANGUAGE
    )
    assert got[2] is None, "a transient failure is retried by the next run"
    assert len(again) == sum(kept)
    again.close()


def _write_batches(location: str, worker: int, batches: int, flags: list[str]) -> None:
    """One writer process: ``batches`` store calls into the shared verdict cache."""
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    FileSystems.set_options(PipelineOptions(flags))
    cache = VerdictCache(location)
    for b in range(batches):
        cache.put_many(
            {f"w{worker}-b{b}-{i}": {"worker": worker, "batch": b, "i": i} for i in range(20)}
        )
    cache.close()


def test_concurrent_writers_and_a_compaction_lose_nothing(s3):
    """Two processes write at once while the launcher compacts: every entry survives."""
    bucket = s3.new_bucket()
    location = f"s3://{bucket}/cache/verdicts"
    _write_batches(location, worker=9, batches=2, flags=s3.beam_flags)  # an earlier run's shards
    ctx = multiprocessing.get_context("spawn")
    writers = [
        ctx.Process(target=_write_batches, args=(location, w, 2, s3.beam_flags)) for w in range(2)
    ]
    for w in writers:
        w.start()
    compact(location)  # meanwhile: merges whatever it lists, deletes only what it merged
    for w in writers:
        w.join()
        assert w.exitcode == 0
    reader = VerdictCache(location)
    expected = {
        f"w{w}-b{b}-{i}": {"worker": w, "batch": b, "i": i}
        for w in (0, 1, 9)
        for b in range(2)
        for i in range(20)
    }
    assert reader.get_many(list(expected)) == expected
    assert reader._shared.shards_damaged == 0
    reader.close()
    done = compact(location)
    assert list_shards(location) == [
        f"s3://{bucket}/{k}" for k in s3.keys(bucket, "cache/verdicts/")
    ]
    assert len(list_shards(location)) == 1 and done.rows == len(expected)


def test_compaction_keeps_the_newest_row_of_a_key_and_the_newest_time(tmp_path):
    location = str(tmp_path / "cache")
    write_shard(
        f"{location}/{shard_name('20260101T000000')}",
        [{"key": "a", "value": "old", "created": 1.0}, {"key": "b", "value": "b", "created": 1.0}],
    )
    write_shard(
        f"{location}/{shard_name('20260102T000000')}",
        [{"key": "a", "value": "new", "created": 2.0}],
    )
    done = compact(location)
    assert (done.shards, done.merged, done.rows, done.undeleted) == (2, 2, 2, 0)
    (merged,) = list_shards(location)
    assert Path(merged).name.startswith("20260102T000000-merged-")
    assert not list(Path(location).glob("*.partial")), "written under a temp name, then renamed"
    assert _load_verdict_rows(location) == [("a", "new"), ("b", "b")]
    assert compact(location).merged == 0, "one shard: nothing to do"


def test_a_damaged_shard_gives_the_rows_before_the_break(s3):
    bucket = s3.new_bucket()
    location = f"s3://{bucket}/cache/verdicts"
    good = [{"key": f"k{i}", "value": json.dumps({"i": i}), "created": 0.0} for i in range(50)]
    write_shard(f"{location}/{shard_name('20260101T000000')}", good[:10])
    body = gzip.compress("".join(json.dumps(r) + "\n" for r in good[10:]).encode())
    client = s3.client()
    client.put_object(
        Bucket=bucket,
        Key=f"cache/verdicts/{shard_name('20260102T000000')}",
        Body=body[: len(body) // 2],
    )
    client.put_object(
        Bucket=bucket,
        Key=f"cache/verdicts/{shard_name('20260103T000000')}",
        Body=b"not gzip at all",
    )
    cache = VerdictCache(location)
    shared = cache._shared
    assert shared.shards_read == 3 and shared.shards_damaged == 2
    found = cache.get_many([r["key"] for r in good])
    assert {f"k{i}" for i in range(10)} <= set(found), "the good shard is whole"
    assert 10 < len(found) < 50, "the truncated shard gives its first rows, and only whole ones"
    assert all(found[k] == {"i": int(k[1:])} for k in found)
    cache.close()


def test_rows_the_working_copy_refuses_are_skipped_and_counted(tmp_path):
    location = str(tmp_path / "cache")
    write_shard(
        f"{location}/{shard_name()}",
        [
            {"key": "ok", "value": "{}", "created": 0.0},
            {"key": "no-value", "created": 0.0},  # the verdicts table's value is NOT NULL
            {"key": "extra", "value": "{}", "created": 0.0, "column_from_a_newer_version": 1},
        ],
    )
    shared = SharedShards(location, "verdicts")
    assert [k for k, _ in _load_verdict_rows(location, shared)] == ["extra", "ok"]
    assert shared.rows_skipped == 1 and shared.rows_loaded == 2


def test_a_shard_merged_away_while_loading_is_found_in_the_merged_one(tmp_path, monkeypatch):
    """A worker listed a shard that compaction then merged and deleted: it lists again."""
    import pipeline.cache_store as store

    location = str(tmp_path / "cache")
    write_shard(
        f"{location}/{shard_name('20260101T000000')}", [{"key": "a", "value": "{}", "created": 0.0}]
    )
    write_shard(
        f"{location}/{shard_name('20260102T000000')}", [{"key": "b", "value": "{}", "created": 0.0}]
    )
    stale = store.list_shards(location)
    compact(location)
    listings = iter([stale])
    real = store.list_shards
    monkeypatch.setattr(store, "list_shards", lambda loc: next(listings, None) or real(loc))
    shared = SharedShards(location, "verdicts")
    assert [k for k, _ in _load_verdict_rows(location, shared)] == ["a", "b"]
    assert shared.rows_loaded == 2


def test_an_unreachable_store_fails_loudly(s3):
    """A bucket that does not exist is an error at write time, not a silently empty cache."""
    cache = VerdictCache("s3://no-such-bucket-codetrans/cache/verdicts")
    with pytest.raises(Exception):  # noqa: B017 - Beam wraps boto's error in its own IOError
        cache.put_many({"k": {"exec_status": "passed"}})
    cache.close()
