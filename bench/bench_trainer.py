"""Trainer cost of self-distillation: steps/s with all exits trained vs the last exit only.

docs/design.md, "Budgets": self-distillation costs <= 10% over last-exit-only training per
step, i.e. ratio (self-distilled steps/s / last-exit steps/s) >= 0.91. Both modes run the
same model (tiny config), the same pre-built batches and the trainer's own loss code
(``model.train.Stepper``), interleaved, median of k timed runs after a warm-up. Two
clocks: wall time, and this process's CPU time (steps per CPU-second), which a shared,
oversubscribed machine disturbs far less than wall time (torch runs single-threaded here).

    python bench/bench_trainer.py [--data=DIR] [--k=5] [--steps=8] [--batch_size=8]
        [--max_length=128] [--threads=1]

Without ``--data`` a shard is mined from the Python standard library (real functions and
their docstrings) in memory.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import sysconfig
import time
from pathlib import Path

import torch
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.data import ContrastiveSampler, PretrainSampler, read_release, repository_units  # noqa: E402
from model.demo_data import mine_tree  # noqa: E402
from model.distributed import DistContext  # noqa: E402
from model.losses import exit_weights  # noqa: E402
from model.modeling import MoseModel  # noqa: E402
from model.tokenizer import MoseTokenizer  # noqa: E402
from model.train import (  # noqa: E402
    MoseTrainModule,
    Stepper,
    TrainConfig,
    build_model,
    make_optimizer,
)


def _rows(data: str | None) -> list[dict]:
    if data:
        return read_release(data)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return [r.to_row() for r in mine_tree(stdlib, max_functions=400, max_per_repository=40)]


def _time_steps(model: MoseModel, batches, weights, cfg, steps: int) -> tuple[float, float]:
    """(steps per wall second, steps per CPU second of this process), through the trainer's
    own step (``model.train.Stepper``: forward, backward, clipping, AdamW)."""
    module = MoseTrainModule(model, sorted(weights))
    stepper = Stepper(cfg, DistContext(), module, module, make_optimizer(module, cfg), weights)
    start, cpu_start = time.perf_counter(), time.process_time()
    for position in range(steps):
        stepper(position, [batches[position % len(batches)]])
    return steps / (time.perf_counter() - start), steps / (time.process_time() - cpu_start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--max_length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    rows = _rows(args.data)
    texts = [r["func1_CSN"] for r in rows] + [r["func_documentation_string"] for r in rows]
    tokenizer = MoseTokenizer.train(texts, 2000)
    print(
        f"# bench_trainer: steps/s, tiny config, >1 = faster (candidate = self-distillation, "
        f"baseline = last exit only; budget ratio >= 0.91)\n"
        f"# device: {platform.processor() or platform.machine()} CPU, torch threads {args.threads}, "
        f"load avg {os.getloadavg()[0]:.1f}; torch {torch.__version__}, "
        f"transformers {transformers.__version__}; {len(rows)} rows, batch {args.batch_size}, "
        f"max_length {args.max_length}, {args.steps} steps per run, median of k={args.k}"
    )
    print("case | baseline | candidate | ratio | n")
    for objective in ("pretrain", "contrastive"):
        cfg = TrainConfig(
            data="", output="", objective=objective, max_length=args.max_length, seed=0
        )
        model = build_model(cfg, tokenizer)
        model.train()
        if objective == "pretrain":
            sampler = PretrainSampler(repository_units(rows), tokenizer, args.max_length, 0)
        else:
            sampler = ContrastiveSampler(rows, tokenizer, args.max_length, 0)
        batches = [sampler.batch(i, args.batch_size) for i in range(args.steps)]
        modes = {
            "last": exit_weights(model.exits, self_distillation=False),
            "sd": exit_weights(model.exits, self_distillation=True),
        }
        for weights in modes.values():  # warm-up
            _time_steps(model, batches[:2], weights, cfg, 2)
        timings: dict[str, list[tuple[float, float]]] = {name: [] for name in modes}
        for _ in range(args.k):
            for name, weights in modes.items():
                timings[name].append(_time_steps(model, batches, weights, cfg, args.steps))
        for column, clock in ((0, "wall"), (1, "cpu")):
            base = statistics.median(t[column] for t in timings["last"])
            cand = statistics.median(t[column] for t in timings["sd"])
            print(
                f"{objective} tiny exits {model.exits} ({clock}) | {base:.3f} | {cand:.3f} | "
                f"{cand / base:.3f} | {args.k}x{args.steps}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
