"""Metrics: hand-checked rankings and agreement with pytrec_eval (trec_eval's definitions)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytrec_eval

from eval.metrics import (
    best_threshold,
    chance_metrics,
    chance_pair_metrics,
    classify_at,
    hit_at_k,
    map_at_r,
    mean_metrics,
    ndcg_at_k,
    query_metrics,
    recall_at_k,
    reciprocal_rank,
)
from eval.search import exact_search


def test_single_relevant_hand_checked():
    ranked = ["c", "a", "b"]
    m = query_metrics(ranked, {"a"})
    assert m["mrr"] == pytest.approx(0.5)
    assert m["ndcg@10"] == pytest.approx(1 / math.log2(3))
    assert m["r@1"] == 0.0
    assert m["r@5"] == 1.0 and m["recall@10"] == 1.0
    assert m["map@r"] == 0.0  # R = 1 and the top-1 is wrong


def test_several_relevant_hand_checked():
    ranked = ["a", "b", "c", "d", "e"]
    relevant = {"a", "c", "e"}
    # MAP@R, R = 3: hits at ranks 1 and 3 within the top 3 -> (1/1 + 2/3) / 3
    assert map_at_r(ranked, relevant) == pytest.approx((1 + 2 / 3) / 3)
    dcg = 1 + 1 / math.log2(4) + 1 / math.log2(6)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, relevant, 10) == pytest.approx(dcg / idcg)
    assert recall_at_k(ranked, relevant, 1) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, relevant, 5) == pytest.approx(1.0)
    # R@1 is "a relevant item at rank 1": 1, where recall@1 is capped at 1/3 by the 3 relevant
    assert hit_at_k(ranked, relevant, 1) == 1.0
    assert query_metrics(ranked, relevant)["r@1"] == 1.0
    assert query_metrics(["b", "a"], relevant)["r@1"] == 0.0


def test_mrr_uses_full_pool_rank_not_top_k():
    # the relevant item is outside the top-10 list: MRR must still count it
    ranked = [f"d{i}" for i in range(10)]
    m = query_metrics(ranked, {"x"}, first_rank_in_pool=40)
    assert m["mrr"] == pytest.approx(1 / 40)
    assert m["r@10"] == 0.0 and m["ndcg@10"] == 0.0
    assert reciprocal_rank(None) == 0.0


def test_bad_k_is_a_value_error():
    with pytest.raises(ValueError):
        ndcg_at_k(["a"], {"a"}, 0)
    with pytest.raises(ValueError):
        recall_at_k(["a"], {"a"}, -1)


def test_mean_is_a_macro_average():
    a = query_metrics(["x", "y"], {"x"})
    b = query_metrics(["x", "y"], {"y"})
    assert mean_metrics([a, b])["mrr"] == pytest.approx(0.75)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_pytrec_eval_on_random_rankings(seed):
    """Full-pool search + our metrics == trec_eval over the same full ranking."""
    rng = np.random.default_rng(seed)
    n_q, n_c, d = 40, 60, 8
    queries = rng.standard_normal((n_q, d)).astype(np.float32)
    corpus = rng.standard_normal((n_c, d)).astype(np.float32)
    # some duplicated corpus vectors: exact ties resolved by (-score, corpus position)
    corpus[10] = corpus[3]
    corpus[20] = corpus[3]
    relevant = [rng.choice(n_c, size=rng.integers(1, 4), replace=False) for _ in range(n_q)]
    full = exact_search(queries, corpus, n_c, relevant=relevant)
    top = exact_search(queries, corpus, 10, relevant=relevant)
    ours = []
    run, qrels = {}, {}
    for i in range(n_q):
        rel = {f"c{j:03d}" for j in relevant[i]}
        ranked_full = [f"c{j:03d}" for j in full.indices[i]]
        ranked_top = [f"c{j:03d}" for j in top.indices[i]]
        m = query_metrics(ranked_top, rel, int(top.first_relevant_rank[i]))
        m["map@r_full"] = map_at_r(ranked_full, rel)
        ours.append(m)
        # scores that encode our order exactly, so trec_eval's own tie rule never applies
        run[f"q{i}"] = {doc: float(n_c - r) for r, doc in enumerate(ranked_full)}
        qrels[f"q{i}"] = {doc: 1 for doc in rel}
        assert ranked_full[int(top.first_relevant_rank[i]) - 1] in rel
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank", "ndcg_cut.10", "recall.10"})
    ref = evaluator.evaluate(run)
    for i, m in enumerate(ours):
        r = ref[f"q{i}"]
        assert m["mrr"] == pytest.approx(r["recip_rank"])
        assert m["ndcg@10"] == pytest.approx(r["ndcg_cut_10"])
        assert m["recall@10"] == pytest.approx(r["recall_10"])
        assert m["map@r"] == pytest.approx(m["map@r_full"])


@pytest.mark.parametrize(("n", "r"), [(1, 1), (4, 1), (5, 2), (6, 3), (7, 7)])
def test_chance_is_the_mean_over_every_ranking(n, r):
    """The random-ranking floor equals the average of each metric over all n! orderings."""
    import itertools

    relevant = set(range(r))
    per_order = [query_metrics(list(order), relevant) for order in itertools.permutations(range(n))]
    exact = mean_metrics(per_order)
    expected = chance_metrics(n, r)
    for name, value in exact.items():
        assert expected[name] == pytest.approx(value, abs=1e-12), name


def test_chance_by_hand_for_one_relevant_item():
    # one relevant item among 4: MRR = (1 + 1/2 + 1/3 + 1/4) / 4, R@1 = 1/4, R@5 = 1
    c = chance_metrics(4, 1)
    assert c["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    assert c["r@1"] == pytest.approx(0.25) and c["r@5"] == 1.0
    assert chance_metrics(1000, 1)["mrr"] == pytest.approx(
        sum(1 / i for i in range(1, 1001)) / 1000
    )
    with pytest.raises(ValueError):
        chance_metrics(3, 4)


def test_pair_threshold_and_f1_by_hand():
    # validation: the best F1 is at threshold 0.6 (predict the top 3: tp=2, fp=1, fn=0 -> F1 0.8)
    scores = [0.9, 0.7, 0.6, 0.4, 0.1]
    labels = [1, 0, 1, 0, 0]
    assert best_threshold(scores, labels) == pytest.approx(0.6)
    # test at 0.6: predicted {0.95, 0.65}; tp=1 (0.95), fp=1 (0.65), fn=1 (0.5)
    m = classify_at([0.95, 0.65, 0.5, 0.2], [1, 0, 1, 0], 0.6)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(0.5) and m["threshold"] == 0.6
    # ties in score share one decision: both 0.5s are in or out together
    assert best_threshold([0.5, 0.5, 0.2], [1, 0, 0]) == pytest.approx(0.5)
    # the all-clones floor: p = 2/4 -> F1 = 2p / (1 + p) = 2/3
    assert chance_pair_metrics([1, 0, 1, 0])["f1"] == pytest.approx(2 / 3)
