"""Parquet sinks and the output directory's layout, written atomically so runs can resume.

A run writes its shards into ``DIR/.staging/<run_id>/`` and only when the whole pipeline has
finished does ``publish`` move them into ``DIR/data`` and ``DIR/rejected`` (rename, then
delete the old ones). A run killed at any point therefore leaves the previous complete
output (or none) in place, never a mix; caches in ``DIR/cache`` survive and make the re-run
cheap. Small files (``stats.json``, ``README.md``) are written to a temp file and renamed.

``DIR`` may also be an object-store URL (``gs://``, ``s3://``, ``hdfs://``: whatever Beam's
``FileSystems`` has a plugin for, e.g. ``apache-beam[gcp]`` for ``gs://``), so a Dataflow job
writes its dataset where the workers can reach it. There, publishing renames the staged
files one by one (object stores have no directory rename): a run killed *during* publishing
can leave a partial ``data/``, which the next run replaces whole.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from schemas import REJECTED_SCHEMA, RELEASE_SCHEMA, SPLITS

SHARD_TEMPLATE = "-SSSSS-of-NNNNN"


def is_remote(path: str) -> bool:
    """True for URLs (``gs://...``) that go through Beam's FileSystems, not the local disk."""
    return "://" in str(path)


@dataclasses.dataclass(frozen=True)
class OutputLayout:
    """Where everything of one output directory lives (a local path or a URL)."""

    root: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", str(self.root))

    def _join(self, *parts: str) -> str:
        return FileSystems.join(self.root, *parts)

    @property
    def remote(self) -> bool:
        return is_remote(self.root)

    @property
    def data(self) -> str:
        return self._join("data")

    @property
    def rejected(self) -> str:
        return self._join("rejected")

    @property
    def repo_corpus(self) -> str:
        return self._join("repo_corpus")

    @property
    def stats(self) -> str:
        return self._join("stats.json")

    @property
    def card(self) -> str:
        return self._join("README.md")

    def file(self, name: str) -> str:
        return self._join(name)

    def staging(self, run_id: str) -> OutputLayout:
        return OutputLayout(self._join(".staging", run_id))


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


class WriteRows(beam.PTransform):
    """Write row dicts to ``prefix-SSSSS-of-NNNNN.parquet`` (or ``prefix.parquet`` with one shard
    and an empty ``shard_name_template``) with an explicit schema.

    Every schema column is filled in each row first (``WriteToParquet`` raises KeyError on a
    missing nullable field, Beam issue 35791), and unknown keys are dropped.
    """

    def __init__(
        self,
        prefix: str,
        schema: pa.Schema,
        num_shards: int = 1,
        shard_name_template: str = SHARD_TEMPLATE,
    ) -> None:
        super().__init__()
        self._prefix = str(prefix)
        self._schema = schema
        self._num_shards = num_shards
        self._shard_name_template = shard_name_template

    def expand(self, pcoll):
        names = tuple(self._schema.names)
        return (
            pcoll
            | "FillColumns" >> beam.Map(lambda row, names=names: {n: row.get(n) for n in names})
            | "WriteParquet"
            >> beam.io.WriteToParquet(
                self._prefix,
                self._schema,
                num_shards=self._num_shards,
                shard_name_template=self._shard_name_template,
                file_name_suffix=".parquet",
            )
        )


class WriteRelease(beam.PTransform):
    """Write release rows into one set of shards per split (``data/{split}-...parquet``)."""

    def __init__(self, layout: OutputLayout, num_shards: int) -> None:
        super().__init__()
        self._layout = layout
        self._num_shards = num_shards

    def expand(self, rows):
        parts = rows | "BySplit" >> beam.Partition(
            lambda row, n: SPLITS.index(row["split"]), len(SPLITS)
        )
        for split, part in zip(SPLITS, parts, strict=True):
            part | f"Write{split.capitalize()}" >> WriteRows(
                FileSystems.join(self._layout.data, split), RELEASE_SCHEMA, self._num_shards
            )
        return rows.pipeline


class WriteRejected(beam.PTransform):
    """Write rejected rows (``schemas.RejectedRow``) to ``rejected/rejected-...parquet``."""

    def __init__(self, layout: OutputLayout, num_shards: int = 1) -> None:
        super().__init__()
        self._layout = layout
        self._num_shards = num_shards

    def expand(self, rejected):
        return (
            rejected
            | "ToRow" >> beam.Map(lambda r: r.to_row())
            | "Write"
            >> WriteRows(
                FileSystems.join(self._layout.rejected, "rejected"),
                REJECTED_SCHEMA,
                self._num_shards,
            )
        )


def make_dirs(path: str) -> None:
    """Create ``path`` (a no-op on object stores, which have no directories)."""
    if is_remote(path):
        return
    Path(path).mkdir(parents=True, exist_ok=True)


def list_files(directory: str, pattern: str = "*") -> list[str]:
    """Paths of the files directly under ``directory`` that match ``pattern``, sorted."""
    result = FileSystems.match([FileSystems.join(directory, pattern)])[0]
    return sorted(m.path for m in result.metadata_list)


def _delete_all(paths: list[str]) -> None:
    if paths:
        FileSystems.delete(paths)


def publish(staging: OutputLayout, final: OutputLayout, extra: tuple[str, ...] = ()) -> None:
    """Move a finished run's ``data/`` and ``rejected/`` (and the ``extra`` directories it wrote,
    such as ``repo_corpus``) into place, replacing the old ones."""
    for name in ("data", "rejected", *extra):
        src, dst = FileSystems.join(staging.root, name), FileSystems.join(final.root, name)
        if final.remote:
            _delete_all(list_files(dst))
            files = list_files(src)
            FileSystems.rename(
                files, [FileSystems.join(dst, FileSystems.split(f)[1]) for f in files]
            )
            continue
        Path(src).mkdir(parents=True, exist_ok=True)
        trash = Path(final.root) / f".old-{name}-{new_run_id()}"
        if Path(dst).exists():
            os.replace(dst, trash)
        os.replace(src, dst)
        shutil.rmtree(trash, ignore_errors=True)
    _remove_tree(staging.root)


def _remove_tree(path: str) -> None:
    if is_remote(path):
        _delete_all(list_files(path, "**"))
    else:
        shutil.rmtree(path, ignore_errors=True)


def clean_stale_staging(final: OutputLayout) -> None:
    """Remove staging dirs of earlier runs that were killed before publishing."""
    _remove_tree(FileSystems.join(final.root, ".staging"))
    if not final.remote:
        for old in Path(final.root).glob(".old-*"):
            shutil.rmtree(old, ignore_errors=True)


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path``: temp file + rename locally; one object write on a store
    (object writes become visible whole, on close)."""
    if is_remote(path):
        with FileSystems.create(path) as f:
            f.write(data)
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these files are for people to read
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")
