"""Trainer throughput: batches built by DataLoader workers vs in the training loop.

The trainer's batches (tokenisation, packing, MLM masking, padding) are built by
``model.data.make_loader``: ``--num_workers=0`` builds each step's batch synchronously in the
training process, between optimizer steps (baseline); ``--num_workers=N`` builds them in N
worker processes, ``--prefetch`` steps ahead, while the model trains (candidate). Both run
the trainer's own step (``model.train.Stepper``: forward, backward, clipping, AdamW) on the
same steps; the batches are identical (a test checks it). Interleaved runs, median of k.

Two clocks: wall time per step (what a run costs) and the training process's own CPU
seconds per step (the work taken off the step; on a shared machine the less noisy one).

    python bench/bench_trainer_loader.py [--k=3] [--steps=20] [--batch_size=16]
        [--max_length=256] [--workers=2] [--threads=1] [--objective=pretrain] [--num_layers=N]
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

from model.data import BatchLayout, make_loader  # noqa: E402
from model.demo_data import mine_tree  # noqa: E402
from model.distributed import DistContext  # noqa: E402
from model.losses import exit_weights  # noqa: E402
from model.tokenizer import MoseTokenizer  # noqa: E402
from model.train import (  # noqa: E402
    MoseTrainModule,
    Stepper,
    TrainConfig,
    build_model,
    freeze_unused,
    make_optimizer,
    make_sampler,
)


def _run(
    stepper: Stepper,
    sampler,
    layout: BatchLayout,
    start: int,
    steps: int,
    workers: int,
    prefetch: int,
) -> tuple[float, float, int]:
    """(wall s / step, training-process CPU s / step, tokens) over ``steps`` steps."""
    wall, cpu = time.perf_counter(), time.process_time()
    tokens = 0
    loader = make_loader(sampler, layout, start, start + steps, workers, prefetch)
    for offset, batches in enumerate(loader):
        tokens += sum(b.tokens() for b in batches)
        stepper(start + offset, batches)
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps, tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_length", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--prefetch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--num_layers",
        type=int,
        default=None,
        help="fewer layers: a cheaper step, as a GPU makes it",
    )
    parser.add_argument("--objective", default="pretrain", choices=["pretrain", "contrastive"])
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    rows = [r.to_row() for r in mine_tree(stdlib, max_functions=3000, max_per_repository=100)]
    tokenizer = MoseTokenizer.train(
        [r["func1_CSN"] for r in rows] + [r["func_documentation_string"] for r in rows], 4096
    )
    cfg = TrainConfig(
        data="", output="", objective=args.objective, max_length=args.max_length, steps=10_000
    )
    model = build_model(cfg, tokenizer).train()
    weights = exit_weights(model.config.exits)
    module = MoseTrainModule(model, sorted(weights))
    freeze_unused(module, cfg.objective, torch.device("cpu"))
    stepper = Stepper(cfg, DistContext(), module, module, make_optimizer(module, cfg), weights)
    sampler = make_sampler(cfg, rows, {}, tokenizer, args.max_length)
    layout = BatchLayout(args.batch_size)
    # how long building one step's batch takes alone, for scale
    started = time.process_time()
    for step in range(5):
        layout.rank_batches(sampler, step)
    build = (time.process_time() - started) / 5
    modes = {"sync": 0, "workers": args.workers}
    _run(stepper, sampler, layout, 0, 2, 0, 1)  # warm-up
    timings: dict[str, list[tuple[float, float, int]]] = {m: [] for m in modes}
    start = 100
    for _ in range(args.k):
        for name, workers in modes.items():
            timings[name].append(
                _run(stepper, sampler, layout, start, args.steps, workers, args.prefetch)
            )
            start += args.steps
    print(
        f"# bench_trainer_loader: {args.objective}, tiny preset"
        f"{f' cut to {args.num_layers} layers' if args.num_layers else ''}, batch {args.batch_size}, "
        f"max_length {args.max_length}, {len(rows)} stdlib functions; baseline = batches built "
        f"in the loop (--num_workers=0), candidate = {args.workers} DataLoader workers, "
        f"prefetch {args.prefetch}; >1 = faster\n"
        f"# device: {platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores "
        f"shared, torch threads {args.threads}, load avg {os.getloadavg()[0]:.1f}; torch "
        f"{torch.__version__}, transformers {transformers.__version__}; building one step's "
        f"batch alone: {build * 1000:.1f} ms CPU; median of k={args.k} runs of {args.steps} steps"
    )
    print("case | baseline | candidate | ratio | n")
    for column, label in ((0, "wall s/step"), (1, "training-process CPU s/step")):
        base = statistics.median(t[column] for t in timings["sync"])
        cand = statistics.median(t[column] for t in timings["workers"])
        print(
            f"{args.objective} {label} | {base:.4f} | {cand:.4f} | {base / cand:.2f}x | "
            f"{args.k}x{args.steps}"
        )
    tokens = statistics.median(t[2] for t in timings["sync"])
    base = tokens / (args.steps * statistics.median(t[0] for t in timings["sync"]))
    cand = tokens / (args.steps * statistics.median(t[0] for t in timings["workers"]))
    print(
        f"{args.objective} tokens/s (wall) | {base:.0f} | {cand:.0f} | {cand / base:.2f}x | "
        f"{args.k}x{args.steps}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
