"""The translation cache: finished generations are stored once and never paid for again.

Keyed by (pair_id, target language, translator = backend:model, prompt version, sampling
JSON, attempt), so a change of model, prompt or sampling misses the cache and the old
entries stay valid for the old settings.

Storage: one SQLite file (``<cache_dir>/translations.sqlite``) in WAL mode. Why SQLite and
not parquet: entries arrive one batch at a time from several workers and must be durable as
soon as they are generated (a run killed halfway keeps every committed batch); lookups are
point queries by key; and concurrent writers on one machine (DirectRunner multi_processing)
are serialised by SQLite's locking. Parquet files are write-once: each batch would become a
small file to list and read back on every start, and a killed writer leaves a footer-less,
unreadable file. SQLite is not safe on network filesystems such as NFS or GCS FUSE: for a
cluster, a URL directory (``s3://``, ``gs://``, ``hdfs://``) keeps the entries as shards every
worker reads, with this SQLite file as a local working copy (``pipeline/cache_store.py``).

What is stored (``TranslationFailure.transient`` decides; ``put_many`` is the one place):

* successes, and deterministic failures (py2many cannot translate this, the reply was
  truncated or empty, ``prompt_too_long``, a request the server refuses with a 4xx): re-asking
  would give the same answer at the same cost;
* not transient failures (``request_failed``: the endpoint kept failing; ``inference_error``:
  a failed inference batch or a device error): a re-run retries them;
* never a configuration error (rejected API key, unknown model, a server that does not start):
  backends raise ``TranslatorConfigError`` instead of returning failures, the run stops before
  the batch is stored, and the re-run after the fix generates everything fresh.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from pipeline.cache_store import SharedShards, is_shared
from pipeline.translate.base import TranslationFailure, TranslationRequest
from schemas import Translation, dumps

FILE_NAME = "translations.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS translations (
    key TEXT PRIMARY KEY,
    pair_id TEXT NOT NULL,
    target_language TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    translator TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    sampling TEXT NOT NULL,
    ok INTEGER NOT NULL,
    code TEXT,
    raw_reply TEXT,
    reason TEXT,
    detail TEXT,
    latency_s REAL NOT NULL,
    created_at REAL NOT NULL
)
"""


def cache_key(
    request: TranslationRequest, translator: str, prompt_version: str, sampling: str
) -> str:
    """The cache key of one request under one translator/prompt/sampling setting.

    A repair request's key adds its round and a digest of the reply and feedback it carries
    (they come from earlier stages, not from the pair), and its prompt version names the
    feedback template (``TranslationRequest.prompt_version``).
    """
    parts = [
        request.pair.pair_id,
        request.target_language,
        translator,
        request.prompt_version(prompt_version),
        sampling,
        request.attempt,
    ]
    if request.repair_round:
        parts += [request.repair_round, request.conversation_digest()]
    return dumps(parts)


class TranslationCache:
    """A durable map from cache key to ``Translation`` or (non-transient) ``TranslationFailure``.

    Open one per worker (in ``DoFn.setup``); it is not picklable. ``hits``/``misses`` count
    lookups since opening.
    """

    def __init__(self, directory: str | Path) -> None:
        # A URL directory: a local working copy of the shards every worker shares.
        self._shared = (
            SharedShards(str(directory), "translations") if is_shared(directory) else None
        )
        path = self._shared.local_dir if self._shared else Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self.path = path / FILE_NAME
        self._db = sqlite3.connect(
            self.path, timeout=120.0, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        if self._shared:
            self._shared.load_into(self._db)
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM translations").fetchone()[0])

    def _select(self, keys: list[str]) -> dict[str, tuple]:
        found: dict[str, tuple] = {}
        for start in range(0, len(keys), 500):  # SQLite's host-parameter limit
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT key, ok, code, raw_reply, reason, detail, latency_s FROM translations WHERE key IN ({marks})",
                chunk,
            ):
                found[row[0]] = row
        return found

    def get_many(
        self,
        requests: list[TranslationRequest],
        translator: str,
        prompt_version: str,
        sampling: str,
    ) -> list[Translation | TranslationFailure | None]:
        """The stored result of each request, or None where nothing is stored (same order). On a
        shared store, a miss first loads the shards written since this worker listed."""
        keys = [cache_key(r, translator, prompt_version, sampling) for r in requests]
        found = self._select(keys)
        if self._shared and len(found) < len(set(keys)) and self._shared.refresh(self._db):
            found |= self._select([k for k in keys if k not in found])  # written since we listed
        out: list[Translation | TranslationFailure | None] = []
        for request, key in zip(requests, keys, strict=True):
            row = found.get(key)
            if row is None:
                self.misses += 1
                out.append(None)
                continue
            self.hits += 1
            _, ok, code, raw_reply, reason, detail, latency_s = row
            if ok:
                out.append(
                    Translation(
                        pair_id=request.pair.pair_id,
                        target_language=request.target_language,
                        code=code,
                        translator=translator,
                        prompt_version=request.prompt_version(prompt_version),
                        sampling=sampling,
                        attempt=request.attempt,
                        latency_s=latency_s,
                        raw_reply=raw_reply,
                        repair_round=request.repair_round,
                        repair_of=request.repair_of,
                    )
                )
            else:
                out.append(
                    TranslationFailure(
                        request,
                        reason,
                        detail,
                        raw_reply,
                        translator,
                        prompt_version,
                        sampling,
                        latency_s,
                    )
                )
        return out

    def put_many(
        self,
        pairs: Iterable[tuple[TranslationRequest, Translation | TranslationFailure]],
        translator: str,
        prompt_version: str,
        sampling: str,
    ) -> int:
        """Store results (one transaction); transient failures are skipped. Returns rows stored."""
        rows = []
        now = time.time()
        for request, result in pairs:
            key = cache_key(request, translator, prompt_version, sampling)
            base = (
                key,
                request.pair.pair_id,
                request.target_language,
                request.attempt,
                translator,
                request.prompt_version(prompt_version),
                sampling,
            )
            if isinstance(result, Translation):
                rows.append(
                    (*base, 1, result.code, result.raw_reply, None, None, result.latency_s, now)
                )
            elif not result.transient:
                rows.append(
                    (
                        *base,
                        0,
                        None,
                        result.raw_reply,
                        result.reason,
                        result.detail,
                        result.latency_s,
                        now,
                    )
                )
        if rows:
            if self._shared:  # on the shared store before the working copy has them
                self._shared.write(self._db, rows)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO translations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(rows)

    def close(self) -> None:
        self._db.close()
        if self._shared:
            self._shared.close()
