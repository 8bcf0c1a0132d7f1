"""Training memory per GPU: the measuring method checked on real tensors, then the 1b figures.

Part 1 (method): the trainer's step is tracked on REAL CPU tensors and on fake tensors
(``FakeTensorMode``, what ``--dry_run_memory`` uses) for configurations small enough to run
here, one of them with the 1b preset's layer widths and vocabulary (2 layers). Both must
agree: the fake run is then a measurement of the real one at any size.

Part 2 (figures): the ``1b`` preset at 16 x 2048 tokens per GPU (pretraining) without
(baseline) and with (candidate) gradient checkpointing; GradCache on a 64-pair contrastive
batch at 2048 tokens, whole batch through the encoder (baseline) vs chunks of 8 (candidate);
and FSDP over 8 GPUs. ratio = baseline / candidate (>1 = less memory).

    python bench/bench_memory.py [--skip_real]

No GPU was used: see ``model/memory.py`` for what the figures include and leave out.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.memory import GIB, estimate, measure_step  # noqa: E402
from model.train import TrainConfig  # noqa: E402


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(data="", output="", **kw)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def _gib(n: int) -> str:
    return f"{n / GIB:,.2f} GiB"


def method_check() -> None:
    print("case | real CPU tensors | fake tensors | ratio | n")
    cases = [
        ("tiny pretrain 4x128", _cfg(config="tiny"), 4, 128, 400),
        (
            "tiny pretrain 4x128 checkpointing",
            _cfg(config="tiny", gradient_checkpointing=True),
            4,
            128,
            400,
        ),
        (
            "tiny contrastive 8 pairs x128, chunk 2",
            _cfg(config="tiny", objective="contrastive", contrastive_chunk=2),
            8,
            128,
            400,
        ),
        (
            "1b widths, 2 layers, pretrain 1x256",
            _cfg(config="1b", num_layers=2, gradient_checkpointing=False),
            1,
            256,
            None,
        ),
    ]
    for name, cfg, batch, seq, vocab in cases:
        real = measure_step(cfg, batch, seq, fake=False, vocab_size=vocab)
        fake = measure_step(cfg, batch, seq, fake=True, vocab_size=vocab)
        for label, a, b in (
            ("saved by forward", real.saved, fake.saved),
            ("step peak", real.peak, fake.peak),
        ):
            if a or b:
                print(f"{name}, {label} | {_mib(a)} | {_mib(b)} | {a / b:.4f}x | 1")


def figures() -> None:
    print("case | baseline | candidate | ratio | n")
    pairs = [
        (
            "1b pretrain 16x2048 (checkpointing off -> on)",
            _cfg(config="1b", batch_size=16, max_length=2048, gradient_checkpointing=False),
            _cfg(config="1b", batch_size=16, max_length=2048, gradient_checkpointing=True),
            1,
        ),
        (
            "1b contrastive 64 pairs x2048, checkpointing on (whole batch -> GradCache chunks of 8)",
            _cfg(config="1b", objective="contrastive", batch_size=64, max_length=2048),
            _cfg(
                config="1b",
                objective="contrastive",
                batch_size=64,
                max_length=2048,
                contrastive_chunk=8,
            ),
            1,
        ),
        (
            "1b pretrain 16x2048 checkpointing on, 8 GPUs (DDP -> FSDP)",
            _cfg(config="1b", batch_size=16, max_length=2048),
            _cfg(config="1b", batch_size=16, max_length=2048, fsdp=True),
            8,
        ),
    ]
    for name, base_cfg, cand_cfg, world in pairs:
        started = time.perf_counter()
        base, cand = estimate(base_cfg, world), estimate(cand_cfg, world)
        seconds = time.perf_counter() - started
        fields = [
            (
                "weights + gradients + AdamW",
                lambda r: r.param_bytes + r.grad_bytes + r.optimizer_bytes,
            ),
            ("activations saved by the forward", lambda r: r.saved_activation_bytes),
            ("activations + temporaries at peak", lambda r: r.peak_activation_bytes),
            ("total per GPU", lambda r: r.total_bytes),
        ]
        for label, get in fields:
            a, b = get(base), get(cand)
            if a or b:
                ratio = f"{a / b:.2f}x" if b else "-"
                print(f"{name}: {label} | {_gib(a)} | {_gib(b)} | {ratio} | 1")
        print(f"# ({seconds:.0f} s for the two fake runs)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip_real", action="store_true", help="only part 2")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(
        f"# bench_memory: bytes per GPU of one training step; device: "
        f"{platform.processor() or platform.machine()} CPU (no GPU), torch {torch.__version__}, "
        f"transformers {transformers.__version__}, load avg {os.getloadavg()[0]:.1f}; "
        f"precision bf16 autocast (as on a GPU), attention sdpa; deterministic (n = 1)"
    )
    if not args.skip_real:
        method_check()
    figures()
    return 0


if __name__ == "__main__":
    sys.exit(main())
