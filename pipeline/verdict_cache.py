"""A verdict cache shared by every worker: a re-run never recomputes a verdict it has.

Keyed by the sha256 of (program text, tests, language, toolchain version), so a changed
harness, test set or compiler gives a new key and a stale verdict is never reused. One
sqlite file in ``cache_dir`` in WAL mode, written in short transactions, so several worker
processes (Beam's multi-processing runner) can read and write it at once. A URL ``cache_dir``
(``s3://``, ``gs://``, ``hdfs://``) keeps the verdicts as shards any worker of a cluster
reads, with the sqlite file as a local working copy (``pipeline/cache_store.py``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from pipeline.cache_store import SharedShards, is_shared

_SCHEMA = "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"


def cache_key(*parts: str) -> str:
    """sha256 over the parts, each length-prefixed so no two part lists collide."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


class VerdictCache:
    """``get(key) -> dict | None`` and ``put(key, value)``; ``path=None`` keeps nothing."""

    FILE_NAME = "verdicts.sqlite"

    def __init__(self, cache_dir: str | Path | None) -> None:
        self._conn: sqlite3.Connection | None = None
        self.path: Path | None = None
        # A URL cache_dir: a local working copy of the shards every worker shares.
        self._shared = SharedShards(str(cache_dir), "verdicts") if is_shared(cache_dir) else None
        if self._shared:
            cache_dir = self._shared.local_dir
        if cache_dir is not None:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            self.path = Path(cache_dir) / self.FILE_NAME
            self._conn = sqlite3.connect(
                self.path, timeout=60.0, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)
            if self._shared:
                self._shared.load_into(self._conn)
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        if self._conn is None:
            self.misses += 1
            return None
        row = self._conn.execute("SELECT value FROM verdicts WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The cached values among ``keys`` (one query per 500 keys). On a shared store, a
        miss first loads the shards written since this worker listed (``SharedShards.refresh``)."""
        found = self._select(keys)
        if self._shared and len(found) < len(set(keys)) and self._shared.refresh(self._conn):
            found |= self._select([k for k in keys if k not in found])  # written since we listed
        self.hits += sum(k in found for k in keys)
        self.misses += sum(k not in found for k in keys)
        return found

    def _select(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        if self._conn is not None:
            unique = list(dict.fromkeys(keys))
            for i in range(0, len(unique), 500):
                chunk = unique[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for key, value in self._conn.execute(
                    f"SELECT key, value FROM verdicts WHERE key IN ({marks})", chunk
                ):
                    found[key] = json.loads(value)
        return found

    def put_many(self, items: dict[str, dict[str, Any]]) -> None:
        """Store values in one short transaction (first writer wins on a race: same value)."""
        if self._conn is None or not items:
            return
        now = time.time()
        rows = [(k, json.dumps(v, sort_keys=True), now) for k, v in items.items()]
        if self._shared:  # on the shared store before the working copy has them
            self._shared.write(self._conn, rows, columns=("key", "value", "created"))
        for attempt in range(5):
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany(
                    "INSERT OR IGNORE INTO verdicts (key, value, created) VALUES (?, ?, ?)", rows
                )
                self._conn.execute("COMMIT")
                return
            except sqlite3.OperationalError:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.put_many({key: value})

    def __len__(self) -> int:
        if self._conn is None:
            return 0
        return self._conn.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._shared:
            self._shared.close()
