"""Train a MoSE encoder on release shards: MLM + ICC pretraining or contrastive fine-tuning.

    python -m model.train --data=DIR --config=tiny|1b --output=CKPT
        [--objective=pretrain|contrastive] [--recipe=default|paper] [--steps=N]
        [--batch_size=B] [--grad_accum=K] [--contrastive_chunk=C] [--lr=LR]
        [--no_self_distillation] [--num_layers=N] [--exits=2,4,6] [--init=CKPT]
        [--tokenizer=PATH] [--corpus=DIR] [--seed=S] [--resume] [--stop_at=N]
        [--attn_implementation=sdpa|eager|flash_attention_2] [--precision=auto|bf16|fp32]
        [--[no_]gradient_checkpointing] [--num_workers=2] [--dry_run_memory]
    torchrun --nproc_per_node=N -m model.train ... [--fsdp]

One linear loop in the nanoGPT style over PyTorch's own parallelism: alone it is one process;
under ``torchrun`` every rank runs it on its own slice of each global batch (DDP, or FSDP2 with
``--fsdp``), rank 0 logs and writes the checkpoint. ``--batch_size`` is per rank and per
micro-batch: a step holds ``world_size x batch_size x grad_accum`` items.

Loss (docs/design.md, "The model"; ModularStarEncoder, arXiv 2503.03008): per exit i either MLM + ICC
through the shared, exit-conditioned head (pretrain) or symmetric InfoNCE on the exit's
projection (contrastive), summed with weights i/L (``--no_self_distillation``: last exit only).

- Pretraining losses are means over the whole step: MLM over every masked token of all
  micro-batches and ranks, ICC over every context. ``--grad_accum=K`` with B items per
  micro-batch therefore gives the same loss and gradient as one batch of K x B (up to float
  rounding), and so do K ranks.
- Contrastive: InfoNCE over each micro-batch of all ranks (``world_size x batch_size`` pairs,
  each scored against all other documents of all ranks, gathered by :mod:`model.gradcache`).
  ``--contrastive_chunk=C`` encodes C sequences at a time with cached representations
  (GradCache): same loss and gradient, activation memory of C sequences. ``--grad_accum=K``
  averages K such losses: it adds pairs to the step, NOT negatives to a pair (each pair sees
  ``world_size x batch_size - 1``); for more negatives raise ``--batch_size`` and set
  ``--contrastive_chunk``.
- Batches are pure functions of (seed, step, item index) built in DataLoader workers
  (``--num_workers``, tokenisation and masking off the training step); dropout is reseeded
  from (seed, step, rank) at every step; so the step is the whole data position, and a
  checkpoint (full, unsharded state keyed by parameter name) resumes exactly on one process
  and resumes on any world size with the same global batch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer
from torch import nn

from model.config import PRESETS, RECIPES, Recipe, dropout_overrides, make_config, parse_exits
from model.data import (
    Batch,
    BatchLayout,
    ContrastiveBatch,
    ContrastiveSampler,
    PretrainBatch,
    PretrainSampler,
    corpus_units,
    make_loader,
    read_corpus,
    read_release,
    repository_units,
    tokenizer_corpus,
)
from model.distributed import (
    DistContext,
    all_reduce_sum,
    barrier,
    broadcast_object,
    full_state,
    grad_sync,
    init_distributed,
    load_optimizer_state,
    shutdown,
    wrap_model,
)
from model.gradcache import contrastive_step, encode_with
from model.losses import LearnableTemperature, exit_weights, icc_loss, mlm_loss
from model.modeling import MoseModel
from model.tokenizer import MoseTokenizer

log = logging.getLogger("model.train")

STATE_FILE = "train_state.pt"
LOSS_LOG = "losses.jsonl"
#: train_state.pt layout; 2 = optimizer state keyed by parameter name (any world size).
STATE_VERSION = 2

#: Default peak learning rates per (preset, objective).
DEFAULT_LR = {
    ("tiny", "pretrain"): 1e-3,
    ("tiny", "contrastive"): 3e-4,
    ("1b", "pretrain"): 2e-4,
    ("1b", "contrastive"): 2e-5,
}

ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager", "flash_attention_2")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every knob of a run; stored in the checkpoint. ``None`` means: from the recipe/preset."""

    data: str
    output: str
    config: str = "tiny"
    objective: str = "pretrain"
    recipe: str = "default"
    steps: int = 200
    batch_size: int = 16
    grad_accum: int = 1
    contrastive_chunk: int | None = None
    lr: float | None = None
    min_lr_ratio: float = 0.1
    warmup: int | None = None
    lr_milestones: tuple[float, ...] | None = None
    lr_gamma: float | None = None
    weight_decay: float | None = None
    dropout: float | None = None
    temperature: float | str | None = None
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
    mlm_probability: float = 0.15
    seed: int = 0
    resume: bool = False
    stop_at: int | None = None
    save_every: int = 0
    log_every: int = 10
    device: str = "auto"
    num_threads: int = 0
    gradient_checkpointing: bool | None = None
    attn_implementation: str = "sdpa"
    precision: str = "auto"
    fsdp: bool = False
    num_workers: int = 2
    prefetch: int = 4

    @property
    def recipe_values(self) -> Recipe:
        return RECIPES[self.recipe]

    def peak_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[(self.config, self.objective)]

    def warmup_steps(self) -> int:
        if self.warmup is not None:
            return self.warmup
        if self.recipe_values.warmup is not None:
            return self.recipe_values.warmup
        return max(1, self.steps // 20)

    def milestones(self) -> tuple[float, ...]:
        return (
            self.lr_milestones if self.lr_milestones is not None else self.recipe_values.milestones
        )

    def gamma(self) -> float:
        return self.lr_gamma if self.lr_gamma is not None else self.recipe_values.gamma

    def decay(self) -> float:
        return (
            self.weight_decay if self.weight_decay is not None else self.recipe_values.weight_decay
        )

    def dropout_rate(self) -> float:
        return self.dropout if self.dropout is not None else self.recipe_values.dropout

    def fixed_temperature(self) -> float | None:
        """The InfoNCE temperature, or None when it is learned."""
        value = self.temperature if self.temperature is not None else self.recipe_values.temperature
        return None if value in (None, "learnable") else float(value)

    def checkpointing(self) -> bool:
        """Gradient checkpointing: on by default for ``1b`` (its activations do not fit)."""
        if self.gradient_checkpointing is not None:
            return self.gradient_checkpointing
        return self.config == "1b"

    def autocast_dtype(self, device: torch.device) -> torch.dtype | None:
        """bf16 autocast on CUDA (``auto``) or when asked; None: fp32 throughout."""
        if self.precision == "bf16":
            return torch.bfloat16
        if self.precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None

    def check(self) -> None:
        """ValueError on inconsistent settings (before any process group or data is touched)."""
        if self.objective not in ("pretrain", "contrastive"):
            raise ValueError("--objective must be pretrain or contrastive")
        if self.config not in PRESETS:
            raise ValueError(f"--config must be one of {sorted(PRESETS)}")
        if self.recipe not in RECIPES:
            raise ValueError(f"--recipe must be one of {sorted(RECIPES)}")
        if self.steps < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("--steps, --batch_size and --grad_accum must be >= 1")
        if self.contrastive_chunk is not None and self.contrastive_chunk < 1:
            raise ValueError("--contrastive_chunk must be >= 1")
        if self.attn_implementation not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(f"--attn_implementation must be one of {ATTENTION_IMPLEMENTATIONS}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError("--precision must be auto, bf16 or fp32")
        if self.num_workers < 0 or self.prefetch < 1:
            raise ValueError("--num_workers must be >= 0 and --prefetch >= 1")
        if isinstance(self.temperature, str) and self.temperature != "learnable":
            raise ValueError("--temperature must be a positive number or 'learnable'")
        fixed = self.fixed_temperature()
        if fixed is not None and fixed <= 0:
            raise ValueError("--temperature must be positive")
        dropout_overrides(self.dropout_rate())


def get_lr(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to the peak, then cosine decay to ``min_lr_ratio`` x peak (nanoGPT) or,
    for the ``multistep`` schedule, the peak times gamma per milestone passed."""
    peak = cfg.peak_lr()
    warmup = cfg.warmup_steps()
    if step < warmup:
        return peak * (step + 1) / warmup
    if cfg.recipe_values.schedule == "multistep":
        passed = sum(step >= round(m * cfg.steps) for m in cfg.milestones())
        return peak * cfg.gamma() ** passed
    progress = min(1.0, (step - warmup) / max(1, cfg.steps - warmup))
    floor = peak * cfg.min_lr_ratio
    return floor + 0.5 * (1.0 + math.cos(math.pi * progress)) * (peak - floor)


# -- the model and its losses behind one forward --------------------------------------------


class MoseTrainModule(nn.Module):
    """The encoder and the per-exit losses of one objective, behind one ``forward``.

    DDP and FSDP only manage what runs inside the wrapped module's forward, so the shared
    pretraining head is called here too. Two entry points:

    - ``forward(pretrain=batch)`` -> (E, 2): per trained exit, the SUM of MLM cross-entropy
      over the batch's masked tokens and of ICC binary cross-entropy over its contexts (the
      trainer divides by the counts of the whole step, all ranks and micro-batches);
    - ``forward(encode=[(ids, mask), ...])`` -> one {exit: (n, P) L2-normalised embedding}
      per input, all in one call (one DDP forward per backward).

    Autocast (bf16) is applied inside, so every caller, GradCache's recomputation included,
    gets the same numerics.
    """

    def __init__(
        self, model: MoseModel, exits: list[int], autocast_dtype: torch.dtype | None = None
    ) -> None:
        super().__init__()
        self.model = model
        self.exits = sorted(exits)
        self.autocast_dtype = autocast_dtype

    def forward(
        self,
        pretrain: PretrainBatch | None = None,
        encode: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> torch.Tensor | list[dict[int, torch.Tensor]]:
        if (pretrain is None) == (encode is None):
            raise ValueError("pass exactly one of pretrain= or encode=")
        device = (pretrain.input_ids if pretrain is not None else encode[0][0]).device
        with torch.autocast(
            device.type,
            dtype=self.autocast_dtype or torch.bfloat16,
            enabled=self.autocast_dtype is not None,
        ):
            if pretrain is not None:
                return self._pretrain_sums(pretrain)
            return [self.model(ids, mask, exits=self.exits).exit_embeddings for ids, mask in encode]

    def _pretrain_sums(self, batch: PretrainBatch) -> torch.Tensor:
        model, exits = self.model, self.exits
        output = model(batch.input_ids, batch.attention_mask, exits=exits, pool=False)
        n, b = batch.mlm_targets.numel(), batch.same_repository.numel()
        device = batch.input_ids.device
        # All exits go through the shared head in one call (rows tagged with their exit index):
        # fewer, larger matmuls keep the cost of self-distillation small.
        tags = torch.tensor([model.exit_index(e) for e in exits], device=device)
        masked_rows = torch.cat(
            [
                output.exit_hidden_states[e].flatten(0, 1).index_select(0, batch.mlm_positions)
                for e in exits
            ]
        )  # (E*N, H)
        cls_rows = torch.cat([output.exit_hidden_states[e][:, -1] for e in exits])  # (E*B, H)
        mlm_logits = model.head.mlm_logits(masked_rows, tags.repeat_interleave(n))  # (E*N, V)
        icc_logits = model.head.icc_logits(cls_rows, tags.repeat_interleave(b))  # (E*B,)
        mlm = mlm_loss(mlm_logits, batch.mlm_targets.repeat(len(exits)), reduction="none")
        icc = icc_loss(icc_logits, batch.same_repository.repeat(len(exits)), reduction="none")
        return torch.stack([mlm.view(-1, n).sum(1), icc.view(-1, b).sum(1)], dim=1)  # (E, 2)


def freeze_unused(module: MoseTrainModule, objective: str, device: torch.device) -> list[str]:
    """Freeze the parameters the objective's loss never reaches; return their names.

    Found by one forward/backward on a 2 x 8 dummy batch: the pretraining head when
    fine-tuning, the projection heads when pretraining, the exits left out by
    ``--no_self_distillation``. Frozen, DDP and FSDP ignore them (no ``find_unused_parameters``
    graph walk at every step) and AdamW leaves them alone, as it did when they had no gradient.
    """
    vocab = module.model.config.vocab_size
    ids = (torch.arange(16, device=device).view(2, 8) % max(1, vocab - 4)) + min(4, vocab - 1)
    mask = torch.ones_like(ids)
    if objective == "pretrain":
        batch = PretrainBatch(
            ids,
            mask,
            torch.arange(16, device=device),
            ids.flatten(),
            torch.tensor([0.0, 1.0], device=device),
        )
        module(pretrain=batch).sum().backward()
    else:
        (embedded,) = module(encode=[(ids, mask)])
        sum(v.sum() for v in embedded.values()).backward()
    frozen = []
    for name, param in module.named_parameters():
        if param.requires_grad and param.grad is None:
            param.requires_grad_(False)
            frozen.append(name)
        param.grad = None
    return frozen


# -- set-up --------------------------------------------------------------------------------


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


def model_overrides(cfg: TrainConfig) -> dict[str, Any]:
    """Config values a run sets on a fresh or loaded model: dropout and the attention kernel."""
    if cfg.attn_implementation == "flash_attention_2":
        import importlib.util

        if importlib.util.find_spec("flash_attn") is None:
            raise ValueError("--attn_implementation=flash_attention_2 needs the flash-attn package")
    return dropout_overrides(cfg.dropout_rate())


def build_model(cfg: TrainConfig, tokenizer: MoseTokenizer) -> MoseModel:
    """A fresh model from the preset (+ overrides) or the ``--init`` checkpoint."""
    overrides = model_overrides(cfg)
    if cfg.init:
        model = MoseModel.from_pretrained(cfg.init, **overrides)
        model.config.layer_matryoshka_loss = cfg.self_distillation
    else:
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
            **overrides,
        )
        torch.manual_seed(cfg.seed)
        model = MoseModel(config)
    model.set_attn_implementation(cfg.attn_implementation)
    return model


def make_optimizer(module: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW on the trainable parameters; weight decay on matrices only (nanoGPT's
    ``configure_optimizers``); betas, eps and decay from the recipe."""
    recipe = cfg.recipe_values
    params = [p for p in module.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.decay()},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.peak_lr(), betas=recipe.betas, eps=recipe.eps)


def make_sampler(
    cfg: TrainConfig,
    rows: list[dict],
    corpus: dict[str, list[str]],
    tokenizer: MoseTokenizer,
    max_length: int,
) -> PretrainSampler | ContrastiveSampler:
    if cfg.objective == "pretrain":
        groups = {**repository_units(rows), **corpus_units(corpus)}
        return PretrainSampler(
            groups, tokenizer, max_length, cfg.seed, mlm_probability=cfg.mlm_probability
        )
    return ContrastiveSampler(rows, tokenizer, max_length, cfg.seed)


# -- one optimizer step -------------------------------------------------------------------


@dataclasses.dataclass
class Stepper:
    """Runs one optimizer step over this rank's micro-batches; every rank calls it in lockstep."""

    cfg: TrainConfig
    ctx: DistContext
    module: MoseTrainModule
    wrapped: nn.Module
    optimizer: torch.optim.Optimizer
    weights: dict[int, float]
    temperature: LearnableTemperature | None = None
    temperature_optimizer: torch.optim.Optimizer | None = None

    def __call__(self, step: int, batches: list[Batch]) -> dict[str, Any]:
        cfg, ctx = self.cfg, self.ctx
        lr = get_lr(step, cfg)
        for optimizer in self._optimizers():
            for group in optimizer.param_groups:
                group["lr"] = lr
        # Dropout masks depend only on (seed, step, rank): a resumed run draws the same ones.
        torch.manual_seed(hash((cfg.seed, 5, step, ctx.rank)) & 0xFFFFFFFFFFFF)
        batches = [b.to(ctx.device, non_blocking=True) for b in batches]
        exits = sorted(self.weights)
        counts: dict[str, int] = {}
        if isinstance(batches[0], PretrainBatch):
            parts, counts = self._pretrain(batches)
            per_exit = {
                e: {
                    "mlm": float(parts[k, 0]),
                    "icc": float(parts[k, 1]),
                    "loss": float(parts[k].sum()),
                }
                for k, e in enumerate(exits)
            }
        else:
            losses = self._contrastive(batches)
            per_exit = {e: {"loss": float(losses[k])} for k, e in enumerate(exits)}
        total = sum(self.weights[e] * per_exit[e]["loss"] for e in exits)
        trainable = [p for p in self.module.parameters() if p.requires_grad]
        norm = torch.nn.utils.clip_grad_norm_(
            trainable, cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
        )
        if hasattr(norm, "full_tensor"):  # FSDP2: a DTensor
            norm = norm.full_tensor()
        for optimizer in self._optimizers():
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        record: dict[str, Any] = {
            "step": step + 1,
            "lr": lr,
            "loss": total,
            "exits": {str(e): v for e, v in per_exit.items()},
            "grad_norm": float(norm),
            **counts,
        }
        if self.temperature is not None:
            with torch.no_grad():
                record["temperature"] = {str(e): float(t) for e, t in self.temperature().items()}
        return record

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        return [o for o in (self.optimizer, self.temperature_optimizer) if o is not None]

    def _pretrain(self, batches: list[PretrainBatch]) -> tuple[torch.Tensor, dict[str, int]]:
        """(E, 2) global [MLM, ICC] means per exit, and the step's masked tokens and ICC
        contexts over all ranks (logged); gradients of the weighted means accumulated."""
        ctx = self.ctx
        counts = torch.tensor(
            [
                sum(b.mlm_targets.numel() for b in batches),
                sum(b.same_repository.numel() for b in batches),
            ],
            dtype=torch.float64,
            device=ctx.device,
        )
        totals = all_reduce_sum(counts, ctx)
        logged = {"masked_tokens": int(totals[0]), "icc_contexts": int(totals[1])}
        n_masked, n_contexts = totals.clamp(min=1).tolist()
        scale = torch.tensor([n_masked, n_contexts], device=ctx.device)
        weights = torch.tensor([self.weights[e] for e in sorted(self.weights)], device=ctx.device)
        parts = torch.zeros(len(weights), 2, device=ctx.device)
        for m, batch in enumerate(batches):
            with grad_sync(self.wrapped, m == len(batches) - 1):
                sums = self.wrapped(pretrain=batch)  # (E, 2) sums over this micro-batch
                share = sums / scale  # its share of the step's means
                # x world_size: DDP/FSDP average gradients over ranks, the loss is a sum
                ((weights * share.sum(1)).sum() * ctx.world_size).backward()
            parts += share.detach()
        return all_reduce_sum(parts, ctx), logged

    def _contrastive(self, batches: list[ContrastiveBatch]) -> torch.Tensor:
        """(E,) mean over micro-batches of the global InfoNCE per exit; gradients accumulated."""
        fixed = self.cfg.fixed_temperature()
        exits = sorted(self.weights)

        def temperatures() -> dict[int, float | torch.Tensor]:
            return (
                self.temperature() if self.temperature is not None else dict.fromkeys(exits, fixed)
            )

        total = torch.zeros(len(exits), device=self.ctx.device)
        for m, batch in enumerate(batches):
            total += contrastive_step(
                encode_with(self.wrapped),
                (batch.query_ids, batch.query_mask),
                (batch.doc_ids, batch.doc_mask),
                self.weights,
                temperatures,
                self.ctx,
                chunk=self.cfg.contrastive_chunk,
                loss_scale=1.0 / len(batches),
                sync=lambda enabled: grad_sync(self.wrapped, enabled),
                last=m == len(batches) - 1,
                lengths=(batch.query_lengths, batch.doc_lengths) if batch.query_lengths else None,
            ) / len(batches)
        return total


# -- checkpoints ----------------------------------------------------------------------------


def save_checkpoint(
    output: Path,
    stepper: Stepper,
    tokenizer: MoseTokenizer,
    step: int,
    layout: BatchLayout,
) -> None:
    """Model + tokenizer (HF format), then train_state.pt written atomically (last).

    Model and optimizer state are gathered to full tensors keyed by parameter name (a
    collective under FSDP: every rank calls this), written by rank 0 alone.
    """
    ctx, module = stepper.ctx, stepper.module
    model_state, optim_state = full_state(module, stepper.optimizer, ctx)
    if ctx.is_main:
        output.mkdir(parents=True, exist_ok=True)
        weights = {k.removeprefix("model."): v for k, v in model_state.items()}
        module.model.save_pretrained(output, state_dict=weights)
        tokenizer.save(output)
        state = {
            "version": STATE_VERSION,
            "step": step,
            "data_position": step,  # batches are pure functions of (seed, step, item)
            "global_batch": layout.step_size,
            "world_size": ctx.world_size,
            "optimizer": optim_state,
            "train_config": dataclasses.asdict(stepper.cfg),
            "model_config": module.model.config.to_dict(),
        }
        if stepper.temperature is not None and stepper.temperature_optimizer is not None:
            state["temperature"] = stepper.temperature.state_dict()
            state["temperature_optimizer"] = stepper.temperature_optimizer.state_dict()
        tmp = output / (STATE_FILE + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, output / STATE_FILE)
    barrier(ctx)


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


def _load_state(output: Path) -> dict[str, Any]:
    state = torch.load(output / STATE_FILE, weights_only=False, map_location="cpu")
    if state.get("version") != STATE_VERSION:
        raise ValueError(
            f"{output / STATE_FILE} was written by an older trainer (optimizer state keyed by "
            "position); it cannot be resumed, start a new run with --init instead"
        )
    return state


# -- the loop -------------------------------------------------------------------------------


def train(cfg: TrainConfig) -> list[dict[str, Any]]:
    """Run the training described by ``cfg``; returns the per-step log records of this run."""
    cfg.check()
    ctx = init_distributed(cfg.device)
    try:
        return _train(cfg, ctx)
    finally:
        shutdown(ctx)


def _train(cfg: TrainConfig, ctx: DistContext) -> list[dict[str, Any]]:
    output = Path(cfg.output)
    device = ctx.device
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    if cfg.fsdp and not ctx.distributed:
        log.warning("--fsdp without torchrun: one process, nothing to shard")

    rows = read_release(cfg.data, split=cfg.split)
    if not rows:
        raise ValueError(f"no rows with split={cfg.split!r} under {cfg.data}")
    corpus = read_corpus(cfg.corpus, max_files=cfg.corpus_max_files) if cfg.corpus else {}

    resuming = cfg.resume and (output / STATE_FILE).is_file()
    state: dict[str, Any] | None = None
    if resuming:
        state = _load_state(output)
        tokenizer = MoseTokenizer.load(output)
        model = MoseModel.from_pretrained(output, **model_overrides(cfg))
        model.set_attn_implementation(cfg.attn_implementation)
        saved = state["train_config"]
        for key in ("objective", "steps", "seed", "self_distillation", "recipe"):
            if saved.get(key) != getattr(cfg, key):
                log.warning(
                    "resuming with %s=%s (checkpoint has %s)",
                    key,
                    getattr(cfg, key),
                    saved.get(key),
                )
    else:
        if cfg.init:
            tokenizer = MoseTokenizer.load(cfg.init)
        else:
            # Rank 0 builds (or trains) the tokenizer; the others receive the very same one.
            text = build_tokenizer(cfg, rows, corpus).tokenizer.to_str() if ctx.is_main else None
            tokenizer = MoseTokenizer(Tokenizer.from_str(broadcast_object(text, ctx)))
        model = build_model(cfg, tokenizer)
    if cfg.checkpointing():
        model.activation_checkpointing_enable()
    model.to(device).train()
    max_length = int(model.config.max_length)
    exits = model.config.exits
    weights = exit_weights(exits, cfg.self_distillation)
    autocast = cfg.autocast_dtype(device)

    module = MoseTrainModule(model, sorted(weights), autocast)
    frozen = freeze_unused(module, cfg.objective, device)
    wrapped = wrap_model(
        module,
        ctx,
        fsdp=cfg.fsdp,
        shard_modules=list(model.layers),
        bf16=autocast is not None and device.type == "cuda",
    )
    optimizer = make_optimizer(module, cfg)
    temperature = temperature_optimizer = None
    if cfg.objective == "contrastive" and cfg.fixed_temperature() is None:
        temperature = LearnableTemperature(sorted(weights)).to(device)
        recipe = cfg.recipe_values
        temperature_optimizer = torch.optim.AdamW(
            temperature.parameters(),
            lr=cfg.peak_lr(),
            betas=recipe.betas,
            eps=recipe.eps,
            weight_decay=0.0,
        )
    stepper = Stepper(
        cfg, ctx, module, wrapped, optimizer, weights, temperature, temperature_optimizer
    )
    layout = BatchLayout(cfg.batch_size, cfg.grad_accum, ctx.world_size, ctx.rank)

    step = 0
    if state is not None:
        load_optimizer_state(module, optimizer, state["optimizer"], ctx)
        if temperature is not None and "temperature" in state:
            temperature.load_state_dict(state["temperature"])
            temperature_optimizer.load_state_dict(state["temperature_optimizer"])
        step = int(state["step"])
        if state.get("global_batch") != layout.step_size:
            log.warning(
                "resuming with %d items per step (checkpoint: %s): batches from step %d on "
                "differ from those of an uninterrupted run",
                layout.step_size,
                state.get("global_batch"),
                step,
            )
        if ctx.is_main:
            _trim_log(output / LOSS_LOG, step)
        log.info(
            "resumed from %s at step %d (written by %s rank(s), now %d)",
            output,
            step,
            state.get("world_size", 1),
            ctx.world_size,
        )
    if ctx.is_main:
        output.mkdir(parents=True, exist_ok=True)
    barrier(ctx)

    sampler = make_sampler(cfg, rows, corpus, tokenizer, max_length)
    stop = min(cfg.steps, cfg.stop_at) if cfg.stop_at is not None else cfg.steps
    if cfg.warmup_steps() >= cfg.steps:
        log.warning(
            "warm-up (%d steps) is not shorter than the run (%d)", cfg.warmup_steps(), cfg.steps
        )
    _log_header(cfg, ctx, model, module, weights, frozen, layout, autocast)

    records: list[dict[str, Any]] = []
    loader = make_loader(
        sampler, layout, step, stop, cfg.num_workers, cfg.prefetch, pin_memory=device.type == "cuda"
    )
    loss_log = (output / LOSS_LOG).open("a") if ctx.is_main else None
    window_tokens, window_steps, window_start = 0, 0, time.perf_counter()
    try:
        for batches in loader:
            window_tokens += sum(b.tokens() for b in batches)
            record = stepper(step, batches)
            step += 1
            window_steps += 1
            records.append(record)
            if loss_log is not None:
                loss_log.write(json.dumps(record) + "\n")
            if step % cfg.log_every == 0 or step == stop:
                tokens = int(all_reduce_sum(torch.tensor(float(window_tokens)), ctx))
                elapsed = max(time.perf_counter() - window_start, 1e-9)
                per_exit_text = " ".join(
                    f"e{e}=" + "/".join(f"{v:.3f}" for v in record["exits"][e].values())
                    for e in record["exits"]
                )
                log.info(
                    "step %d/%d | loss %.4f | %s | lr %.2e | %.0f tok/s | %.2f steps/s",
                    step,
                    cfg.steps,
                    record["loss"],
                    per_exit_text,
                    record["lr"],
                    tokens / elapsed,
                    window_steps / elapsed,
                )
                if loss_log is not None:
                    loss_log.flush()
                window_tokens, window_steps, window_start = 0, 0, time.perf_counter()
            if cfg.save_every and step % cfg.save_every == 0 and step < stop:
                save_checkpoint(output, stepper, tokenizer, step, layout)
    finally:
        if loss_log is not None:
            loss_log.close()
    save_checkpoint(output, stepper, tokenizer, step, layout)
    log.info("saved %s at step %d", output, step)
    return records


def _log_header(
    cfg: TrainConfig,
    ctx: DistContext,
    model: MoseModel,
    module: MoseTrainModule,
    weights: dict[int, float],
    frozen: list[str],
    layout: BatchLayout,
    autocast: torch.dtype | None,
) -> None:
    log.info(
        "%s %s (recipe %s): %d layers, exits %s (trained %s, weights %s), %d parameters "
        "(%d frozen: not reached by this objective), %s x %d rank(s)%s, attention %s, %s%s",
        cfg.objective,
        cfg.config,
        cfg.recipe,
        model.config.num_hidden_layers,
        model.config.exits,
        sorted(weights),
        {e: round(w, 4) for e, w in weights.items()},
        sum(p.numel() for p in module.parameters()),
        sum(p.numel() for n, p in module.named_parameters() if n in set(frozen)),
        ctx.device,
        ctx.world_size,
        " FSDP" if cfg.fsdp and ctx.distributed else "",
        cfg.attn_implementation,
        "bf16 autocast" if autocast is not None else "fp32",
        ", gradient checkpointing" if cfg.checkpointing() else "",
    )
    if cfg.objective == "contrastive":
        log.info(
            "contrastive: %d pairs per step = %d micro-batch(es) of %d (x%d ranks); each pair "
            "scored against %d negatives; %s",
            layout.step_size,
            layout.grad_accum,
            layout.micro_size,
            ctx.world_size,
            layout.micro_size - 1,
            f"encoder fed {cfg.contrastive_chunk} sequences at a time (GradCache)"
            if cfg.contrastive_chunk
            else "whole micro-batch per encoder pass",
        )
    else:
        log.info(
            "pretrain: %d contexts per step = %d micro-batch(es) x %d per rank x %d ranks; "
            "MLM and ICC averaged over the whole step",
            layout.step_size,
            layout.grad_accum,
            layout.batch_size,
            ctx.world_size,
        )


def parse_args(argv: list[str] | None) -> tuple[TrainConfig, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m model.train", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--data", default=None, help="directory holding data/*.parquet release shards"
    )
    parser.add_argument("--output", default=None, help="checkpoint directory (written, resumable)")
    parser.add_argument("--config", default="tiny", choices=sorted(PRESETS))
    parser.add_argument("--objective", default="pretrain", choices=["pretrain", "contrastive"])
    parser.add_argument(
        "--recipe",
        default="default",
        choices=sorted(RECIPES),
        help="optimizer, schedule, dropout and temperature defaults (paper: as released)",
    )
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps (schedule length)")
    parser.add_argument("--batch_size", type=int, default=16, help="items per rank per micro-batch")
    parser.add_argument(
        "--grad_accum",
        type=int,
        default=1,
        help="micro-batches per step (contrastive: adds pairs, not negatives)",
    )
    parser.add_argument(
        "--contrastive_chunk",
        type=int,
        default=None,
        help="GradCache: sequences per encoder pass (InfoNCE still over the whole batch)",
    )
    parser.add_argument(
        "--lr", type=float, default=None, help="peak LR (default per config/objective)"
    )
    parser.add_argument("--min_lr_ratio", type=float, default=0.1)
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="warm-up steps (default: recipe; default recipe steps/20)",
    )
    parser.add_argument(
        "--lr_milestones",
        default=None,
        help="multistep schedule: comma-separated fractions of --steps",
    )
    parser.add_argument("--lr_gamma", type=float, default=None, help="multistep decay factor")
    parser.add_argument("--weight_decay", type=float, default=None)
    parser.add_argument(
        "--dropout",
        type=float,
        default=None,
        help="attention, residual and embedding dropout (default: recipe)",
    )
    parser.add_argument(
        "--temperature", default=None, help="InfoNCE temperature, or 'learnable' (default: recipe)"
    )
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
    parser.add_argument(
        "--corpus",
        default=None,
        help="extra code for pretraining: OUTPUT/repo_corpus of the pipeline, or a directory of source files",
    )
    parser.add_argument("--corpus_max_files", type=int, default=None)
    parser.add_argument("--split", default="train")
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
    checkpointing = parser.add_mutually_exclusive_group()
    checkpointing.add_argument(
        "--gradient_checkpointing",
        dest="gradient_checkpointing",
        action="store_const",
        const=True,
        default=None,
        help="recompute activations in the backward (default: on for 1b, off for tiny)",
    )
    checkpointing.add_argument(
        "--no_gradient_checkpointing",
        dest="gradient_checkpointing",
        action="store_const",
        const=False,
    )
    parser.add_argument("--attn_implementation", default="sdpa", choices=ATTENTION_IMPLEMENTATIONS)
    parser.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "bf16", "fp32"],
        help="auto: bf16 autocast on CUDA, fp32 on CPU",
    )
    parser.add_argument(
        "--fsdp", action="store_true", help="shard with FSDP2 instead of DDP (under torchrun)"
    )
    parser.add_argument(
        "--num_workers",
        type=int,
        default=2,
        help="DataLoader processes building batches (0: in the training loop)",
    )
    parser.add_argument("--prefetch", type=int, default=4, help="steps each worker prepares ahead")
    parser.add_argument(
        "--dry_run_memory",
        action="store_true",
        help="print parameter, optimizer and activation memory per GPU, then exit",
    )
    parser.add_argument(
        "--world_size",
        type=int,
        default=None,
        help="--dry_run_memory: ranks to assume (default: this run's)",
    )
    args = parser.parse_args(argv)
    if not args.dry_run_memory and (args.data is None or args.output is None):
        parser.error("--data and --output are required (except with --dry_run_memory)")
    temperature: float | str | None = args.temperature
    if temperature not in (None, "learnable"):
        try:
            temperature = float(temperature)
        except ValueError as err:
            raise ValueError("--temperature must be a number or 'learnable'") from err
    milestones = None
    if args.lr_milestones is not None:
        try:
            milestones = tuple(float(x) for x in args.lr_milestones.split(",") if x.strip())
        except ValueError as err:
            raise ValueError("--lr_milestones must be comma-separated fractions") from err
    cfg = TrainConfig(
        data=args.data or "",
        output=args.output or "",
        config=args.config,
        objective=args.objective,
        recipe=args.recipe,
        steps=args.steps,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        contrastive_chunk=args.contrastive_chunk,
        lr=args.lr,
        min_lr_ratio=args.min_lr_ratio,
        warmup=args.warmup,
        lr_milestones=milestones,
        lr_gamma=args.lr_gamma,
        weight_decay=args.weight_decay,
        dropout=args.dropout,
        temperature=temperature,
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
        mlm_probability=args.mlm_probability,
        seed=args.seed,
        resume=args.resume,
        stop_at=args.stop_at,
        save_every=args.save_every,
        log_every=args.log_every,
        device=args.device,
        num_threads=args.num_threads,
        gradient_checkpointing=args.gradient_checkpointing,
        attn_implementation=args.attn_implementation,
        precision=args.precision,
        fsdp=args.fsdp,
        num_workers=args.num_workers,
        prefetch=args.prefetch,
    )
    return cfg, args


def main(argv: list[str] | None = None) -> int:
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format="%(asctime)s %(message)s" if rank == 0 else f"%(asctime)s [rank {rank}] %(message)s",
        stream=sys.stderr,
    )
    try:
        cfg, args = parse_args(argv)
        if args.dry_run_memory:
            from model.memory import estimate, format_report

            cfg.check()
            world = args.world_size or int(os.environ.get("WORLD_SIZE", "1"))
            print(format_report(estimate(cfg, world_size=world)))
            return 0
        train(cfg)
    except ValueError as err:
        log.error("error: %s", err)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
