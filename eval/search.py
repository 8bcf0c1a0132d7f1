"""Exact inner-product search: batched matrix products, top-k with deterministic ties.

Results are ordered by ``(-score, corpus position)``: among equal scores the earlier corpus item
ranks first (tasks sort their corpus by id, so this is the ``(-score, corpus_id)`` rule of
sentence-transformers' ``InformationRetrievalEvaluator``), so a ranking never depends on the
batch size or on the order a top-k routine happens to return ties in.

Two paths with identical results:

- ``exact_search(..., backend="torch")``: ``queries @ corpus.T`` per query batch, then
  ``torch.topk(k + 1)``; the extra column tells whether the k-th score is tied with the next
  one, and only such rows are re-ranked over the whole pool. This path also gives, per query,
  the rank of its first relevant item in the *full* pool (what MRR needs).
- ``exact_search(..., backend="faiss")``: faiss ``IndexFlatIP`` (the reference the speed target
  is measured against, docs/eval.md), post-processed to the same tie order.

Inputs are float32 arrays; for cosine similarity pass L2-normalised embeddings (the encoders'
contract).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

BACKENDS: tuple[str, ...] = ("torch", "faiss")

#: Upper bound on the per-batch score matrix (bytes); queries are batched to stay under it.
SCORE_BLOCK_BYTES = 64 * 2**20


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """Top-k per query; ``first_relevant_rank`` (1-based, 0 = no relevant item) when asked."""

    indices: np.ndarray  # (n_queries, k) int64 corpus positions, best first
    scores: np.ndarray  # (n_queries, k) float32
    first_relevant_rank: np.ndarray | None = None  # (n_queries,) int64


def _check_inputs(queries: np.ndarray, corpus: np.ndarray, k: int) -> int:
    if queries.ndim != 2 or corpus.ndim != 2:
        raise ValueError(f"queries and corpus must be 2-d, got {queries.shape} and {corpus.shape}")
    if queries.shape[1] != corpus.shape[1]:
        raise ValueError(
            f"dimension mismatch: queries {queries.shape[1]}, corpus {corpus.shape[1]}"
        )
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    if corpus.shape[0] == 0:
        raise ValueError("empty corpus")
    return min(k, corpus.shape[0])


def _order_ties(idx: torch.Tensor, vals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort each row by (-score, index): index-sort first, then a stable descending score sort."""
    idx_sorted, perm = torch.sort(idx, dim=1)
    vals_p = torch.gather(vals, 1, perm)
    vals_s, perm2 = torch.sort(vals_p, dim=1, descending=True, stable=True)
    return torch.gather(idx_sorted, 1, perm2), vals_s


