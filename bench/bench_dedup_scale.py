"""Dedup time against corpus size: ``python -m pipeline.dedup`` (DirectRunner) on 10k-100k functions.

Each case writes a JSONL corpus of ~1 KB code-like functions (a Zipf-distributed vocabulary of
identifiers and keywords, 160 tokens each), ~10% of them near-duplicates of another
function (5-10% of tokens changed) and ~2% exact copies with whitespace changes, then runs
the CLI in a fresh process, exactly as a user would, and times it end to end (reading,
exact dedup, signatures, LSH, verification, union-find, writing). Corpus generation is not
timed. The baseline column is linear growth from the smallest case (its time scaled by the
size ratio), so ratio > 1 means the run grew slower than linearly.

    .venv/bin/python bench/bench_dedup_scale.py [--sizes=10000,30000,100000] [--repeats=1] [-- BEAM FLAGS]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import apache_beam
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KEYWORDS = (
    "def",
    "return",
    "if",
    "else",
    "for",
    "in",
    "while",
    "import",
    "self",
    "None",
    "(",
    ")",
    ":",
    "=",
    ",",
)


def make_corpus(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz_"))
    vocab = ["".join(rng.choice(letters, size=rng.integers(3, 10))) for _ in range(20_000)] + list(
        KEYWORDS
    )
    vocab_arr = np.array(vocab, dtype=object)
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    rng.shuffle(weights)
    weights /= weights.sum()
    n_near, n_exact = n // 10, n // 50
    n_base = n - n_near - n_exact
    tokens = rng.choice(len(vocab), size=(n_base, 160), p=weights)
    rows: list[dict] = []

    def render(tok_ids) -> str:
        words = vocab_arr[tok_ids]
        return (
            "def f():\n"
            + "\n".join("    " + " ".join(words[i : i + 8]) for i in range(0, len(words), 8))
            + "\n"
        )

    for i in range(n_base):
        rows.append(
            {
                "id": f"f{i}",
                "code": render(tokens[i]),
                "repository_name": f"repo{i % 997}",
                "license": "mit",
            }
        )
    for j in range(n_near):
        src = rng.integers(n_base)
        toks = tokens[src].copy()
        k = rng.integers(8, 17)
        toks[rng.choice(160, size=k, replace=False)] = rng.choice(len(vocab), size=k, p=weights)
        rows.append(
            {
                "id": f"n{j}",
                "code": render(toks),
                "repository_name": f"repo{j % 991}",
                "license": None,
            }
        )
    for j in range(n_exact):
        src = rows[int(rng.integers(n_base))]
        rows.append({**src, "id": f"x{j}", "code": src["code"].replace("\n", "\n\n")})
    return rows


def run_cli(corpus: Path, out: Path, beam_args: list[str]) -> tuple[float, dict]:
    cmd = [
        sys.executable,
        "-m",
        "pipeline.dedup",
        f"--input={corpus}",
        f"--output={out}",
        *beam_args,
    ]
    t0 = time.perf_counter()
    subprocess.run(
        cmd,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    return time.perf_counter() - t0, json.loads((out / "stats.json").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,30000,100000")
    parser.add_argument("--repeats", type=int, default=1)
    args, beam_args = parser.parse_known_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    load = os.getloadavg()[0]
    print(
        f"# dedup CLI wall time vs corpus size, rows/s, >1 = faster (candidate = measured; baseline = "
        f"linear growth from the {sizes[0]:,}-row case)\n"
        f"# device: {platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores, load average "
        f"{load:.1f} at start; python {platform.python_version()}, apache-beam {apache_beam.__version__}, "
        f"numpy {np.__version__}; runner flags: {' '.join(beam_args) or '(default DirectRunner)'}; "
        f"median of {args.repeats}"
    )
    print("case | baseline | candidate | ratio | n")
    first = None
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            corpus = Path(tmp) / f"corpus_{n}.jsonl"
            with corpus.open("w") as f:
                for row in make_corpus(n):
                    f.write(json.dumps(row) + "\n")
            times, stats = [], {}
            for r in range(args.repeats):
                t, stats = run_cli(corpus, Path(tmp) / f"out_{n}_{r}", beam_args)
                times.append(t)
            t = statistics.median(times)
            first = first or (n, t)
            linear = first[1] * n / first[0]
            print(
                f"dedup {n:,} functions | {n / linear:,.0f} rows/s ({linear:.1f} s) | {n / t:,.0f} rows/s "
                f"({t:.1f} s) | {linear / t:.2f} | {n} rows, removed {stats['removed_by_reason']}, "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
