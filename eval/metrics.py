"""Retrieval metrics with the field's definitions (pure functions, no model, no search).

Every function takes one query's ranking: ``ranked`` is the list of corpus ids in rank order
(best first, ties already broken by ``(-score, corpus_id)``, see ``eval.search``) and
``relevant`` the set of relevant corpus ids (binary relevance). MRR also needs the rank of the
first relevant item in the *full* candidate pool, which ``eval.search`` computes exactly; a top-k
list cannot give it.

Definitions:

- MRR: mean of 1/rank of the first relevant item over the full pool, as CodeSearchNet (Husain et
  al. 2019, arXiv:1909.09436) and UniXcoder (Guo et al. 2022, arXiv:2203.03850) report it.
- NDCG@k: trec_eval's ``ndcg_cut_k`` as computed by pytrec_eval (Van Gysel & de Rijke 2018) and
  used by BEIR/MTEB/CoIR: gain = relevance, discount ``1/log2(rank+1)``, ideal DCG over the
  ``min(|relevant|, k)`` best possible positions.
- Recall@k: fraction of the relevant items found in the top k (trec_eval ``recall_k``); with one
  relevant item it is the hit rate (Recall@1 is the paper's "R@1").
- MAP@R: Musgrave et al. 2020 ("A Metric Learning Reality Check", arXiv:2003.08505), used for
  clone detection in CodeXGLUE POJ-104: with R = |relevant|,
  ``1/R * sum_{i<=R} P@i * rel(i)``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Sequence

#: The metric names every evaluation reports, in report order.
METRIC_NAMES: tuple[str, ...] = ("mrr", "ndcg@10", "recall@1", "recall@5", "recall@10", "map@r")

#: How many results per query the metrics above need (top-k lists must be at least this long
#: for NDCG@10/Recall@10; MAP@R needs R results, so searches take max(10, max R)).
DEFAULT_K = 10


def reciprocal_rank(first_relevant_rank: int | None) -> float:
    """1/rank of the first relevant item (1-based), 0 when no relevant item exists."""
    if first_relevant_rank is None or first_relevant_rank <= 0:
        return 0.0
    return 1.0 / first_relevant_rank


def first_relevant_rank(ranked: Sequence[Hashable], relevant: Collection[Hashable]) -> int | None:
    """The 1-based rank of the first relevant id in ``ranked``, or None when none appears."""
    for i, doc in enumerate(ranked, start=1):
        if doc in relevant:
            return i
    return None


def ndcg_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int = 10) -> float:
    """NDCG@k with binary gains, trec_eval's ``ndcg_cut_k`` (0 when nothing is relevant)."""
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    if not relevant:
        return 0.0
    dcg = sum(1.0 / math.log2(i + 1) for i, doc in enumerate(ranked[:k], start=1) if doc in relevant)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


def recall_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """Fraction of the relevant ids among the first k results (0 when nothing is relevant)."""
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    if not relevant:
        return 0.0
    return sum(1 for doc in ranked[:k] if doc in relevant) / len(relevant)


def map_at_r(ranked: Sequence[Hashable], relevant: Collection[Hashable]) -> float:
    """MAP@R for one query (Musgrave et al. 2020): precision at each relevant hit in the top R."""
    r = len(relevant)
    if r == 0:
        return 0.0
    hits = 0
    total = 0.0
    for i, doc in enumerate(ranked[:r], start=1):
        if doc in relevant:
            hits += 1
            total += hits / i
    return total / r


def query_metrics(
    ranked: Sequence[Hashable],
    relevant: Collection[Hashable],
    first_rank_in_pool: int | None = None,
) -> dict[str, float]:
    """Every metric of ``METRIC_NAMES`` for one query.

    ``first_rank_in_pool`` is the rank of the first relevant item in the full pool; when None
    it is taken from ``ranked`` (exact only when ``ranked`` is the whole pool or holds a hit).
    """
    rank = first_rank_in_pool
    if rank is None:
        rank = first_relevant_rank(ranked, relevant)
    return {
        "mrr": reciprocal_rank(rank),
        "ndcg@10": ndcg_at_k(ranked, relevant, 10),
        "recall@1": recall_at_k(ranked, relevant, 1),
        "recall@5": recall_at_k(ranked, relevant, 5),
        "recall@10": recall_at_k(ranked, relevant, 10),
        "map@r": map_at_r(ranked, relevant),
    }


def mean_metrics(per_query: Sequence[dict[str, float]]) -> dict[str, float]:
    """Macro average over queries (every query weighs the same, as in trec_eval's ``all``)."""
    if not per_query:
        return {name: 0.0 for name in METRIC_NAMES}
    names = per_query[0].keys()
    return {name: sum(q[name] for q in per_query) / len(per_query) for name in names}