def _exact_row(row_scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k of one full score row by (-score, index), without relying on topk's tie order."""
    order = torch.sort(row_scores, descending=True, stable=True).indices[:k]
    return order, row_scores[order]


def topk_deterministic(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k indices and scores per row of ``scores`` (b, n), ties by lower index first."""
    n = scores.shape[1]
    k = min(k, n)
    probe = min(k + 1, n)
    vals, idx = torch.topk(scores, probe, dim=1, sorted=True)
    if probe > k:
        boundary_tie = vals[:, k - 1] == vals[:, k]
        vals, idx = vals[:, :k], idx[:, :k]
    else:
        boundary_tie = torch.zeros(scores.shape[0], dtype=torch.bool)
    idx, vals = _order_ties(idx, vals)
    for row in torch.nonzero(boundary_tie).flatten().tolist():
        idx[row], vals[row] = _exact_row(scores[row], k)
    return idx, vals


def _first_relevant_ranks(scores: torch.Tensor, relevant: Sequence[np.ndarray]) -> torch.Tensor:
    """Full-pool 1-based rank of each row's best relevant item (0 when it has none)."""
    b, n = scores.shape
    best_col = torch.zeros(b, dtype=torch.long)
    has = torch.zeros(b, dtype=torch.bool)
    for row, rel in enumerate(relevant):
        if len(rel) == 0:
            continue
        rel_t = torch.as_tensor(np.sort(np.asarray(rel, dtype=np.int64)))
        # stable descending sort of the relevant scores: ties resolved by lower index
        best = torch.sort(scores[row, rel_t], descending=True, stable=True).indices[0]
        best_col[row] = rel_t[best]
        has[row] = True
    best_score = torch.gather(scores, 1, best_col[:, None])
    above = (scores > best_score).sum(dim=1)
    positions = torch.arange(n)[None, :]
    tied_before = ((scores == best_score) & (positions < best_col[:, None])).sum(dim=1)
    ranks = above + tied_before + 1
    return torch.where(has, ranks, torch.zeros_like(ranks))


def _exclude(scores: torch.Tensor, excluded: Sequence[np.ndarray] | None) -> None:
    """Set each row's excluded corpus positions to -inf in place (they rank last, never above)."""
    if excluded is None:
        return
    for row, positions in enumerate(excluded):
        if len(positions):
            scores[row, torch.as_tensor(np.asarray(positions, dtype=np.int64))] = float("-inf")


def _torch_search(
    queries: np.ndarray,
    corpus: np.ndarray,
    k: int,
    relevant: Sequence[np.ndarray] | None,
    batch_size: int,
    excluded: Sequence[np.ndarray] | None = None,
) -> SearchResult:
    q_all = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32))
    c_t = torch.from_numpy(np.ascontiguousarray(corpus, dtype=np.float32)).T
    out_idx, out_vals, out_ranks = [], [], []
    # One reused score buffer of at most ~SCORE_BLOCK_BYTES: a fresh (b, n) matrix per batch
    # costs page faults that, at 100k x 256, take longer than the matrix product itself.
    n = c_t.shape[1]
    rows = max(16, min(batch_size, SCORE_BLOCK_BYTES // (4 * n)))
    buffer = torch.empty((min(rows, max(1, q_all.shape[0])), n), dtype=torch.float32)
    with torch.inference_mode():
        for start in range(0, q_all.shape[0], rows):
            q = q_all[start : start + rows]
            scores = buffer[: q.shape[0]]
            torch.mm(q, c_t, out=scores)  # (b, n)
            _exclude(scores, excluded[start : start + rows] if excluded is not None else None)
            idx, vals = topk_deterministic(scores, k)
            out_idx.append(idx)
            out_vals.append(vals)
            if relevant is not None:
                out_ranks.append(_first_relevant_ranks(scores, relevant[start : start + rows]))
    if not out_idx:
        return SearchResult(
            np.zeros((0, k), np.int64),
            np.zeros((0, k), np.float32),
            np.zeros(0, np.int64) if relevant is not None else None,
        )
    return SearchResult(
        indices=torch.cat(out_idx).numpy().astype(np.int64),
        scores=torch.cat(out_vals).numpy().astype(np.float32),
        first_relevant_rank=torch.cat(out_ranks).numpy().astype(np.int64) if out_ranks else None,
    )


def _faiss_search(queries: np.ndarray, corpus: np.ndarray, k: int) -> SearchResult:
    import faiss  # optional heavy dependency, imported where used

    q = np.ascontiguousarray(queries, dtype=np.float32)
    c = np.ascontiguousarray(corpus, dtype=np.float32)
    index = faiss.IndexFlatIP(c.shape[1])
    index.add(c)
    probe = min(k + 1, c.shape[0])
    vals_np, idx_np = index.search(q, probe)
    vals, idx = torch.from_numpy(vals_np), torch.from_numpy(idx_np.astype(np.int64))
    if probe > k:
        boundary_tie = vals[:, k - 1] == vals[:, k]
        vals, idx = vals[:, :k].contiguous(), idx[:, :k].contiguous()
    else:
        boundary_tie = torch.zeros(q.shape[0], dtype=torch.bool)
    idx, vals = _order_ties(idx, vals)
    rows = torch.nonzero(boundary_tie).flatten().tolist()
    if rows:
        full = torch.from_numpy(q[rows]) @ torch.from_numpy(c).T
        for j, row in enumerate(rows):
            idx[row], vals[row] = _exact_row(full[j], k)
    return SearchResult(indices=idx.numpy(), scores=vals.numpy())


def exact_search(
    queries: np.ndarray,
    corpus: np.ndarray,
    k: int = 10,
    *,
    relevant: Sequence[np.ndarray] | None = None,
    batch_size: int = 1024,
    backend: str = "torch",
    excluded: Sequence[np.ndarray] | None = None,
) -> SearchResult:
    """Top-k of ``queries @ corpus.T`` per query, ordered by (-score, corpus position).

    ``relevant`` (torch backend only): per query, the corpus positions of its relevant items;
    the result then carries each query's full-pool rank of its first relevant item.
    ``excluded`` (torch backend only): per query, corpus positions left out of its ranking
    (scored -inf, so they come last and never count as above a relevant item).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    k = _check_inputs(queries, corpus, k)
    if relevant is not None and len(relevant) != queries.shape[0]:
        raise ValueError(f"relevant has {len(relevant)} entries for {queries.shape[0]} queries")
    if excluded is not None and len(excluded) != queries.shape[0]:
        raise ValueError(f"excluded has {len(excluded)} entries for {queries.shape[0]} queries")
    if backend == "faiss":
        if relevant is not None or excluded is not None:
            raise ValueError("full-pool ranks and exclusions need the torch backend")
        return _faiss_search(queries, corpus, k)
    return _torch_search(queries, corpus, k, relevant, batch_size, excluded)


def rank_score_matrix(
    scores: np.ndarray,
    k: int,
    relevant: Sequence[np.ndarray] | None = None,
    excluded: Sequence[np.ndarray] | None = None,
) -> SearchResult:
    """The same ranking rules over a precomputed (n_queries, n_corpus) score matrix (BM25)."""
    s = torch.from_numpy(np.array(scores, dtype=np.float32))  # a copy: exclusions write into it
    _exclude(s, excluded)
    k = min(k, s.shape[1])
    idx, vals = topk_deterministic(s, k)
    ranks = _first_relevant_ranks(s, relevant) if relevant is not None else None
    return SearchResult(
        indices=idx.numpy().astype(np.int64),
        scores=vals.numpy(),
        first_relevant_rank=ranks.numpy().astype(np.int64) if ranks is not None else None,
    )
