"""Reading rows out of files: JSONL (plain or gzip) line by line, parquet batch by batch.

A path is a local path or a URL on any filesystem Beam has a plugin for (``s3://`` with
``apache-beam[aws]``, ``gs://`` with ``apache-beam[gcp]``, ``hdfs://``): URLs are listed,
globbed and opened through Beam's ``FileSystems``, with the options the pipeline was started
with (``--s3_endpoint_url`` and the like), on the launcher and on every worker alike. Local
paths are read with plain ``open`` (what Beam's local filesystem does too), so the pure core
reads local files without importing Beam.

Readers yield ``(where, row)`` with ``where`` = ``file:line`` (JSONL) or ``file:row N``
(parquet), or a ``RejectedRow`` for a line that cannot become a row (``malformed_json``,
``invalid_utf8``) or a file that breaks part-way (``read_error``). They never raise for bad
content; a path that does not exist is caught earlier, when the spec is resolved.
"""

from __future__ import annotations

import glob
import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pipeline.sources.core import Reason, SourceError, reject
from schemas import RejectedRow

JSONL_SUFFIXES: tuple[str, ...] = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson")
PARQUET_SUFFIXES: tuple[str, ...] = (".parquet",)

Row = tuple[str, dict[str, Any]]

#: ``scheme://`` at the start of a URL (the pattern Beam's ``FileSystems`` uses).
_URL = re.compile(r"^[a-zA-Z][-a-zA-Z0-9+.]*://")
_GLOB_CHARS = "*?["


def is_url(path: str) -> bool:
    """True for ``scheme://...`` paths, which go through Beam's ``FileSystems``."""
    return bool(_URL.match(path.strip()))


def open_binary(path: str) -> IO[bytes]:
    """``path`` opened for reading bytes, as stored (no decompression): ``FileSystems`` for a
    URL, ``open`` for a local path. The stream is seekable (parquet reads its footer first)."""
    if is_url(path):
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.filesystems import FileSystems

        return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    return open(path, "rb")


def base_name(path: str) -> str:
    """The last part of a local path or URL (``s3://b/dir/x.jsonl`` -> ``x.jsonl``)."""
    return path.rstrip("/").rsplit("/", 1)[-1] if is_url(path) else Path(path).name


def expand_paths(path: str, suffixes: tuple[str, ...]) -> list[str]:
    """The files ``path`` names: a file, a glob, or a directory (searched recursively).

    ``path`` may be a URL (``s3://bucket/csn/*.jsonl.gz``, ``gs://bucket/csn/``): a URL that
    names an object is that file; a glob follows Beam's rules (``*`` stays within one ``/``
    level, ``**`` crosses them); any other URL is a prefix, searched like a directory.
    Raises ``SourceError`` when nothing matches, so a typo stops the run with a clear message.
    """
    if not path:
        raise SourceError("empty path in source spec")
    if is_url(path):
        return _expand_url(path.strip(), suffixes)
    p = Path(path).expanduser()
    if any(ch in path for ch in "*?["):
        files = sorted(
            str(Path(f).absolute()) for f in glob.glob(str(p), recursive=True) if Path(f).is_file()
        )
        if not files:
            raise SourceError(f"no files match {path!r}")
        return files
    p = p.absolute()  # the units travel to workers, whose working directory may differ
    if p.is_file():
        return [str(p)]
    if p.is_dir():
        files = sorted(str(f) for f in p.rglob("*") if f.is_file() and f.name.endswith(suffixes))
        if not files:
            raise SourceError(f"no {'/'.join(suffixes)} files under directory {path!r}")
        return files
    raise SourceError(f"no such file or directory: {path!r}")


def _expand_url(url: str, suffixes: tuple[str, ...]) -> list[str]:
    """``expand_paths`` for a URL, through Beam's ``FileSystems`` (see there)."""
    from apache_beam.io.filesystems import FileSystems

    try:
        if any(ch in url for ch in _GLOB_CHARS):
            files = sorted(m.path for m in FileSystems.match([url])[0].metadata_list)
            if not files:
                raise SourceError(f"no files match {url!r}")
            return files
        if not url.endswith("/") and FileSystems.exists(url):
            return [url]
        listed = FileSystems.match([url.rstrip("/") + "/**"])[0].metadata_list
    except SourceError:
        raise
    except Exception as exc:  # no filesystem for the scheme, no credentials, no bucket...
        raise SourceError(f"cannot list {url!r}: {exc}") from None
    if not listed:
        raise SourceError(f"no such file, directory or prefix: {url!r}")
    files = sorted(m.path for m in listed if m.path.endswith(suffixes))
    if not files:
        raise SourceError(f"no {'/'.join(suffixes)} files under {url!r}")
    return files


def is_parquet(path: str) -> bool:
    return path.endswith(PARQUET_SUFFIXES)


def read_jsonl(path: str) -> Iterator[Row | RejectedRow]:
    """Rows of a JSONL file (gzip when it starts with gzip's magic bytes). Blank lines are skipped."""
    name = base_name(path)
    line_no = 0
    try:
        with open_binary(path) as raw_file:
            gz = raw_file.read(2) == b"\x1f\x8b"
            raw_file.seek(0)
            f = gzip.GzipFile(fileobj=raw_file, mode="rb") if gz else raw_file
            for line_no, raw in enumerate(f, start=1):
                where = f"{name}:{line_no}"
                if not raw.strip():
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield reject(
                        Reason.INVALID_UTF8,
                        where,
                        f"invalid UTF-8 at byte {exc.start} of the line",
                        record=raw.decode("utf-8", "replace"),
                    )
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield reject(
                        Reason.MALFORMED_JSON,
                        where,
                        f"not JSON ({exc.msg} at column {exc.colno})",
                        record=text,
                    )
                    continue
                if not isinstance(row, dict):
                    yield reject(
                        Reason.MALFORMED_JSON,
                        where,
                        f"a JSON {type(row).__name__}, not an object",
                        record=text,
                    )
                    continue
                yield where, row
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        yield reject(
            Reason.READ_ERROR, f"{name}:{line_no + 1}", f"file unreadable from here on: {exc}"
        )


def parquet_columns(path: str) -> list[str]:
    """Column names of a parquet file (reads only the footer); ``SourceError`` if unreadable."""
    import pyarrow.parquet as pq

    try:
        with open_binary(path) as f:
            return list(pq.read_schema(f).names)
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot read parquet file {path!r}: {exc}") from None


def read_parquet(path: str, batch_size: int = 1024) -> Iterator[Row | RejectedRow]:
    """Rows of a parquet file, one record batch at a time (bounded memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = base_name(path)
    n = 0
    try:
        with open_binary(path) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_size):
                for row in batch.to_pylist():
                    n += 1
                    yield f"{name}:row {n}", row
    except (OSError, ValueError, pa.ArrowException) as exc:
        yield reject(
            Reason.READ_ERROR, f"{name}:row {n + 1}", f"file unreadable from here on: {exc}"
        )
