"""Exact search: faiss and matmul paths agree; ties are deterministic; full-pool ranks exact."""

from __future__ import annotations

import numpy as np
import pytest

from eval.search import exact_search, rank_score_matrix


def _normalised(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_matmul_and_faiss_paths_return_identical_results():
    rng = np.random.default_rng(0)
    corpus, queries = _normalised(rng, 3000, 64), _normalised(rng, 200, 64)
    ours = exact_search(queries, corpus, 10, batch_size=37)
    ref = exact_search(queries, corpus, 10, backend="faiss")
    np.testing.assert_array_equal(ours.indices, ref.indices)
    np.testing.assert_allclose(ours.scores, ref.scores, atol=1e-5)


def test_matmul_and_faiss_agree_under_ties():
    # a corpus of few distinct vectors repeated: every top-k boundary is a tie
    rng = np.random.default_rng(1)
    base = _normalised(rng, 5, 16)
    corpus = base[rng.integers(0, 5, size=400)]
    queries = _normalised(rng, 30, 16)
    ours = exact_search(queries, corpus, 7)
    ref = exact_search(queries, corpus, 7, backend="faiss")
    np.testing.assert_array_equal(ours.indices, ref.indices)
    # the rule: (-score, corpus position)
    scores = queries @ corpus.T
    for i in range(len(queries)):
        expected = sorted(range(len(corpus)), key=lambda j: (-round(float(scores[i, j]), 5), j))[:7]
        assert ours.indices[i].tolist() == expected


def test_results_do_not_depend_on_batch_size():
    rng = np.random.default_rng(2)
    corpus = np.repeat(_normalised(rng, 50, 8), 3, axis=0)
    queries = _normalised(rng, 64, 8)
    a = exact_search(queries, corpus, 10, batch_size=1)
    b = exact_search(queries, corpus, 10, batch_size=1000)
    np.testing.assert_array_equal(a.indices, b.indices)


def test_first_relevant_rank_is_the_full_pool_rank():
    rng = np.random.default_rng(3)
    corpus = np.repeat(_normalised(rng, 100, 8), 2, axis=0)  # exact ties everywhere
    queries = _normalised(rng, 25, 8)
    relevant = [rng.choice(len(corpus), size=rng.integers(1, 4), replace=False) for _ in queries]
    res = exact_search(queries, corpus, 10, relevant=relevant, batch_size=7)
    full = exact_search(queries, corpus, len(corpus))
    for i, rel in enumerate(relevant):
        positions = [p for p, j in enumerate(full.indices[i].tolist()) if j in set(rel.tolist())]
        assert res.first_relevant_rank[i] == positions[0] + 1


def test_query_without_relevant_item_gets_rank_zero():
    corpus = np.eye(4, dtype=np.float32)
    res = exact_search(
        corpus[:2], corpus, 2, relevant=[np.array([1]), np.array([], dtype=np.int64)]
    )
    assert res.first_relevant_rank.tolist() == [2, 0]


def test_k_larger_than_pool_is_clipped():
    corpus = np.eye(3, dtype=np.float32)
    res = exact_search(corpus, corpus, 10)
    assert res.indices.shape == (3, 3)
    assert res.indices[:, 0].tolist() == [0, 1, 2]


def test_precomputed_scores_follow_the_same_rules():
    scores = np.array([[0.5, 0.9, 0.9, 0.1]], dtype=np.float32)
    res = rank_score_matrix(scores, 3, relevant=[np.array([2])])
    assert res.indices.tolist() == [[1, 2, 0]]
    assert res.first_relevant_rank.tolist() == [2]


@pytest.mark.parametrize(
    "kwargs",
    [dict(k=0), dict(backend="annoy"), dict(batch_size=0)],
)
def test_bad_arguments_are_value_errors(kwargs):
    x = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError):
        exact_search(x, x, **{"k": 2, **kwargs})


def test_dimension_mismatch_is_a_value_error():
    with pytest.raises(ValueError):
        exact_search(np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32), 2)


def test_excluded_items_leave_the_ranking():
    # the query is item 0 of the corpus itself (POJ-104): left out, the next best ranks first
    corpus = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], dtype=np.float32)
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    res = exact_search(corpus[:1], corpus, 3, relevant=[np.array([2])], excluded=[np.array([0])])
    assert res.indices[0].tolist()[:2] == [1, 2]
    assert res.first_relevant_rank.tolist() == [2]
    same = rank_score_matrix(
        corpus[:1] @ corpus.T, 3, relevant=[np.array([2])], excluded=[np.array([0])]
    )
    assert same.indices[0].tolist()[:2] == [1, 2] and same.first_relevant_rank.tolist() == [2]
    with pytest.raises(ValueError):
        exact_search(corpus[:1], corpus, 2, excluded=[np.array([0])], backend="faiss")
