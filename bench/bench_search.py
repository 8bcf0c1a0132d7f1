"""Exact search speed: eval.search (torch matmul + deterministic top-k) against faiss IndexFlatIP.

docs/design.md, "Budgets": the evaluator's exact search must stay within 1.5x of faiss ``IndexFlatIP``
on the same embeddings, i.e. ratio >= 0.67 below. Random L2-normalised float32 embeddings,
k=10, one warm-up then the median of ``--repeats`` runs per path; both paths use the same number
of threads. Also checks that both paths return identical indices.

    .venv/bin/python bench/bench_search.py [--queries=2000] [--repeats=3] [--quick]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.search import exact_search  # noqa: E402

CASES: tuple[tuple[str, int, int], ...] = (
    ("100k x 256", 100_000, 256),
    ("20k x 1024", 20_000, 1024),
)


def _normalised(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="corpora 10x smaller (smoke run)")
    args = parser.parse_args(argv)
    threads = torch.get_num_threads()
    faiss.omp_set_num_threads(threads)
    print(
        f"# exact search, queries/s, >1 = faster (candidate = eval.search torch, baseline = faiss "
        f"IndexFlatIP); target ratio >= 0.67 (within 1.5x)\n"
        f"# device: {platform.processor() or platform.machine()} CPU, {threads} threads; "
        f"torch {torch.__version__}, faiss {faiss.__version__}, numpy {np.__version__}; "
        f"k={args.k}, median of {args.repeats}"
    )
    print("case | baseline | candidate | ratio | n")
    rng = np.random.default_rng(0)
    worst = float("inf")
    for name, n, d in CASES:
        if args.quick:
            n //= 10
        corpus = _normalised(rng, n, d)
        queries = _normalised(rng, args.queries, d)
        t_faiss = _median_seconds(
            lambda c=corpus, q=queries: exact_search(q, c, args.k, backend="faiss"), args.repeats
        )
        t_ours = _median_seconds(
            lambda c=corpus, q=queries: exact_search(q, c, args.k, backend="torch"), args.repeats
        )
        same = np.array_equal(
            exact_search(queries, corpus, args.k, backend="faiss").indices,
            exact_search(queries, corpus, args.k, backend="torch").indices,
        )
        qps_f, qps_o = args.queries / t_faiss, args.queries / t_ours
        worst = min(worst, qps_o / qps_f)
        print(
            f"{name}{' (quick)' if args.quick else ''} | {qps_f:,.0f} q/s | {qps_o:,.0f} q/s | "
            f"{qps_o / qps_f:.2f} | {args.queries} queries{'' if same else ' (INDICES DIFFER)'}"
        )
    print(
        f"# worst ratio {worst:.2f} ({'meets' if worst >= 1 / 1.5 else 'misses'} the 1.5x target)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
