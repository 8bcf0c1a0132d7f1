"""Rows of a Hugging Face dataset (``hf:NAME[:split]``) through ``datasets.load_dataset``.

``NAME`` is anything ``load_dataset`` accepts: a Hub id (``code-search-net/code_search_net``)
or a local directory of parquet/JSON files. With ``streaming=True`` (the default) rows are
read as they arrive instead of after a full download. Set ``HF_HUB_OFFLINE=1`` where the Hub
cannot be reached: a Hub id then fails at once with a clear message instead of retrying.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pipeline.sources.core import Reason, SourceError, reject
from pipeline.sources.files import Row
from schemas import RejectedRow

DEFAULT_SPLIT = "train"


def parse_hf_spec(rest: str) -> tuple[str, str]:
    """``NAME[:split]`` -> (name, split). The split is the part after the last ``:``."""
    if not rest:
        raise SourceError("hf: needs a dataset name, e.g. hf:code-search-net/code_search_net:test")
    name, sep, split = rest.rpartition(":")
    if not sep or not split or "/" in split:
        return rest, DEFAULT_SPLIT
    return name, split


def load_dataset(name: str, split: str, streaming: bool) -> Any:
    """``datasets.load_dataset(name, split=split, streaming=streaming)``; errors -> ``SourceError``."""
    import datasets

    try:
        return datasets.load_dataset(name, split=split, streaming=streaming)
    except Exception as exc:  # datasets raises many kinds; the user needs the message, not the type
        message = " ".join(str(exc).split())[:500]
        raise SourceError(f"cannot load Hub dataset {name!r} (split {split!r}): {type(exc).__name__}: {message}") from None


def read_hf(name: str, split: str, streaming: bool) -> Iterator[Row | RejectedRow]:
    """Rows of the dataset as ``(where, row)``; a read failure part-way ends in one rejected row."""
    dataset = load_dataset(name, split, streaming)
    n = 0
    try:
        for row in dataset:
            n += 1
            yield f"hf:{name}:{split}:row {n}", dict(row)
    except Exception as exc:  # network or decoding failure mid-stream: record it and stop
        yield reject(Reason.READ_ERROR, f"hf:{name}:{split}:row {n + 1}", f"dataset unreadable from here on: {exc}")
