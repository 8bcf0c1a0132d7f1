"""BM25: the lexical floor every evaluation prints (docs/eval.md).

Okapi BM25 (Robertson & Zaragoza 2009, "The Probabilistic Relevance Framework: BM25 and
Beyond") with Lucene's defaults and non-negative idf: ``k1 = 1.2``, ``b = 0.75``,
``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))``. Code-aware tokens: words are split on
non-alphanumerics, snake_case and camelCase, lower-cased, and each multi-part identifier is also
kept whole, so ``getUserName`` matches both "user name" and ``getusername``.

Scores are a sparse product (query term counts x precomputed BM25 document weights) ranked by
``eval.search.rank_score_matrix``, so ties and full-pool ranks follow the same rules as the
dense models.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from eval.search import SearchResult, rank_score_matrix

_WORD = re.compile(r"[A-Za-z0-9]+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-cased sub-tokens of ``text`` plus each multi-part identifier whole."""
    out: list[str] = []
    for word in _WORD.findall(text):
        parts = _CAMEL.findall(word)
        out.extend(p.lower() for p in parts)
        if len(parts) > 1:
            out.append(word.lower())
    for ident in re.findall(r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+", text):
        out.append(ident.lower())
    return out


@dataclasses.dataclass(frozen=True)
class BM25Config:
    """Lucene's BM25 defaults (k1 = 1.2, b = 0.75)."""

    k1: float = 1.2
    b: float = 0.75

    def __post_init__(self) -> None:
        if self.k1 < 0 or not 0 <= self.b <= 1:
            raise ValueError(f"need k1 >= 0 and 0 <= b <= 1, got k1={self.k1}, b={self.b}")


class BM25Index:
    """A BM25 index over one corpus."""

    def __init__(self, corpus: Sequence[str], config: BM25Config = BM25Config()) -> None:
        self.config = config
        docs = [Counter(tokenize(text)) for text in corpus]
        self.vocab: dict[str, int] = {}
        for doc in docs:
            for term in doc:
                self.vocab.setdefault(term, len(self.vocab))
        n = len(docs)
        lengths = np.array([sum(d.values()) for d in docs], dtype=np.float64)
        avgdl = float(lengths.mean()) if n and lengths.mean() > 0 else 1.0
        rows, cols, tfs = [], [], []
        for i, doc in enumerate(docs):
            for term, tf in doc.items():
                rows.append(i)
                cols.append(self.vocab[term])
                tfs.append(tf)
        tf_arr = np.asarray(tfs, dtype=np.float64)
        col_arr = np.asarray(cols, dtype=np.int64)
        df = np.bincount(col_arr, minlength=len(self.vocab)).astype(np.float64)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        k1, b = config.k1, config.b
        norm = k1 * (1 - b + b * lengths[np.asarray(rows, dtype=np.int64)] / avgdl)
        weights = idf[col_arr] * tf_arr * (k1 + 1) / (tf_arr + norm)
        self.doc_weights = sp.csr_matrix(
            (weights, (rows, cols)), shape=(n, max(1, len(self.vocab)))
        ).T.tocsr()  # (vocab, n)
        self.size = n

    def query_matrix(self, queries: Sequence[str]) -> sp.csr_matrix:
        rows, cols, vals = [], [], []
        for i, q in enumerate(queries):
            for term, count in Counter(tokenize(q)).items():
                j = self.vocab.get(term)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
                    vals.append(float(count))
        return sp.csr_matrix((vals, (rows, cols)), shape=(len(queries), self.doc_weights.shape[0]))

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """Dense (n_queries, n_corpus) BM25 scores."""
        return np.asarray(
            (self.query_matrix(queries) @ self.doc_weights).todense(), dtype=np.float32
        )

    def search(
        self,
        queries: Sequence[str],
        k: int = 10,
        relevant: Sequence[np.ndarray] | None = None,
        batch_size: int = 512,
        excluded: Sequence[np.ndarray] | None = None,
    ) -> SearchResult:
        """Top-k (and full-pool first-relevant ranks) with the dense search's tie rules."""
        parts: list[SearchResult] = []
        for start in range(0, len(queries), batch_size):
            rel = relevant[start : start + batch_size] if relevant is not None else None
            excl = excluded[start : start + batch_size] if excluded is not None else None
            scores = self.scores(queries[start : start + batch_size])
            parts.append(rank_score_matrix(scores, k, rel, excl))
        if not parts:
            return SearchResult(np.zeros((0, k), np.int64), np.zeros((0, k), np.float32))
        ranks = [p.first_relevant_rank for p in parts]
        return SearchResult(
            indices=np.concatenate([p.indices for p in parts]),
            scores=np.concatenate([p.scores for p in parts]),
            first_relevant_rank=np.concatenate(ranks) if relevant is not None else None,
        )


def pair_scores(
    items: Sequence[str], pairs: Sequence[tuple[int, int]], config: BM25Config = BM25Config()
) -> np.ndarray:
    """Symmetric BM25 of item pairs: the mean of score(a as query, b) and score(b as query, a).

    The index (idf, lengths) is built over ``items``; (len(pairs),) float64.
    """
    if not pairs:
        return np.zeros(0)
    index = BM25Index(items, config)
    queries = index.query_matrix(items).tocsr()  # (n, vocab)
    documents = index.doc_weights.T.tocsr()  # (n, vocab)
    a = np.asarray([i for i, _ in pairs])
    b = np.asarray([j for _, j in pairs])
    forward = np.asarray(queries[a].multiply(documents[b]).sum(axis=1)).ravel()
    backward = np.asarray(queries[b].multiply(documents[a]).sum(axis=1)).ravel()
    return (forward + backward) / 2


def idf_formula(n: int, df: int) -> float:
    """Lucene's BM25 idf, exposed for tests and docs."""
    return math.log1p((n - df + 0.5) / (df + 0.5))
