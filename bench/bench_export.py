"""An exported exit against our encoder: agreement of the vectors, and encoding speed.

    .venv/bin/python bench/bench_export.py --model=CKPT --exit=K --codes=FILE.jsonl [--n=256] [--k=3]

Exports exit K of CKPT (``python -m model.export``) to a temporary folder, loads it with
``sentence_transformers.SentenceTransformer`` and encodes the same code items (the ``code``
field of a JSON-lines file, language from ``language``) and their docstrings with both. Prints
the cosine between the two vectors of each item (min / mean) and one timing row per side:
``case | baseline | candidate | ratio | n`` with baseline = our ``MoseEncoder``, candidate =
sentence-transformers, ratio = baseline_time / candidate_time (>1 = sentence-transformers
faster), median of k runs after a warm-up, CPU seconds of this process (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.encode import MoseEncoder  # noqa: E402
from model.export import export_exit  # noqa: E402


def _cpu_median(fn, k: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(k):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--exit", type=int, required=True)
    p.add_argument("--codes", required=True, help="JSON lines with code, language and docstring")
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--k", type=int, default=3)
    args = p.parse_args(argv)
    from sentence_transformers import SentenceTransformer

    records = [json.loads(line) for line in open(args.codes, encoding="utf-8")][: args.n]
    codes = [r["code"] for r in records]
    langs = [r.get("language") or "python" for r in records]
    docs = [r.get("docstring") or "" for r in records]
    encoder = MoseEncoder.from_pretrained(args.model, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        export_exit(args.model, args.exit, tmp)
        st = SentenceTransformer(tmp, device="cpu")
        ours = encoder.encode_code(codes, langs, exits=[args.exit])[args.exit]
        theirs = np.concatenate(
            [
                st.encode(
                    [c for c, lg in zip(codes, langs, strict=True) if lg == lang],
                    prompt_name=f"code_{lang}",
                    convert_to_numpy=True,
                )
                for lang in sorted(set(langs))
            ]
        )
        order = np.concatenate(
            [[i for i, lg in enumerate(langs) if lg == lang] for lang in sorted(set(langs))]
        )
        ours = ours[order]
        ours_text = encoder.encode_text(docs, exits=[args.exit])[args.exit]
        theirs_text = st.encode(docs, prompt_name="query", convert_to_numpy=True)
        cos_code = (ours * theirs).sum(1)
        cos_text = (ours_text * theirs_text).sum(1)
        print(
            f"torch {torch.__version__}, cpu threads {torch.get_num_threads()}, exit {args.exit}, {len(codes)} items"
        )
        print(
            f"cosine(ours, sentence-transformers): code min {cos_code.min():.7f} mean {cos_code.mean():.7f}; "
            f"text min {cos_text.min():.7f} mean {cos_text.mean():.7f}; "
            f"max |diff| {max(np.abs(ours - theirs).max(), np.abs(ours_text - theirs_text).max()):.2e}"
        )
        base = _cpu_median(lambda: encoder.encode_code(codes, langs, exits=[args.exit]), args.k)
        cand = _cpu_median(
            lambda: st.encode(codes, prompt_name="code_python", convert_to_numpy=True), args.k
        )
        print(
            "case | baseline (MoseEncoder, CPU s) | candidate (SentenceTransformer, CPU s) | ratio (>1 = candidate faster) | n"
        )
        print(
            f"encode code at exit {args.exit} | {base:.2f} | {cand:.2f} | {base / cand:.2f}x | {len(codes)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
