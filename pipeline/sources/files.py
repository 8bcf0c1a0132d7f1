"""Reading rows out of files: JSONL (plain or gzip) line by line, parquet batch by batch.

Readers yield ``(where, row)`` with ``where`` = ``file:line`` (JSONL) or ``file:row N``
(parquet), or a ``RejectedRow`` for a line that cannot become a row (``malformed_json``,
``invalid_utf8``) or a file that breaks part-way (``read_error``). They never raise for bad
content; a path that does not exist is caught earlier, when the spec is resolved.
"""

from __future__ import annotations

import glob
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.sources.core import Reason, SourceError, reject
from schemas import RejectedRow

JSONL_SUFFIXES: tuple[str, ...] = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson")
PARQUET_SUFFIXES: tuple[str, ...] = (".parquet",)

Row = tuple[str, dict[str, Any]]


def expand_paths(path: str, suffixes: tuple[str, ...]) -> list[str]:
    """The files ``path`` names: a file, a glob, or a directory (searched recursively).

    Raises ``SourceError`` when nothing matches, so a typo stops the run with a clear message.
    """
    if not path:
        raise SourceError("empty path in source spec")
    p = Path(path).expanduser()
    if any(ch in path for ch in "*?["):
        files = sorted(f for f in glob.glob(str(p), recursive=True) if Path(f).is_file())
        if not files:
            raise SourceError(f"no files match {path!r}")
        return files
    if p.is_file():
        return [str(p)]
    if p.is_dir():
        files = sorted(str(f) for f in p.rglob("*") if f.is_file() and f.name.endswith(suffixes))
        if not files:
            raise SourceError(f"no {'/'.join(suffixes)} files under directory {path!r}")
        return files
    raise SourceError(f"no such file or directory: {path!r}")


def is_parquet(path: str) -> bool:
    return path.endswith(PARQUET_SUFFIXES)


def read_jsonl(path: str) -> Iterator[Row | RejectedRow]:
    """Rows of a JSONL file (gzip when it starts with gzip's magic bytes). Blank lines are skipped."""
    name = Path(path).name
    line_no = 0
    try:
        with open(path, "rb") as probe:
            gz = probe.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gz else open(path, "rb") as f:
            for line_no, raw in enumerate(f, start=1):
                where = f"{name}:{line_no}"
                if not raw.strip():
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield reject(Reason.INVALID_UTF8, where, f"invalid UTF-8 at byte {exc.start} of the line",
                                 record=raw.decode("utf-8", "replace"))
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield reject(Reason.MALFORMED_JSON, where, f"not JSON ({exc.msg} at column {exc.colno})",
                                 record=text)
                    continue
                if not isinstance(row, dict):
                    yield reject(Reason.MALFORMED_JSON, where, f"a JSON {type(row).__name__}, not an object",
                                 record=text)
                    continue
                yield where, row
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        yield reject(Reason.READ_ERROR, f"{name}:{line_no + 1}", f"file unreadable from here on: {exc}")


def parquet_columns(path: str) -> list[str]:
    """Column names of a parquet file (reads only the footer); ``SourceError`` if unreadable."""
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot read parquet file {path!r}: {exc}") from None


def read_parquet(path: str, batch_size: int = 1024) -> Iterator[Row | RejectedRow]:
    """Rows of a parquet file, one record batch at a time (bounded memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = Path(path).name
    n = 0
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
            for row in batch.to_pylist():
                n += 1
                yield f"{name}:row {n}", row
    except (OSError, ValueError, pa.ArrowException) as exc:
        yield reject(Reason.READ_ERROR, f"{name}:row {n + 1}", f"file unreadable from here on: {exc}")
