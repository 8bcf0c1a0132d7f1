"""Metrics: hand-checked rankings and agreement with pytrec_eval (trec_eval's definitions)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytrec_eval

from eval.metrics import (
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
    assert m["recall@1"] == 0.0
    assert m["recall@5"] == 1.0
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


def test_mrr_uses_full_pool_rank_not_top_k():
    # the relevant item is outside the top-10 list: MRR must still count it
    ranked = [f"d{i}" for i in range(10)]
    m = query_metrics(ranked, {"x"}, first_rank_in_pool=40)
    assert m["mrr"] == pytest.approx(1 / 40)
    assert m["recall@10"] == 0.0 and m["ndcg@10"] == 0.0
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
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank", "ndcg_cut.10", "recall.5,10"})
    ref = evaluator.evaluate(run)
    for i, m in enumerate(ours):
        r = ref[f"q{i}"]
        assert m["mrr"] == pytest.approx(r["recip_rank"])
        assert m["ndcg@10"] == pytest.approx(r["ndcg_cut_10"])
        assert m["recall@5"] == pytest.approx(r["recall_5"])
        assert m["recall@10"] == pytest.approx(r["recall_10"])
        assert m["map@r"] == pytest.approx(m["map@r_full"])
