"""Where the translation and verdict caches keep their entries, so that a cluster shares them.

A cache lives where ``--cache_dir`` says (default ``OUTPUT/cache``):

* **A local path: one SQLite file** (WAL mode, short transactions). The fast default for one
  machine: lookups are point queries, and the processes of one machine (the DirectRunner's
  ``multi_processing`` workers) share the file through SQLite's locks. SQLite must not sit
  on a network filesystem (NFS, GCS FUSE), where those locks do not hold.
* **A URL on any Beam filesystem** (``s3://``, ``gs://``, ``hdfs://``; the default for an
  object-store output): the cache is a set of immutable *shards* under that URL, each holding
  the rows one store call wrote, as gzipped JSON lines named ``<UTC time>-<random id>.jsonl.gz``.
  ``SharedShards`` gives a cache a SQLite *working copy* in a local temp directory: on open it
  lists the shards and loads every row into the working copy (the index read at start), so
  lookups stay local SQL; each store call writes its rows as one new shard *before* the
  working copy commits them, so whatever a worker computed is on the shared store when the
  call returns, and any worker of a later run loads it.

Why shards rather than one object per entry: Beam's S3 filesystem builds a new boto3 client
for every call (0.1-0.3 CPU-seconds each on this machine), so a lookup per key would cost
more CPU than many of the verdicts it saves. A shard per store call pays that once per batch,
and ``compact`` (run by the launcher before the workers start) merges the shards into one,
so each worker of a run starts by reading a handful of objects.

Concurrent writers never corrupt a cache: every writer creates new names (a random id) and
never rewrites or appends; an object store makes an object visible only whole, on close, and
on filesystems with directories (local disks, HDFS) a shard is written under a temporary name
and renamed, which is atomic there. A shard unreadable part-way gives the rows before the
break; ``compact`` deletes only the shards it merged, after the merged shard is written, and
a reader that listed a shard deleted since then lists again. The worst any race can do is
leave an entry out, and an entry that is not found is recomputed, never wrong.

Limits: every worker reads the whole cache when it opens it. On the bundled sample an entry is
about 0.6 KB (verdict) and 0.8 KB (generation: code and raw reply) of JSON, about 0.1 KB
gzipped; a model's replies are longer. A million generations are then a gigabyte or more of
JSON loaded by each worker at start-up: split such a run by ``--cache_dir`` or by source shards.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import re
import sqlite3
import tempfile
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)

SHARD_SUFFIX = ".jsonl.gz"
#: Rows inserted into the working copy per transaction while loading.
LOAD_CHUNK = 2_000
#: How many times a load lists the shards again after one it listed was deleted (compaction).
RELIST_ATTEMPTS = 3
#: ``scheme://`` at the start of a URL (the pattern Beam's ``FileSystems`` uses).
_URL = re.compile(r"^[a-zA-Z][-a-zA-Z0-9+.]*://")


def is_shared(location: str | Path | None) -> bool:
    """True when a cache at ``location`` is a shared shard store: a URL (``s3://``, ``gs://``...).

    A local path keeps the SQLite cache; ``None`` means no cache at all.
    """
    return location is not None and bool(_URL.match(str(location).strip()))


def shard_name(time_prefix: str | None = None, tag: str = "") -> str:
    """A new, unique shard name; names sort by the UTC time they start with."""
    prefix = time_prefix or time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{prefix}-{tag}{uuid.uuid4().hex}{SHARD_SUFFIX}"


def _join(location: str, name: str) -> str:
    return f"{location.rstrip('/')}/{name}"


def list_shards(location: str) -> list[str]:
    """The shards under ``location``, oldest first (empty when there are none yet)."""
    from apache_beam.io.filesystems import FileSystems

    result = FileSystems.match([_join(location, "*" + SHARD_SUFFIX)])[0]
    return sorted(m.path for m in result.metadata_list)


def write_shard(path: str, rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` as one shard at ``path``, visible only once complete. Returns rows written."""
    return write_shard_lines(path, (json.dumps(row, sort_keys=True) for row in rows))


def write_shard_lines(path: str, lines: Iterable[str]) -> int:
    """Write JSON ``lines`` (one row each) as one shard at ``path``, streamed through gzip.

    Object stores publish an object whole when it is closed; on a filesystem with directories
    (local, HDFS) the shard is written under a temporary name that no listing matches, then
    renamed. Returns the number of lines.
    """
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    atomic_rename = FileSystems.get_filesystem(path).has_dirs()
    target = path + ".partial" if atomic_rename else path
    n = 0
    with FileSystems.create(target, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as f:
            for line in lines:
                f.write(line.encode("utf-8") + b"\n")
                n += 1
    if atomic_rename:
        FileSystems.rename([target], [path])
    return n


def _gone(path: str) -> bool:
    """True when ``path`` no longer exists (a shard merged and deleted by ``compact``)."""
    from apache_beam.io.filesystems import FileSystems

    return not FileSystems.exists(path)


@dataclasses.dataclass
class ShardRead:
    """What reading one shard gave: ``damaged`` when it broke part-way (rows before the break kept)."""

    rows: int = 0
    damaged: str | None = None


def iter_shard(
    path: str, key_column: str, read: ShardRead | None = None
) -> Iterator[dict[str, Any]]:
    """The rows of one shard (JSON objects that have ``key_column``).

    A shard deleted since it was listed raises whatever its filesystem raises for a missing
    object (``_gone`` tells that case apart). A shard that breaks part-way (truncated, not gzip, a bad line) ends at the
    break, with the reason in ``read.damaged``: every row before it is good.
    """
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    read = read if read is not None else ShardRead()
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        try:
            for line in gzip.GzipFile(fileobj=raw, mode="rb"):
                row = json.loads(line)
                if not isinstance(row, dict) or not isinstance(row.get(key_column), str):
                    raise ValueError(f"line {read.rows + 1} is not a row with a {key_column!r}")
                read.rows += 1
                yield row
        except (
            OSError,
            EOFError,
            zlib.error,
            ValueError,
        ) as exc:  # JSONDecodeError is a ValueError
            read.damaged = f"{type(exc).__name__}: {exc}"
            LOG.warning(
                "cache shard %s unreadable after %d rows (%s); the rest is recomputed if needed",
                path,
                read.rows,
                read.damaged,
            )


def _table_columns(db: sqlite3.Connection, table: str) -> tuple[str, ...]:
    columns = tuple(row[1] for row in db.execute(f"PRAGMA table_info({table})"))
    if not columns:
        raise ValueError(f"no table {table!r} in the cache's working copy")
    return columns


class SharedShards:
    """A cache table kept as shards at ``location``, with a SQLite working copy on local disk.

    The cache that owns it creates its SQLite file in ``local_dir`` (a fresh temp directory),
    creates its table there, then calls ``load_into`` once; ``write`` before each local
    commit; ``close`` after closing its connection (the temp directory is removed).
    Counters: ``shards_read``, ``rows_loaded``, ``shards_damaged``, ``rows_skipped`` (rows
    the working copy's table refused, e.g. a NOT NULL column they lack), ``shards_written``,
    ``rows_written``.
    """

    def __init__(self, location: str, table: str, key_column: str = "key") -> None:
        self.location = str(location).rstrip("/")
        self.table = table
        self.key_column = key_column
        self._tmp = tempfile.TemporaryDirectory(prefix=f"codetrans-{table}-")
        self.local_dir = Path(self._tmp.name)
        self._loaded: set[str] = set()
        self._columns: tuple[str, ...] | None = None
        self.shards_read = 0
        self.rows_loaded = 0
        self.shards_damaged = 0
        self.rows_skipped = 0
        self.shards_written = 0
        self.rows_written = 0

    def load_into(self, db: sqlite3.Connection, announce: bool = True) -> int:
        """Load every shard not loaded yet into ``db``'s table (newest row of a key wins).

        Lists again (up to ``RELIST_ATTEMPTS`` times) when a listed shard has gone, which
        means ``compact`` merged it into a newer one. Returns the rows loaded by this call.
        """
        started, before = time.monotonic(), self.rows_loaded
        self._columns = _table_columns(db, self.table)
        for _ in range(RELIST_ATTEMPTS):
            vanished = False
            for path in list_shards(self.location):
                if path in self._loaded:
                    continue
                try:
                    self._load_shard(db, path)
                except Exception:
                    if not _gone(path):
                        raise  # the store is unreachable or refuses us: say so, loudly
                    vanished = True
                    continue
                self._loaded.add(path)
            if not vanished:
                break
        if announce:
            LOG.info(
                "cache %s: %d rows from %d shards loaded in %.1f s",
                self.location,
                self.rows_loaded - before,
                self.shards_read,
                time.monotonic() - started,
            )
        return self.rows_loaded - before

    def refresh(self, db: sqlite3.Connection) -> int:
        """Load the shards written since the last listing (by other workers, or that a
        listing missed). Called on a cache miss, before the caller pays to recompute: a
        LIST of the store is cheap next to a generation or a sandbox batch. Returns the rows
        loaded; logs only when there were some."""
        before = self.rows_loaded
        self.load_into(db, announce=False)
        if self.rows_loaded > before:
            LOG.info(
                "cache %s: %d rows from newer shards loaded on a miss",
                self.location,
                self.rows_loaded - before,
            )
        return self.rows_loaded - before

    def _load_shard(self, db: sqlite3.Connection, path: str) -> None:
        read = ShardRead()
        chunk: list[dict[str, Any]] = []
        for row in iter_shard(path, self.key_column, read):
            chunk.append(row)
            if len(chunk) >= LOAD_CHUNK:
                self._insert(db, chunk)
                chunk = []
        if chunk:
            self._insert(db, chunk)
        self.shards_read += 1
        self.shards_damaged += read.damaged is not None

    def _insert(self, db: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
        """Insert rows in one transaction; if the table refuses one, insert one by one and skip it."""
        columns = self._columns or _table_columns(db, self.table)
        statements: dict[tuple[str, ...], list[tuple]] = {}
        for row in rows:
            names = tuple(c for c in columns if c in row)
            statements.setdefault(names, []).append(tuple(row[c] for c in names))
        db.execute("BEGIN")
        try:
            for names, values in statements.items():
                db.executemany(self._insert_sql(names), values)
            db.execute("COMMIT")
            self.rows_loaded += len(rows)
            return
        except sqlite3.IntegrityError:
            db.execute("ROLLBACK")
        for names, values in statements.items():
            for value in values:
                try:
                    db.execute(self._insert_sql(names), value)
                    self.rows_loaded += 1
                except sqlite3.IntegrityError:
                    self.rows_skipped += 1

    def _insert_sql(self, names: tuple[str, ...]) -> str:
        return (
            f"INSERT OR REPLACE INTO {self.table} ({', '.join(names)}) "
            f"VALUES ({', '.join('?' * len(names))})"
        )

    def write(
        self,
        db: sqlite3.Connection,
        rows: Sequence[Sequence[Any]],
        columns: Sequence[str] | None = None,
    ) -> str:
        """Write ``rows`` (tuples in the order of ``columns``, default: the table's columns) as
        one new shard, before the caller commits them locally. Returns the shard's path."""
        names = (
            tuple(columns)
            if columns is not None
            else (self._columns or _table_columns(db, self.table))
        )
        path = _join(self.location, shard_name())
        self.rows_written += write_shard(path, (dict(zip(names, row, strict=True)) for row in rows))
        self.shards_written += 1
        self._loaded.add(path)  # its rows are in the working copy once the caller commits
        return path

    def close(self) -> None:
        """Remove the working copy's directory (close the SQLite connection first)."""
        self._tmp.cleanup()


@dataclasses.dataclass(frozen=True)
class Compaction:
    """What ``compact`` did: shards found, merged into one (0 when there was nothing to merge),
    rows in the merged shard, and shards it could not delete."""

    location: str
    shards: int
    merged: int = 0
    rows: int = 0
    undeleted: int = 0
    damaged: int = 0


def compact(location: str, key_column: str = "key") -> Compaction:
    """Merge the shards at ``location`` into one and delete the merged ones.

    Run by the launcher before the workers start, so each of them reads one shard instead of
    one per store call of earlier runs. The merged shard keeps the newest row of each key and
    the time prefix of the newest shard it merged (so shards written since still sort after
    it); it is written before anything is deleted, and only merged shards are deleted (a shard
    another job writes meanwhile stays). Damaged shards give their readable rows and are
    deleted with the rest. Memory stays flat: rows are merged in a temporary SQLite file.
    """
    shards = list_shards(location)
    if len(shards) < 2:
        return Compaction(location, len(shards))
    damaged = 0
    with tempfile.TemporaryDirectory(prefix="codetrans-compact-") as tmp:
        db = sqlite3.connect(Path(tmp) / "merge.sqlite", isolation_level=None)
        try:
            db.execute("CREATE TABLE rows (k TEXT PRIMARY KEY, line TEXT NOT NULL)")
            merged = []
            for path in shards:
                read = ShardRead()
                db.execute("BEGIN")
                try:
                    db.executemany(
                        "INSERT OR REPLACE INTO rows VALUES (?, ?)",
                        (
                            (r[key_column], json.dumps(r, sort_keys=True))
                            for r in iter_shard(path, key_column, read)
                        ),
                    )
                except Exception:
                    db.execute("ROLLBACK")
                    if not _gone(path):
                        raise
                    continue  # another compaction merged it first
                db.execute("COMMIT")
                merged.append(path)
                damaged += read.damaged is not None
            if len(merged) < 2:
                return Compaction(location, len(shards), damaged=damaged)
            newest_prefix = merged[-1].rsplit("/", 1)[-1].split("-", 1)[0]
            target = _join(location, shard_name(newest_prefix, tag="merged-"))
            rows = write_shard_lines(
                target, (line for (line,) in db.execute("SELECT line FROM rows"))
            )
        finally:
            db.close()
    undeleted = _delete(merged)
    LOG.info("cache %s: merged %d shards into %s (%d rows)", location, len(merged), target, rows)
    return Compaction(location, len(shards), len(merged), rows, undeleted, damaged)


def _delete(paths: list[str]) -> int:
    """Delete ``paths`` (one call; path by path if it fails). Returns how many are still
    there afterwards (already gone is fine: another compaction took them)."""
    from apache_beam.io.filesystems import FileSystems

    try:
        FileSystems.delete(paths)
        return 0
    except Exception:  # BeamIOError: some path failed; find out which, one at a time
        pass
    failed = 0
    for path in paths:
        try:
            FileSystems.delete([path])
        except Exception as exc:
            if FileSystems.exists(path):
                failed += 1
                LOG.warning("cache shard %s merged but not deleted: %s", path, exc)
    return failed
