"""BM25: tokens, Lucene's formula on a hand-checked case, and the floor it gives."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eval.bm25 import BM25Config, BM25Index, idf_formula, tokenize


def test_code_aware_tokens():
    toks = tokenize("def getUserName(user_id): return HTTPServer")
    for t in ("get", "user", "name", "getusername", "id", "user_id", "http", "server"):
        assert t in toks


def test_score_matches_the_formula_by_hand():
    corpus = ["apple banana", "apple apple cherry", "banana"]
    index = BM25Index(corpus)
    k1, b = 1.2, 0.75
    avgdl = (2 + 3 + 1) / 3
    tf, dl = 2, 3
    expected = idf_formula(3, 2) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
    assert index.scores(["apple"])[0, 1] == pytest.approx(expected, rel=1e-6)
    assert idf_formula(3, 2) == pytest.approx(math.log(1 + (3 - 2 + 0.5) / (2 + 0.5)))
    assert index.scores(["durian"]).tolist() == [[0.0, 0.0, 0.0]]


def test_search_ranks_and_full_pool_ranks():
    corpus = ["def add(a, b): return a + b", "def read_file(path): open(path)", "def sort_list(xs)"]
    index = BM25Index(corpus)
    res = index.search(
        ["read a file from a path", "sort the list"], k=3, relevant=[np.array([1]), np.array([2])]
    )
    assert res.indices[:, 0].tolist() == [1, 2]
    assert res.first_relevant_rank.tolist() == [1, 1]


def test_bad_config():
    with pytest.raises(ValueError):
        BM25Config(b=2.0)
