"""Parquet sinks and the output directory's layout, written atomically so runs can resume.

A run writes its shards into ``DIR/.staging/<run_id>/`` and only when the whole pipeline has
finished does ``publish`` move them into ``DIR/data`` and ``DIR/rejected`` (rename, then
delete the old ones). A run killed at any point therefore leaves the previous complete
output (or none) in place, never a mix; caches in ``DIR/cache`` survive and make the re-run
cheap. Small files (``stats.json``, ``README.md``) are written to a temp file and renamed.
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

from schemas import REJECTED_SCHEMA, RELEASE_SCHEMA, SPLITS

SHARD_TEMPLATE = "-SSSSS-of-NNNNN"


@dataclasses.dataclass(frozen=True)
class OutputLayout:
    """Where everything of one output directory lives."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected"

    @property
    def stats(self) -> Path:
        return self.root / "stats.json"

    @property
    def card(self) -> Path:
        return self.root / "README.md"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def staging(self, run_id: str) -> OutputLayout:
        return OutputLayout(self.root / ".staging" / run_id)


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


class WriteRows(beam.PTransform):
    """Write row dicts to ``prefix-SSSSS-of-NNNNN.parquet`` with an explicit schema.

    Every schema column is filled in each row first (``WriteToParquet`` raises KeyError on a
    missing nullable field, Beam issue 35791), and unknown keys are dropped.
    """

    def __init__(self, prefix: Path, schema: pa.Schema, num_shards: int = 1) -> None:
        super().__init__()
        self._prefix = str(prefix)
        self._schema = schema
        self._num_shards = num_shards

    def expand(self, pcoll):
        names = tuple(self._schema.names)
        return (
            pcoll
            | "FillColumns" >> beam.Map(lambda row, names=names: {n: row.get(n) for n in names})
            | "WriteParquet" >> beam.io.WriteToParquet(
                self._prefix,
                self._schema,
                num_shards=self._num_shards,
                shard_name_template=SHARD_TEMPLATE,
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
                self._layout.data / split, RELEASE_SCHEMA, self._num_shards
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
            | "Write" >> WriteRows(self._layout.rejected / "rejected", REJECTED_SCHEMA, self._num_shards)
        )


def publish(staging: OutputLayout, final: OutputLayout) -> None:
    """Move a finished run's ``data/`` and ``rejected/`` into place, replacing the old ones."""
    for name in ("data", "rejected"):
        src, dst = staging.root / name, final.root / name
        src.mkdir(parents=True, exist_ok=True)
        trash = final.root / f".old-{name}-{new_run_id()}"
        if dst.exists():
            os.replace(dst, trash)
        os.replace(src, dst)
        shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(staging.root, ignore_errors=True)


def clean_stale_staging(final: OutputLayout) -> None:
    """Remove staging dirs of earlier runs that were killed before publishing."""
    shutil.rmtree(final.root / ".staging", ignore_errors=True)
    for old in final.root.glob(".old-*"):
        shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same directory, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these files are for people to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")
