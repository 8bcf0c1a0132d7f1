"""Retrieval and pair-classification metrics with the field's definitions (pure functions).

Every ranking function takes one query's ranking: ``ranked`` is the list of corpus ids in rank
order (best first, ties already broken by ``(-score, corpus_id)``, see ``eval.search``) and
``relevant`` the set of relevant corpus ids (binary relevance). MRR also needs the rank of the
first relevant item in the *full* candidate pool, which ``eval.search`` computes exactly; a top-k
list cannot give it.

Definitions:

- MRR: mean of 1/rank of the first relevant item over the full pool, as CodeSearchNet (Husain et
  al. 2019, arXiv:1909.09436) and UniXcoder (Guo et al. 2022, arXiv:2203.03850) report it.
- NDCG@k: trec_eval's ``ndcg_cut_k`` as computed by pytrec_eval (Van Gysel & de Rijke 2018) and
  used by BEIR/MTEB/CoIR: gain = relevance, discount ``1/log2(rank+1)``, ideal DCG over the
  ``min(|relevant|, k)`` best possible positions.
- R@k: 1 when a relevant item is among the first k results, else 0 (the "R@1" of code-search
  papers: a relevant item at rank 1). With one relevant item it equals recall@k.
- Recall@k: the fraction of the relevant items found in the top k (trec_eval ``recall_k``,
  MTEB's ``recall_at_k``); below 1 at k=1 whenever a query has several relevant items.
- MAP@R: Musgrave et al. 2020 ("A Metric Learning Reality Check", arXiv:2003.08505), used for
  clone detection in CodeXGLUE POJ-104: with R = |relevant|, ``1/R * sum_{i<=R} P@i * rel(i)``.

``chance_metrics(n, r)`` gives the *expected* value of each metric when the pool of n
candidates (r of them relevant) is ranked uniformly at random: the floor every table prints.

Pair classification (BigCloneBench): ``best_threshold`` picks the score threshold with the best
F1 on validation pairs; ``classify_at`` reports precision, recall and F1 at a threshold
(predicted clone when ``score >= threshold``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Hashable, Sequence

import numpy as np

#: The metric names every retrieval evaluation reports, in report order.
METRIC_NAMES: tuple[str, ...] = ("mrr", "ndcg@10", "r@1", "r@5", "r@10", "recall@10", "map@r")

#: The metric names of a pair-classification task, in report order.
PAIR_METRIC_NAMES: tuple[str, ...] = ("f1", "precision", "recall", "threshold")

#: How many results per query the metrics above need (top-k lists must be at least this long
#: for NDCG@10/R@10; MAP@R needs R results, so searches take max(10, max R)).
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
    dcg = sum(
        1.0 / math.log2(i + 1) for i, doc in enumerate(ranked[:k], start=1) if doc in relevant
    )
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


def hit_at_k(ranked: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """R@k: 1.0 when a relevant id is among the first k, else 0.0."""
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    return 1.0 if any(doc in relevant for doc in ranked[:k]) else 0.0


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
        "r@1": hit_at_k(ranked, relevant, 1),
        "r@5": hit_at_k(ranked, relevant, 5),
        "r@10": hit_at_k(ranked, relevant, 10),
        "recall@10": recall_at_k(ranked, relevant, 10),
        "map@r": map_at_r(ranked, relevant),
    }


def mean_metrics(per_query: Sequence[dict[str, float]]) -> dict[str, float]:
    """Macro average over queries (every query weighs the same, as in trec_eval's ``all``)."""
    if not per_query:
        return {name: 0.0 for name in METRIC_NAMES}
    names = per_query[0].keys()
    return {name: sum(q[name] for q in per_query) / len(per_query) for name in names}


# ---------------------------------------------------------------------------------------------
# the random-ranking floor


def _log_comb(n: np.ndarray | int, k: np.ndarray | int) -> np.ndarray:
    from scipy.special import gammaln

    n, k = np.asarray(n, dtype=np.float64), np.asarray(k, dtype=np.float64)
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


@functools.lru_cache(maxsize=4096)
def chance_metrics(n: int, r: int) -> dict[str, float]:
    """Expected metrics of one query whose ``r`` relevant items lie in a pool of ``n``, ranked at random.

    With every permutation equally likely (derivations by linearity of expectation):

    - first relevant rank i has probability C(n-i, r-1) / C(n, r), so MRR = sum of that / i;
    - R@k = 1 - C(n-r, k) / C(n, k) (no relevant item in the first k);
    - recall@k = min(k, n) / n (each relevant item is in the top k with that probability);
    - NDCG@k = (r/n) * sum_{i<=min(k,n)} 1/log2(i+1) / IDCG, IDCG over min(r, k) positions;
    - MAP@R = (1/n) * sum_{i<=r} (1 + (i-1)(r-1)/(n-1)) / i, from
      E[rel(i) * hits(i)] = (r/n) * (1 + (i-1)(r-1)/(n-1)).
    """
    if not 1 <= r <= n:
        raise ValueError(f"need 1 <= r <= n, got r={r}, n={n}")
    ranks = np.arange(1, n - r + 2)
    p_first = np.exp(_log_comb(n - ranks, r - 1) - _log_comb(n, r))
    out = {"mrr": float(np.sum(p_first / ranks))}
    for k in (1, 5, 10):
        kk = min(k, n)
        miss = 0.0 if n - r < kk else float(np.exp(_log_comb(n - r, kk) - _log_comb(n, kk)))
        out[f"r@{k}"] = 1.0 - miss
    out["recall@10"] = min(10, n) / n
    discounts = 1.0 / np.log2(np.arange(2, 12))
    out["ndcg@10"] = float((r / n) * discounts[: min(10, n)].sum() / discounts[: min(r, 10)].sum())
    i = np.arange(1, r + 1)
    spread = (i - 1) * (r - 1) / (n - 1) if n > 1 else np.zeros_like(i, dtype=np.float64)
    out["map@r"] = float(np.sum((1.0 + spread) / i) / n)
    return {name: out[name] for name in METRIC_NAMES}


def mean_chance_metrics(
    pool_sizes: Sequence[int], relevant_counts: Sequence[int]
) -> dict[str, float]:
    """``chance_metrics`` averaged over queries (each query its own pool size and r)."""
    per_query = [
        chance_metrics(int(n), int(r)) for n, r in zip(pool_sizes, relevant_counts, strict=True)
    ]
    return mean_metrics(per_query)


# ---------------------------------------------------------------------------------------------
# pair classification


def classify_at(
    scores: Sequence[float], labels: Sequence[int], threshold: float
) -> dict[str, float]:
    """Precision, recall and F1 of "clone when score >= threshold" (0 where undefined)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    predicted = s >= threshold
    tp = float(np.sum(predicted & y))
    fp = float(np.sum(predicted & ~y))
    fn = float(np.sum(~predicted & y))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall, "threshold": float(threshold)}


def best_threshold(scores: Sequence[float], labels: Sequence[int]) -> float:
    """The threshold with the best F1 on these pairs (ties: the highest such threshold).

    Every distinct score is a candidate; F1 is computed for all of them at once from the
    scores sorted in descending order.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if s.size == 0:
        raise ValueError("no pairs to choose a threshold on")
    positives = int(y.sum())
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    predicted = np.arange(1, s.size + 1)
    last_of_value = np.r_[s_sorted[1:] != s_sorted[:-1], True]  # threshold = this value
    tp, predicted, values = tp[last_of_value], predicted[last_of_value], s_sorted[last_of_value]
    f1 = np.where(predicted + positives > 0, 2 * tp / (predicted + positives), 0.0)
    return float(values[int(np.argmax(f1))])


def chance_pair_metrics(test_labels: Sequence[int]) -> dict[str, float]:
    """The floor of a pair task: every pair called a clone (what a random score tends to with a
    threshold tuned for F1), F1 = 2p / (1 + p) for a share p of clones."""
    metrics = classify_at(np.zeros(len(test_labels)), test_labels, 0.0)
    metrics.pop("threshold")
    return metrics
