"""GradCache: chunked gradients against the full-batch gradient, and what chunking saves.

One contrastive micro-batch (tiny preset, 32 left-padded pairs of 16-128 tokens, every exit)
is differentiated three ways: the plain computation (encode all queries and documents with
a graph, InfoNCE over the batch, one backward: baseline), and ``model.gradcache.
contrastive_step`` with chunks of 1, 4 and 16 sequences (candidates). Printed per chunk size:
the largest gradient difference over all parameters, relative to the largest gradient entry
of that parameter, the loss difference, and the step's peak activation memory measured on
these real tensors (``model.memory.AllocationTracker``).

    python bench/bench_gradcache.py [--pairs=32] [--dropout=0.0]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import torch
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.config import dropout_overrides, make_config  # noqa: E402
from model.distributed import DistContext  # noqa: E402
from model.gradcache import contrastive_loss, contrastive_step, encode_with  # noqa: E402
from model.losses import exit_weights  # noqa: E402
from model.memory import AllocationTracker  # noqa: E402
from model.modeling import MoseModel  # noqa: E402
from model.train import MoseTrainModule  # noqa: E402


def _batch(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(16, 129, (n,), generator=g).tolist()
    ids = torch.zeros((n, 128), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        ids[row, 128 - length :] = torch.randint(5, 4096, (length,), generator=g)
        mask[row, 128 - length :] = 1
    return ids, mask, lengths


def _grads(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    out = {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    module.zero_grad(set_to_none=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--dropout", type=float, default=0.0)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    config = make_config("tiny", vocab_size=4096, pad_token_id=0, **dropout_overrides(args.dropout))
    model = MoseModel(config).train()
    exits = config.exits
    module = MoseTrainModule(model, exits)
    weights = exit_weights(exits)
    fixed = lambda: dict.fromkeys(exits, 0.05)  # noqa: E731
    q_ids, q_mask, q_len = _batch(args.pairs, 1)
    d_ids, d_mask, d_len = _batch(args.pairs, 2)

    tracker = AllocationTracker([q_ids, q_mask, d_ids, d_mask, *module.parameters()])
    with tracker:
        q, d = module(encode=[(q_ids, q_mask), (d_ids, d_mask)])
        loss, _ = contrastive_loss(q, d, weights, fixed())
        loss.backward()
    reference, reference_peak = _grads(module), tracker.peak
    print(
        f"# bench_gradcache: tiny preset, {args.pairs} pairs of 16-128 tokens, exits {exits}, "
        f"dropout {args.dropout}; baseline = one pass over the whole batch; device "
        f"{platform.processor() or platform.machine()} CPU, torch {torch.__version__}, "
        f"transformers {transformers.__version__}; deterministic (n = 1)"
    )
    print("case | baseline | candidate | ratio | n")
    for chunk in (1, 4, 16):
        tracker = AllocationTracker([q_ids, q_mask, d_ids, d_mask, *module.parameters()])
        with tracker:
            got = contrastive_step(
                encode_with(module),
                (q_ids, q_mask),
                (d_ids, d_mask),
                weights,
                fixed,
                DistContext(),
                chunk=chunk,
                lengths=(q_len, d_len),
            )
        chunked = _grads(module)
        worst = max(
            ((chunked[n] - reference[n]).abs().max() / reference[n].abs().max()).item()
            for n in reference
        )
        total = sum(weights[e] * got[k].item() for k, e in enumerate(sorted(weights)))
        print(
            f"chunk {chunk}: weighted loss | {loss.item():.6f} | {total:.6f} | "
            f"diff {abs(total - loss.item()):.1e} | 1"
        )
        print(
            f"chunk {chunk}: max relative gradient difference | 0 | {worst:.1e} | - | "
            f"{len(reference)} tensors"
        )
        print(
            f"chunk {chunk}: peak activation memory | {reference_peak / 2**20:.1f} MiB | "
            f"{tracker.peak / 2**20:.1f} MiB | {reference_peak / tracker.peak:.2f}x | 1"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
