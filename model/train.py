"""Train a MoSE encoder on release shards: MLM + ICC pretraining or contrastive fine-tuning.

    python -m model.train --data=DIR --config=tiny|1b --output=CKPT
        [--objective=pretrain|contrastive] [--steps=N] [--batch_size=B] [--grad_accum=K]
        [--lr=LR] [--no_self_distillation] [--num_layers=N] [--exits=2,4,6] [--init=CKPT]
        [--tokenizer=PATH] [--corpus=DIR] [--seed=S] [--resume] [--stop_at=N]

One linear loop in the nanoGPT style (plain PyTorch: a single process is all this project
needs on a CPU or one GPU, and it keeps resume exact; ``accelerate`` would add a dependency
for nothing here): AdamW, linear warmup then cosine decay (``get_lr``), gradient
accumulation, gradient clipping, bf16 autocast on CUDA, a progress line with per-exit losses,
tokens/s and steps/s, a JSONL loss log and a checkpoint holding the model and tokenizer
(Hugging Face format), optimizer, RNG states, step (= data position, batches being a pure
function of seed and step) and the run's arguments. ``--resume`` continues bit-for-bit on CPU.

Loss (DESIGN.md section 7; ModularStarEncoder, arXiv 2503.03008): per exit i either
MLM + ICC through the shared, exit-conditioned head (pretrain) or symmetric InfoNCE on the
exit's projection (contrastive), summed with weights i/L (``--no_self_distillation``: the last
exit only).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.config import PRESETS, make_config, parse_exits
from model.data import (
    ContrastiveBatch,
    ContrastiveSampler,
    PretrainBatch,
    PretrainSampler,
    read_corpus,
    read_release,
    repository_snippets,
    tokenizer_corpus,
)
from model.losses import (
    IGNORE_INDEX,
    combine,
    exit_weights,
    icc_loss,
    mask_tokens,
    mlm_loss,
    symmetric_info_nce,
)
from model.modeling import MoseModel
from model.tokenizer import MoseTokenizer

log = logging.getLogger("model.train")

STATE_FILE = "train_state.pt"
LOSS_LOG = "losses.jsonl"

#: Default peak learning rates per (preset, objective).
DEFAULT_LR = {
    ("tiny", "pretrain"): 1e-3,
    ("tiny", "contrastive"): 3e-4,
    ("1b", "pretrain"): 2e-4,
    ("1b", "contrastive"): 2e-5,
}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every knob of a run; stored in the checkpoint."""

    data: str
    output: str
    config: str = "tiny"
    objective: str = "pretrain"
    steps: int = 200
    batch_size: int = 16
    grad_accum: int = 1
    lr: float | None = None
    min_lr_ratio: float = 0.1
    warmup: int | None = None
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    self_distillation: bool = True
    num_layers: int | None = None
    exits: tuple[int, ...] | None = None
    init: str | None = None
    tokenizer: str | None = None
    vocab_size: int | None = None
    max_length: int | None = None
    corpus: str | None = None
    corpus_max_files: int | None = None
    split: str = "train"
    temperature: float = 0.05
    mlm_probability: float = 0.15
    seed: int = 0
    resume: bool = False
    stop_at: int | None = None
    save_every: int = 0
    log_every: int = 10
    device: str = "auto"
    num_threads: int = 0
    gradient_checkpointing: bool = False

    def peak_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[(self.config, self.objective)]

    def warmup_steps(self) -> int:
        return self.warmup if self.warmup is not None else max(1, self.steps // 20)


def get_lr(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to the peak, then cosine decay to ``min_lr_ratio * peak`` (nanoGPT)."""
    peak = cfg.peak_lr()
    warmup = cfg.warmup_steps()
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, cfg.steps - warmup))
    floor = peak * cfg.min_lr_ratio
    return floor + 0.5 * (1.0 + math.cos(math.pi * progress)) * (peak - floor)


# -- set-up --------------------------------------------------------------------------------


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_tokenizer(
    cfg: TrainConfig, rows: list[dict], corpus: dict[str, list[str]]
) -> MoseTokenizer:
    """``--tokenizer`` (StarCoder2's, or a saved MoSE tokenizer dir), else a BPE trained here."""
    if cfg.tokenizer:
        path = Path(cfg.tokenizer)
        if (path / "tokenizer_config.json").is_file() or not path.exists():
            try:
                return MoseTokenizer.load(path)
            except ValueError:
                pass
        return MoseTokenizer.from_starcoder2(path)
    vocab = cfg.vocab_size or PRESETS[cfg.config]["vocab_size"]
    started = time.perf_counter()
    tokenizer = MoseTokenizer.train(tokenizer_corpus(rows, corpus), vocab)
    log.info(
        "trained a byte-level BPE of %d tokens in %.1fs",
        len(tokenizer),
        time.perf_counter() - started,
    )
    return tokenizer


def build_model(cfg: TrainConfig, tokenizer: MoseTokenizer) -> MoseModel:
    """A fresh model from the preset (+ overrides) or the ``--init`` checkpoint."""
    if cfg.init:
        model = MoseModel.from_pretrained(cfg.init)
        model.config.layer_matryoshka_loss = cfg.self_distillation
        return model
    config = make_config(
        cfg.config,
        num_layers=cfg.num_layers,
        exits=list(cfg.exits) if cfg.exits else None,
        vocab_size=len(tokenizer),
        max_length=cfg.max_length,
        self_distillation=cfg.self_distillation,
        pad_token_id=tokenizer.pad_id,
        sep_token_id=tokenizer.sep_id,
        cls_token_id=tokenizer.cls_id,
        mask_token_id=tokenizer.mask_id,
    )
    torch.manual_seed(cfg.seed)
    return MoseModel(config)


def make_optimizer(model: MoseModel, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices only, as nanoGPT's ``configure_optimizers``."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.peak_lr(), betas=(0.9, 0.98), eps=1e-6)


# -- losses per exit -------------------------------------------------------------------------


def pretrain_losses(
    model: MoseModel,
    batch: PretrainBatch,
    exits: list[int],
    tokenizer: MoseTokenizer,
    generator: torch.Generator,
    device: torch.device,
    mlm_probability: float,
) -> dict[int, dict[str, torch.Tensor]]:
    """{exit: {"mlm", "icc", "loss"}} for one micro-batch."""
    special = torch.zeros_like(batch.input_ids, dtype=torch.bool)
    for token in tokenizer.special_ids:
        special |= batch.input_ids == token
    inputs, labels = mask_tokens(
        batch.input_ids,
        special,
        mask_id=tokenizer.mask_id,
        vocab_size=model.config.vocab_size,
        generator=generator,
        probability=mlm_probability,
    )
    inputs, labels = inputs.to(device), labels.to(device)
    output = model(inputs, batch.attention_mask.to(device), exits=exits, pool=False)
    predicted = labels != IGNORE_INDEX  # (B, T): the head runs only on masked positions
    target = labels[predicted]  # (N,)
    same = batch.same_repository.to(device)  # (B,)
    # All exits go through the shared head in one call (rows tagged with their exit index):
    # fewer, larger matmuls keep the cost of self-distillation small.
    tags = torch.tensor([model.exit_index(e) for e in exits], device=device)
    masked_rows = torch.cat([output.exit_hidden_states[e][predicted] for e in exits])  # (E*N, H)
    cls_rows = torch.cat([output.exit_hidden_states[e][:, -1] for e in exits])  # (E*B, H)
    mlm_logits = model.head.mlm_logits(masked_rows, tags.repeat_interleave(target.numel()))
    icc_logits = model.head.icc_logits(cls_rows, tags.repeat_interleave(same.numel()))
    result: dict[int, dict[str, torch.Tensor]] = {}
    for k, e in enumerate(exits):
        n, b = target.numel(), same.numel()
        mlm = mlm_loss(mlm_logits[k * n : (k + 1) * n], target)
        icc = icc_loss(icc_logits[k * b : (k + 1) * b], same)
        result[e] = {"mlm": mlm, "icc": icc, "loss": mlm + icc}
    return result


def contrastive_losses(
    model: MoseModel,
    batch: ContrastiveBatch,
    exits: list[int],
    device: torch.device,
    temperature: float,
) -> dict[int, dict[str, torch.Tensor]]:
    """{exit: {"loss"}}: symmetric InfoNCE of queries against documents, in-batch negatives."""
    queries = model(batch.query_ids.to(device), batch.query_mask.to(device), exits=exits)
    documents = model(batch.doc_ids.to(device), batch.doc_mask.to(device), exits=exits)
    return {
        e: {
            "loss": symmetric_info_nce(
                queries.exit_embeddings[e], documents.exit_embeddings[e], temperature
            )
        }
        for e in exits
    }


def batch_losses(
    model: MoseModel,
    batch: PretrainBatch | ContrastiveBatch,
    exits: list[int],
    tokenizer: MoseTokenizer,
    cfg: TrainConfig,
    position: int,
    device: torch.device,
) -> dict[int, dict[str, torch.Tensor]]:
    """Per-exit losses of one micro-batch; the MLM masks depend only on (seed, position)."""
    if isinstance(batch, PretrainBatch):
        generator = torch.Generator().manual_seed(hash((cfg.seed, 4, position)) & 0xFFFFFFFFFFFF)
        return pretrain_losses(
            model, batch, exits, tokenizer, generator, device, cfg.mlm_probability
        )
    return contrastive_losses(model, batch, exits, device, cfg.temperature)


def batch_tokens(batch: PretrainBatch | ContrastiveBatch) -> int:
    """Non-padding tokens the batch feeds the model."""
    if isinstance(batch, PretrainBatch):
        return int(batch.attention_mask.sum())
    return int(batch.query_mask.sum() + batch.doc_mask.sum())


# -- checkpoints ----------------------------------------------------------------------------


def _rng_state() -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    output: Path,
    model: MoseModel,
    tokenizer: MoseTokenizer,
    optimizer: torch.optim.Optimizer,
    step: int,
    cfg: TrainConfig,
) -> None:
    """Model + tokenizer (HF format), then train_state.pt written atomically (last)."""
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer.save(output)
    state = {
        "step": step,
        "data_position": step,  # batches are a pure function of (seed, step)
        "optimizer": optimizer.state_dict(),
        "rng": _rng_state(),
        "train_config": dataclasses.asdict(cfg),
        "model_config": model.config.to_dict(),
    }
    tmp = output / (STATE_FILE + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, output / STATE_FILE)


def _trim_log(path: Path, last_step: int) -> None:
    """Drop log lines past the resumed step (they would be redone)."""
    if not path.exists():
        return
    kept = [
        line
        for line in path.read_text().splitlines()
        if line.strip() and json.loads(line)["step"] <= last_step
    ]
    path.write_text("".join(line + "\n" for line in kept))


# -- the loop -------------------------------------------------------------------------------


def train(cfg: TrainConfig) -> list[dict[str, Any]]:
    """Run the training described by ``cfg``; returns the per-step log records of this run."""
    if cfg.objective not in ("pretrain", "contrastive"):
        raise ValueError("--objective must be pretrain or contrastive")
    if cfg.config not in PRESETS:
        raise ValueError(f"--config must be one of {sorted(PRESETS)}")
    if cfg.steps < 1 or cfg.batch_size < 1 or cfg.grad_accum < 1:
        raise ValueError("--steps, --batch_size and --grad_accum must be >= 1")
    output = Path(cfg.output)
    device = resolve_device(cfg.device)
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    rows = read_release(cfg.data, split=cfg.split)
    if not rows:
        raise ValueError(f"no rows with split={cfg.split!r} under {cfg.data}")
    corpus: dict[str, list[str]] = {}
    if cfg.corpus:
        corpus = {
            f"corpus:{repo}": chunks
            for repo, chunks in read_corpus(cfg.corpus, max_files=cfg.corpus_max_files).items()
        }

    resuming = cfg.resume and (output / STATE_FILE).is_file()
    state: dict[str, Any] | None = None
    if resuming:
        state = torch.load(output / STATE_FILE, weights_only=False)
        tokenizer = MoseTokenizer.load(output)
        model = MoseModel.from_pretrained(output)
        saved = state["train_config"]
        for key in ("objective", "steps", "batch_size", "grad_accum", "seed", "self_distillation"):
            if saved[key] != getattr(cfg, key):
                log.warning(
                    "resuming with %s=%s (checkpoint has %s)", key, getattr(cfg, key), saved[key]
                )
    else:
        if cfg.init:
            tokenizer = MoseTokenizer.load(cfg.init)
        else:
            tokenizer = build_tokenizer(cfg, rows, corpus)
        model = build_model(cfg, tokenizer)
    model.to(device).train()
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    max_length = int(model.config.max_length)
    exits = model.config.exits
    weights = exit_weights(exits, cfg.self_distillation)
    trained_exits = sorted(weights)

    if cfg.objective == "pretrain":
        groups = {**repository_snippets(rows), **corpus}
        sampler: PretrainSampler | ContrastiveSampler = PretrainSampler(
            groups, tokenizer, max_length, cfg.seed
        )
    else:
        sampler = ContrastiveSampler(rows, tokenizer, max_length, cfg.seed)

    optimizer = make_optimizer(model, cfg)
    step = 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        _set_rng_state(state["rng"])
        step = int(state["step"])
        _trim_log(output / LOSS_LOG, step)
        log.info("resumed from %s at step %d", output, step)
    output.mkdir(parents=True, exist_ok=True)

    autocast = device.type == "cuda" and torch.cuda.is_bf16_supported()
    stop = min(cfg.steps, cfg.stop_at) if cfg.stop_at is not None else cfg.steps
    records: list[dict[str, Any]] = []
    window_tokens, window_steps, window_start = 0, 0, time.perf_counter()
    log.info(
        "%s %s: %d layers, exits %s (trained %s, weights %s), %d parameters, %s",
        cfg.objective,
        cfg.config,
        model.config.num_hidden_layers,
        exits,
        trained_exits,
        {e: round(w, 4) for e, w in weights.items()},
        sum(p.numel() for p in model.parameters()),
        device,
    )
    with (output / LOSS_LOG).open("a") as loss_log:
        while step < stop:
            lr = get_lr(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            sums: dict[int, dict[str, float]] = {e: {} for e in trained_exits}
            total = 0.0
            for micro in range(cfg.grad_accum):
                position = step * cfg.grad_accum + micro
                batch = sampler.batch(position, cfg.batch_size)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                    per_exit = batch_losses(
                        model, batch, trained_exits, tokenizer, cfg, position, device
                    )
                    loss = combine({e: v["loss"] for e, v in per_exit.items()}, weights)
                window_tokens += batch_tokens(batch)
                (loss / cfg.grad_accum).backward()
                total += float(loss.detach()) / cfg.grad_accum
                for e, parts in per_exit.items():
                    for name, value in parts.items():
                        sums[e][name] = (
                            sums[e].get(name, 0.0) + float(value.detach()) / cfg.grad_accum
                        )
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            window_steps += 1
            record = {
                "step": step,
                "lr": lr,
                "loss": total,
                "exits": {str(e): v for e, v in sums.items()},
            }
            records.append(record)
            loss_log.write(json.dumps(record) + "\n")
            if step % cfg.log_every == 0 or step == stop:
                elapsed = max(time.perf_counter() - window_start, 1e-9)
                per_exit_text = " ".join(
                    f"e{e}=" + "/".join(f"{v:.3f}" for v in sums[e].values()) for e in trained_exits
                )
                log.info(
                    "step %d/%d | loss %.4f | %s | lr %.2e | %.0f tok/s | %.2f steps/s",
                    step,
                    cfg.steps,
                    total,
                    per_exit_text,
                    lr,
                    window_tokens / elapsed,
                    window_steps / elapsed,
                )
                loss_log.flush()
                window_tokens, window_steps, window_start = 0, 0, time.perf_counter()
            if cfg.save_every and step % cfg.save_every == 0 and step < stop:
                save_checkpoint(output, model, tokenizer, optimizer, step, cfg)
    save_checkpoint(output, model, tokenizer, optimizer, step, cfg)
    log.info("saved %s at step %d", output, step)
    return records


def parse_args(argv: list[str] | None) -> TrainConfig:
    parser = argparse.ArgumentParser(
        prog="python -m model.train", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--data", required=True, help="directory holding data/*.parquet release shards"
    )
    parser.add_argument("--output", required=True, help="checkpoint directory (written, resumable)")
    parser.add_argument("--config", default="tiny", choices=sorted(PRESETS))
    parser.add_argument("--objective", default="pretrain", choices=["pretrain", "contrastive"])
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps (schedule length)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--grad_accum", type=int, default=1)
    parser.add_argument(
        "--lr", type=float, default=None, help="peak LR (default per config/objective)"
    )
    parser.add_argument("--min_lr_ratio", type=float, default=0.1)
    parser.add_argument("--warmup", type=int, default=None, help="warmup steps (default steps/20)")
    parser.add_argument("--weight_decay", type=float, default=0.01)
    parser.add_argument("--grad_clip", type=float, default=1.0)
    parser.add_argument(
        "--no_self_distillation", action="store_true", help="train the last exit only"
    )
    parser.add_argument("--num_layers", type=int, default=None)
    parser.add_argument("--exits", default=None, help="comma-separated exit layers, e.g. 2,4,6")
    parser.add_argument("--init", default=None, help="checkpoint to start from (fine-tuning)")
    parser.add_argument(
        "--tokenizer", default=None, help="StarCoder2 tokenizer.json or its directory"
    )
    parser.add_argument("--vocab_size", type=int, default=None, help="BPE size when training one")
    parser.add_argument("--max_length", type=int, default=None)
    parser.add_argument("--corpus", default=None,
                        help="extra code for pretraining: OUTPUT/repo_corpus of the pipeline, or a directory of source files")
    parser.add_argument("--corpus_max_files", type=int, default=None)
    parser.add_argument("--split", default="train")
    parser.add_argument("--temperature", type=float, default=0.05, help="fixed InfoNCE temperature")
    parser.add_argument("--mlm_probability", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT/train_state.pt")
    parser.add_argument(
        "--stop_at", type=int, default=None, help="checkpoint and exit after this step"
    )
    parser.add_argument("--save_every", type=int, default=0)
    parser.add_argument("--log_every", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--num_threads", type=int, default=0, help="CPU threads for torch (0: torch's default)"
    )
    parser.add_argument("--gradient_checkpointing", action="store_true")
    args = parser.parse_args(argv)
    return TrainConfig(
        data=args.data,
        output=args.output,
        config=args.config,
        objective=args.objective,
        steps=args.steps,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        lr=args.lr,
        min_lr_ratio=args.min_lr_ratio,
        warmup=args.warmup,
        weight_decay=args.weight_decay,
        grad_clip=args.grad_clip,
        self_distillation=not args.no_self_distillation,
        num_layers=args.num_layers,
        exits=tuple(parse_exits(args.exits)) if args.exits else None,
        init=args.init,
        tokenizer=args.tokenizer,
        vocab_size=args.vocab_size,
        max_length=args.max_length,
        corpus=args.corpus,
        corpus_max_files=args.corpus_max_files,
        split=args.split,
        temperature=args.temperature,
        mlm_probability=args.mlm_probability,
        seed=args.seed,
        resume=args.resume,
        stop_at=args.stop_at,
        save_every=args.save_every,
        log_every=args.log_every,
        device=args.device,
        num_threads=args.num_threads,
        gradient_checkpointing=args.gradient_checkpointing,
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        cfg = parse_args(argv)
        train(cfg)
    except ValueError as err:
        log.error("error: %s", err)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
