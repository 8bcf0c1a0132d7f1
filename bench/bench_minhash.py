"""MinHash signature speed: pipeline.minhash.signatures against datasketch on the same documents.

docs/design.md, "Budgets": >= 4x datasketch ``MinHash.update_batch`` per core on ~1 KB functions at
256 permutations. Documents are real functions (700-1,400 characters) extracted with ``ast``
from the Python packages installed next to this interpreter. Both sides do the whole job:
whitespace normalisation, character 5-grams, hashing, 256 permutations. The process is pinned
to one CPU; one warm-up, then the median of ``--repeats`` runs. A second table checks quality:
estimated against true Jaccard on (function, edited function) pairs, for both libraries.

    .venv/bin/python bench/bench_minhash.py [--docs=1000] [--repeats=3]
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import random
import statistics
import sys
import sysconfig
import time
from pathlib import Path

import datasketch
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.minhash import MinHashConfig, estimated_jaccard, jaccard, normalize, signatures  # noqa: E402

#: The pipeline's settings (SynthCoNL's), from their one definition.
NUM_PERM = MinHashConfig().num_perm
NGRAM = MinHashConfig().ngram


def real_functions(n: int, lo: int = 700, hi: int = 1400) -> list[str]:
    """Up to ``n`` distinct function sources of ``lo``-``hi`` characters from site-packages
    (files in sorted order, so every run sees the same documents)."""
    root = Path(sysconfig.get_paths()["purelib"])
    out: list[str] = []
    seen: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        try:
            src = path.read_text(encoding="utf-8")
            tree = ast.parse(src)
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError, RecursionError):
            continue
        lines = src.splitlines(keepends=True)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
                seg = "".join(lines[node.lineno - 1 : node.end_lineno])
                if lo <= len(seg) <= hi and seg not in seen:
                    seen.add(seg)
                    out.append(seg)
        if len(out) >= n:
            break
    return out[:n]


def _shingles(text: str) -> list[bytes]:
    norm = normalize(text)
    if len(norm) < NGRAM:
        return [norm.encode()] if norm else []
    return [norm[i : i + NGRAM].encode("utf-8") for i in range(len(norm) - NGRAM + 1)]


def datasketch_update_batch(docs: list[str]) -> list[np.ndarray]:
    out = []
    for d in docs:
        m = datasketch.MinHash(num_perm=NUM_PERM, seed=1)
        m.update_batch(_shingles(d))
        out.append(m.hashvalues)
    return out


def datasketch_bulk(docs: list[str]) -> list[np.ndarray]:
    return [
        m.hashvalues
        for m in datasketch.MinHash.bulk([_shingles(d) for d in docs], num_perm=NUM_PERM, seed=1)
    ]


def ours(docs: list[str], batch: int = 256) -> np.ndarray:
    return np.concatenate(
        [
            signatures(docs[i : i + batch], NUM_PERM, NGRAM, seed=1)
            for i in range(0, len(docs), batch)
        ]
    )


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _edited(text: str, rng: random.Random) -> str:
    """Drop and duplicate a few random lines: a realistic near-duplicate at varied Jaccard."""
    lines = text.splitlines()
    for _ in range(rng.randint(1, max(1, len(lines) // 3))):
        i = rng.randrange(len(lines))
        if rng.random() < 0.5 and len(lines) > 2:
            del lines[i]
        else:
            lines.insert(i, lines[i].replace("self", "this").replace("_", ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256, help="documents per signatures() call")
    args = parser.parse_args(argv)
    cpu = sorted(os.sched_getaffinity(0))[0]
    os.sched_setaffinity(0, {cpu})
    docs = real_functions(args.docs)
    mean_len = sum(map(len, docs)) / len(docs)
    print(
        f"# MinHash signatures, docs/s on one pinned core, >1 = faster (candidate = pipeline.minhash "
        f"batched numpy, baseline = datasketch); target ratio >= 4 against update_batch\n"
        f"# device: {platform.processor() or platform.machine()} CPU, pinned to cpu {cpu}; python "
        f"{platform.python_version()}, numpy {np.__version__}, datasketch {datasketch.__version__}; "
        f"{NUM_PERM} permutations, char {NGRAM}-grams, {len(docs)} real functions of mean {mean_len:.0f} "
        f"chars, batch {args.batch}, median of {args.repeats}"
    )
    print("case | baseline | candidate | ratio | n")
    t_ours = _median_seconds(lambda: ours(docs, args.batch), args.repeats)
    for name, fn in (
        ("vs MinHash.update_batch", datasketch_update_batch),
        ("vs MinHash.bulk", datasketch_bulk),
    ):
        t_base = _median_seconds(lambda fn=fn: fn(docs), args.repeats)
        base, cand = len(docs) / t_base, len(docs) / t_ours
        print(
            f"{name} | {base:,.0f} docs/s | {cand:,.0f} docs/s | {cand / base:.1f} | {len(docs)} docs"
        )

    rng = random.Random(0)
    pairs = [(d, _edited(d, rng)) for d in docs[:300]]
    true_j = np.array([jaccard(a, b) for a, b in pairs])
    sig_a, sig_b = ours([a for a, _ in pairs]), ours([b for _, b in pairs])
    est_ours = np.array([estimated_jaccard(x, y) for x, y in zip(sig_a, sig_b, strict=True)])
    ds_a, ds_b = (
        datasketch_update_batch([a for a, _ in pairs]),
        datasketch_update_batch([b for _, b in pairs]),
    )
    est_ds = np.array([float(np.mean(x == y)) for x, y in zip(ds_a, ds_b, strict=True)])
    expected = float(np.sqrt(np.mean(true_j * (1 - true_j) / NUM_PERM)))
    print(
        f"# quality on {len(pairs)} (function, edited function) pairs, true Jaccard "
        f"{true_j.min():.2f}-{true_j.max():.2f} (mean {true_j.mean():.2f}); binomial sampling RMSE {expected:.4f}"
    )
    print("estimator | bias (est - true) | RMSE")
    for name, est in (("datasketch update_batch", est_ds), ("pipeline.minhash", est_ours)):
        err = est - true_j
        print(f"{name} | {err.mean():+.4f} | {np.sqrt(np.mean(err**2)):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
