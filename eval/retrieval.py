"""The evaluator: every metric at every exit, plus what each exit costs.

For one encoder (``model.encode.MoseEncoder`` or any object with the same four members, such as
``eval.baselines.HFEncoder``) and a list of tasks (``eval.tasks.RetrievalTask`` or ``PairTask``):

1. every distinct text and (code, language) item across the tasks is embedded once, at all exits
   in one call (a multi-exit encoder computes the lower exits on the way to the top one);
2. each retrieval task is searched exactly (``eval.search``) at each exit and scored with
   ``eval.metrics`` over the full pool (minus a query's own item where the task says so); each
   pair task scores its pairs by cosine, picks the F1-best threshold on validation and reports
   test F1;
3. the cost of each exit is timed on its own: ``encode_code(sample, exits=[e])`` for a fixed
   sample of code items (warm-up, then the median of ``latency_repeats``), reported as ms per
   item and items per second with the number of items timed, and the parameter count up to
   that exit.

``evaluate_bm25`` gives the BM25 row and ``evaluate_chance`` the random-ranking row (expected
values, ``eval.metrics.chance_metrics``) with the same tasks, pools and metrics.
Sentence-transformers' ``InformationRetrievalEvaluator`` is the model for this shape (a declared
primary metric, ties by ``(-score, corpus_id)``, ranking kept apart from scoring).
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from eval.bm25 import BM25Config, BM25Index, pair_scores
from eval.metrics import (
    DEFAULT_K,
    best_threshold,
    chance_pair_metrics,
    classify_at,
    mean_chance_metrics,
    mean_metrics,
    query_metrics,
)
from eval.search import SearchResult, exact_search
from eval.tasks import UNKNOWN_LANGUAGE, PairTask, RetrievalTask, Task

log = logging.getLogger(__name__)

#: The headline number: MRR on text-to-code over all languages (CodeSearchNet's metric).
PRIMARY_METRIC = "mrr"
PRIMARY_TASKS: tuple[str, ...] = ("text-to-code/all",)


class Encoder(Protocol):
    """What the evaluator needs from a model (docs/contracts.md, ``MoseEncoder``)."""

    @property
    def exits(self) -> list[int]: ...

    def encode_code(
        self,
        codes: list[str],
        languages: list[str],
        exits: list[int] | None = None,
        batch_size: int = 32,
    ) -> dict[int, np.ndarray]: ...

    def encode_text(
        self, texts: list[str], exits: list[int] | None = None, batch_size: int = 32
    ) -> dict[int, np.ndarray]: ...

    def parameters_up_to(self, exit: int) -> int: ...


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """How to evaluate: search depth, batch size and the latency sample."""

    k: int = DEFAULT_K
    batch_size: int = 32
    latency_items: int = 128
    latency_repeats: int = 3
    search_backend: str = "torch"

    def __post_init__(self) -> None:
        if self.k < DEFAULT_K:
            raise ValueError(f"k must be >= {DEFAULT_K} (NDCG@10, R@10), got {self.k}")
        if self.batch_size <= 0 or self.latency_items <= 0 or self.latency_repeats <= 0:
            raise ValueError("batch_size, latency_items and latency_repeats must be positive")


@dataclasses.dataclass(frozen=True)
class ExitResult:
    """One exit of one model: metrics per task, and its cost."""

    exit: int | None  # None for BM25 and chance
    parameters: int | None
    ms_per_item: float | None
    items_per_s: float | None
    tasks: dict[str, dict[str, float]]
    timed_items: int | None = None  # how many code items the cost was measured on
    timed_repeats: int | None = None


@dataclasses.dataclass(frozen=True)
class ModelResult:
    name: str
    kind: str  # "mose" | "baseline" | "bm25" | "chance"
    path: str | None
    exits: tuple[ExitResult, ...]
    embed_seconds: float | None = None  # one pass over every distinct item, all exits
    items_embedded: int = 0
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelResult:
        exits = tuple(ExitResult(**e) for e in data["exits"])
        return cls(**{**data, "exits": exits})


def score_search(task: RetrievalTask, result: SearchResult) -> dict[str, float]:
    """Mean metrics of one task from its search result (full-pool ranks included)."""
    per_query = []
    for i, rel in enumerate(task.relevant):
        ranked = result.indices[i].tolist()
        first = None
        if result.first_relevant_rank is not None:
            first = int(result.first_relevant_rank[i]) or None
        per_query.append(query_metrics(ranked, set(rel), first))
    return mean_metrics(per_query)


def _search_depth(task: RetrievalTask, k: int) -> int:
    """Deep enough for @10 metrics and for MAP@R (R results per query)."""
    return max(k, max((len(r) for r in task.relevant), default=1))


def _relevant_arrays(task: RetrievalTask) -> list[np.ndarray]:
    return [np.asarray(r, dtype=np.int64) for r in task.relevant]


def _excluded_arrays(task: RetrievalTask) -> list[np.ndarray] | None:
    if not task.excluded:
        return None
    return [np.asarray(e, dtype=np.int64) for e in task.excluded]


def score_embeddings(
    task: RetrievalTask, queries: np.ndarray, corpus: np.ndarray, config: EvalConfig = EvalConfig()
) -> dict[str, float]:
    """Exact search of ``queries`` against ``corpus`` (rows aligned with the task) and metrics."""
    result = exact_search(
        queries,
        corpus,
        _search_depth(task, config.k),
        relevant=_relevant_arrays(task),
        excluded=_excluded_arrays(task),
    )
    return score_search(task, result)


def score_pairs(
    task: PairTask, scores_validation: np.ndarray, scores_test: np.ndarray
) -> dict[str, float]:
    """Threshold with the best validation F1, then precision/recall/F1 on test at it."""
    threshold = best_threshold(scores_validation, [label for _, _, label in task.validation])
    return classify_at(scores_test, [label for _, _, label in task.test], threshold)


def chance_scores(task: Task) -> dict[str, float]:
    """The random-ranking expectation of a retrieval task, the all-clones floor of a pair task."""
    if isinstance(task, PairTask):
        return chance_pair_metrics([label for _, _, label in task.test])
    return mean_chance_metrics(task.ranked_pool_sizes(), [len(r) for r in task.relevant])


def evaluate_chance(tasks: Sequence[Task]) -> ModelResult:
    """The random-ranking row: expected metrics of a uniformly random ranking of each pool."""
    scores = {task.name: chance_scores(task) for task in tasks}
    return ModelResult(
        name="chance",
        kind="chance",
        path=None,
        exits=(
            ExitResult(
                exit=None, parameters=None, ms_per_item=None, items_per_s=None, tasks=scores
            ),
        ),
        note="expected value under a uniformly random ranking (pair tasks: every pair a clone)",
    )


def evaluate_bm25(
    tasks: Sequence[Task], config: EvalConfig = EvalConfig(), bm25: BM25Config | None = None
) -> ModelResult:
    """The BM25 row: same tasks, pools, tie rules and metrics as the dense models."""
    bm25 = bm25 or BM25Config()
    scores: dict[str, dict[str, float]] = {}
    for task in tasks:
        if isinstance(task, PairTask):
            validation = pair_scores(task.items, [(i, j) for i, j, _ in task.validation], bm25)
            test = pair_scores(task.items, [(i, j) for i, j, _ in task.test], bm25)
            scores[task.name] = score_pairs(task, validation, test)
            continue
        index = BM25Index(task.corpus, bm25)
        result = index.search(
            list(task.queries),
            _search_depth(task, config.k),
            _relevant_arrays(task),
            excluded=_excluded_arrays(task),
        )
        scores[task.name] = score_search(task, result)
    return ModelResult(
        name="BM25",
        kind="bm25",
        path=None,
        exits=(
            ExitResult(
                exit=None, parameters=None, ms_per_item=None, items_per_s=None, tasks=scores
            ),
        ),
    )


def _language(lang: str | None) -> str:
    return lang or UNKNOWN_LANGUAGE


def _distinct_items(tasks: Sequence[Task]) -> tuple[list[str], list[tuple[str, str]]]:
    """Every distinct text query and (code, language) item, in a stable order."""
    texts: dict[str, None] = {}
    codes: dict[tuple[str, str], None] = {}
    for task in tasks:
        if isinstance(task, PairTask):
            codes.update(dict.fromkeys(zip(task.items, task.item_languages, strict=True)))
            continue
        if task.query_kind == "text":
            texts.update(dict.fromkeys(task.queries))
        else:
            codes.update(
                dict.fromkeys(
                    (q, _language(lang))
                    for q, lang in zip(task.queries, task.query_languages, strict=True)
                )
            )
        codes.update(dict.fromkeys(zip(task.corpus, task.corpus_languages, strict=True)))
    return list(texts), list(codes)


def measure_exit_cost(
    encoder: Encoder,
    exit: int,
    sample: Sequence[tuple[str, str]],
    config: EvalConfig = EvalConfig(),
) -> tuple[float, float]:
    """(ms per item, items per second) of ``encode_code`` at one exit, median of repeats."""
    if not sample:
        raise ValueError("empty latency sample")
    codes = [c for c, _ in sample]
    langs = [lang for _, lang in sample]
    encoder.encode_code(
        codes[: config.batch_size],
        langs[: config.batch_size],
        exits=[exit],
        batch_size=config.batch_size,
    )  # warm-up
    times = []
    for _ in range(config.latency_repeats):
        t0 = time.perf_counter()
        encoder.encode_code(codes, langs, exits=[exit], batch_size=config.batch_size)
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    return 1000.0 * seconds / len(codes), len(codes) / seconds


def pair_cosines(items: np.ndarray, pairs: Sequence[tuple[int, int, int]]) -> np.ndarray:
    """Cosine of each (i, j, label) pair of L2-normalised item embeddings: (len(pairs),)."""
    a = items[[i for i, _, _ in pairs]]
    b = items[[j for _, j, _ in pairs]]
    return np.einsum("ij,ij->i", a, b)


def latency_sample(codes: Sequence[tuple[str, str]], size: int) -> list[tuple[str, str]]:
    """A fixed spread of ``size`` distinct items over the pool (all of them when fewer)."""
    if not codes:
        return []
    idx = np.linspace(0, len(codes) - 1, num=min(size, len(codes))).astype(int)
    return [codes[i] for i in sorted(set(idx.tolist()))]


def evaluate_encoder(
    encoder: Encoder,
    tasks: Sequence[Task],
    name: str,
    kind: str = "mose",
    path: str | None = None,
    config: EvalConfig = EvalConfig(),
    note: str = "",
) -> ModelResult:
    """Metrics at every exit of ``encoder`` on every task, with each exit's cost."""
    exits = list(encoder.exits)
    texts, codes = _distinct_items(tasks)
    t0 = time.perf_counter()
    text_emb = (
        encoder.encode_text(texts, exits=exits, batch_size=config.batch_size) if texts else {}
    )
    code_emb = (
        encoder.encode_code(
            [c for c, _ in codes],
            [lang for _, lang in codes],
            exits=exits,
            batch_size=config.batch_size,
        )
        if codes
        else {}
    )
    embed_seconds = time.perf_counter() - t0
    log.info(
        "%s: embedded %d texts and %d code items in %.1f s",
        name,
        len(texts),
        len(codes),
        embed_seconds,
    )
    text_row = {t: i for i, t in enumerate(texts)}
    code_row = {c: i for i, c in enumerate(codes)}
    sample = latency_sample(codes, config.latency_items)
    results = []
    for exit in exits:
        per_task: dict[str, dict[str, float]] = {}
        for task in tasks:
            if isinstance(task, PairTask):
                items = code_emb[exit][
                    [code_row[item] for item in zip(task.items, task.item_languages, strict=True)]
                ]
                per_task[task.name] = score_pairs(
                    task, pair_cosines(items, task.validation), pair_cosines(items, task.test)
                )
                continue
            if task.query_kind == "text":
                q = text_emb[exit][[text_row[t] for t in task.queries]]
            else:
                q = code_emb[exit][
                    [
                        code_row[(c, _language(lang))]
                        for c, lang in zip(task.queries, task.query_languages, strict=True)
                    ]
                ]
            c = code_emb[exit][
                [code_row[item] for item in zip(task.corpus, task.corpus_languages, strict=True)]
            ]
            per_task[task.name] = score_embeddings(task, q, c, config)
        ms, ips = measure_exit_cost(encoder, exit, sample, config) if sample else (None, None)
        results.append(
            ExitResult(
                exit=exit,
                parameters=int(encoder.parameters_up_to(exit)),
                ms_per_item=ms,
                items_per_s=ips,
                tasks=per_task,
                timed_items=len(sample) or None,
                timed_repeats=config.latency_repeats if sample else None,
            )
        )
    return ModelResult(
        name=name,
        kind=kind,
        path=path,
        exits=tuple(results),
        embed_seconds=embed_seconds,
        items_embedded=len(texts) + len(codes),
        note=note,
    )


def primary_score(result: ModelResult, exit_result: ExitResult) -> float | None:
    """``PRIMARY_METRIC`` on the first of ``PRIMARY_TASKS`` present (else the mean over tasks)."""
    for name in PRIMARY_TASKS:
        if name in exit_result.tasks:
            return exit_result.tasks[name][PRIMARY_METRIC]
    values = [m[PRIMARY_METRIC] for m in exit_result.tasks.values() if PRIMARY_METRIC in m]
    if not values:
        return None
    return float(np.mean(values))
