"""Memory per GPU of a training step: weights, gradients, AdamW state and activations.

``python -m model.train --dry_run_memory --config=1b --batch_size=16 --max_length=2048
[--no_gradient_checkpointing] [--fsdp --world_size=N] [--objective=contrastive
--contrastive_chunk=C]`` prints the table; ``bench/bench_memory.py`` checks the method.

How each line is obtained:

- weights, gradients and optimizer state are counted: 4 bytes per parameter (fp32 master
  weights; autocast computes in bf16 but keeps fp32 weights), 4 per trained parameter for its
  gradient, 8 for AdamW's two moments; divided by the world size under FSDP, whole on every
  rank under DDP (whose gradient buckets are views of the gradients here).
- activations are MEASURED, not modelled: the trainer's own step (``MoseTrainModule``: the
  encoder, the per-exit pretraining head with its vocabulary-sized MLM logits, the ICC head,
  or GradCache's contrastive step) runs forward and backward on a synthetic batch of the
  requested shape under ``FakeTensorMode`` (tensors with shapes and dtypes but no storage,
  so the 1b model at 16 x 2048 "runs" on a CPU in seconds), and :class:`AllocationTracker`
  follows every tensor storage allocated and freed. Gradient checkpointing's recomputation
  happens in that backward, so its peak is measured too. The same code on real CPU tensors
  gives the same bytes for small configs (``bench/bench_memory.py``, and a test).

What is not in the figures: the CUDA caching allocator's fragmentation, the CUDA/NCCL
context (typically 1-3 GB per GPU) and kernel workspaces. The fake run uses PyTorch's CPU
kernels: CPU SDPA saves the same tensors as the CUDA flash / memory-efficient kernels (output
and log-sum-exp, nothing quadratic in the sequence), and CPU bf16 autocast casts the same
matmuls as CUDA's. Reference for what transformer activations cost: Korthikanti et al. 2022,
"Reducing Activation Recomputation in Large Transformer Models" (arXiv 2205.05198).
"""

from __future__ import annotations

import contextlib
import dataclasses
import weakref
from collections.abc import Iterable, Iterator

import torch
import torch.utils._pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.weak import WeakIdKeyDictionary

from model.config import dropout_overrides, make_config
from model.data import PretrainBatch
from model.distributed import DistContext
from model.gradcache import contrastive_step, encode_with
from model.losses import exit_weights
from model.modeling import MoseModel
from model.train import MoseTrainModule, TrainConfig, freeze_unused

GIB = 1024**3


@dataclasses.dataclass(frozen=True)
class StepMemory:
    """What :class:`AllocationTracker` saw during one forward + backward, in bytes.

    ``saved``: activations held at the end of the forward (what the backward will read;
    pretraining only). ``peak``: the highest total of activations + temporaries + gradients
    during forward and backward, with ``peak_activations`` and ``peak_gradients`` its parts.
    """

    saved: int
    peak: int
    peak_activations: int
    peak_gradients: int
    parameters: int
    trainable: int


@dataclasses.dataclass(frozen=True)
class MemoryReport:
    """Bytes per GPU for one configuration (see the module docstring for the method)."""

    preset: str
    objective: str
    batch_size: int
    seq_len: int
    world_size: int
    fsdp: bool
    checkpointing: bool
    precision: str
    attn_implementation: str
    contrastive_chunk: int | None
    parameters: int
    trainable: int
    param_bytes: int
    grad_bytes: int
    optimizer_bytes: int
    saved_activation_bytes: int
    peak_activation_bytes: int
    peak_grad_bytes: int
    fsdp_gather_bytes: int

    @property
    def total_bytes(self) -> int:
        """Weights + AdamW state (held all along) + the step's peak of activations,
        temporaries and the gradients computed so far (+ FSDP's gathered parameters)."""
        return (
            self.param_bytes
            + self.optimizer_bytes
            + self.peak_activation_bytes
            + self.peak_grad_bytes
            + self.fsdp_gather_bytes
        )


def _synthetic_pretrain(
    batch_size: int, seq_len: int, vocab: int, mlm_probability: float
) -> PretrainBatch:
    """Full-length contexts (one token of left padding on the first row, so the attention
    mask is built as for real batches), ``mlm_probability`` of the tokens to predict."""
    ids = torch.randint(4, vocab, (batch_size, seq_len))
    mask = torch.ones_like(ids)
    mask[0, 0] = 0
    n = max(1, round(mlm_probability * batch_size * seq_len))
    positions = torch.linspace(1, batch_size * seq_len - 1, n).long()
    return PretrainBatch(ids, mask, positions, ids.flatten()[positions], torch.ones(batch_size))


class AllocationTracker(TorchDispatchMode):
    """Live bytes of the tensor storages created while it is active, and their peak.

    Every operator's outputs are inspected; a storage seen for the first time is counted
    until it is garbage-collected (a weak-reference finaliser), so views and in-place
    results cost nothing. Storages that exist before (parameters, the input batch) are
    registered as free. Works on real and on fake tensors alike.
    """

    def __init__(self, existing: Iterable[torch.Tensor] = ()) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self.peak_event = 0
        self.events = 0
        self._seen: WeakIdKeyDictionary = WeakIdKeyDictionary()
        for tensor in existing:
            self._seen[tensor.untyped_storage()] = (0, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        out = func(*args, **(kwargs or {}))
        for leaf in pytree.tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self._track(leaf.untyped_storage())
        return out

    def _track(self, storage: torch.UntypedStorage) -> None:
        if storage in self._seen:
            return
        size = storage.nbytes()
        self.events += 1
        self._seen[storage] = (size, self.events)
        self.live += size
        weakref.finalize(storage, self._free, size)
        if self.live > self.peak:
            self.peak, self.peak_event = self.live, self.events

    def _free(self, size: int) -> None:
        self.live -= size

    def live_at_peak(self, tensors: Iterable[torch.Tensor]) -> int:
        """Bytes of ``tensors`` (alive now) that were already allocated at the peak."""
        total = 0
        for tensor in tensors:
            size, event = self._seen.get(tensor.untyped_storage(), (0, 0))
            if 0 < event <= self.peak_event:
                total += size
        return total


def measure_step(
    cfg: TrainConfig,
    batch_size: int,
    seq_len: int,
    *,
    fake: bool = True,
    vocab_size: int | None = None,
) -> StepMemory:
    """Track one forward + backward of the trainer's step for ``cfg``'s model and objective.

    ``fake=True``: under FakeTensorMode (no storage, any size); ``False``: real CPU tensors
    (small configs; the two agree). ``vocab_size`` defaults to the preset's. Precision
    ``auto`` is taken as a GPU would run it: bf16 autocast.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    mode: contextlib.AbstractContextManager = FakeTensorMode() if fake else contextlib.nullcontext()
    device = torch.device("cpu")
    autocast = None if cfg.precision == "fp32" else torch.bfloat16  # as on a GPU
    with mode:
        config = make_config(
            cfg.config,
            num_layers=cfg.num_layers,
            exits=list(cfg.exits) if cfg.exits else None,
            vocab_size=vocab_size,
            max_length=seq_len,
            self_distillation=cfg.self_distillation,
            pad_token_id=0,
            sep_token_id=1,
            cls_token_id=2,
            mask_token_id=3,
            **dropout_overrides(cfg.dropout_rate()),
        )
        torch.manual_seed(0)
        model = MoseModel(config)
        model.set_attn_implementation(cfg.attn_implementation)
        if cfg.checkpointing():
            model.activation_checkpointing_enable()
        model.train()
        weights = exit_weights(config.exits, cfg.self_distillation)
        module = MoseTrainModule(model, sorted(weights), autocast)
        freeze_unused(module, cfg.objective, device)
        trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
        vocab = config.vocab_size
        if cfg.objective == "pretrain":
            batch = _synthetic_pretrain(batch_size, seq_len, vocab, cfg.mlm_probability)
        else:
            queries = _synthetic_pretrain(batch_size, seq_len, vocab, 0.15)
            documents = _synthetic_pretrain(batch_size, seq_len, vocab, 0.15)
    existing = [*module.parameters(), *module.buffers()]
    if cfg.objective == "pretrain":
        existing += [getattr(batch, f.name) for f in dataclasses.fields(batch)]
    else:
        existing += [queries.input_ids, queries.attention_mask]
        existing += [documents.input_ids, documents.attention_mask]
    tracker = AllocationTracker(existing)
    saved = 0
    with mode, tracker:
        if cfg.objective == "pretrain":
            sums = module(pretrain=batch)
            saved = tracker.live
            sums.sum().backward()
        else:
            contrastive_step(
                encode_with(module),
                (queries.input_ids, queries.attention_mask),
                (documents.input_ids, documents.attention_mask),
                weights,
                lambda: dict.fromkeys(weights, 0.05),
                DistContext(),
                chunk=cfg.contrastive_chunk,
            )
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    at_peak = tracker.live_at_peak(grads)
    return StepMemory(
        saved=saved,
        peak=tracker.peak,
        peak_activations=tracker.peak - at_peak,
        peak_gradients=at_peak,
        parameters=sum(p.numel() for p in module.parameters()),
        trainable=trainable,
    )


def estimate(cfg: TrainConfig, world_size: int = 1, step: StepMemory | None = None) -> MemoryReport:
    """Bytes per GPU of ``cfg`` (its preset, objective, ``batch_size`` per rank and
    ``max_length``) on ``world_size`` ranks; ``step`` reuses a measurement."""
    seq_len = cfg.max_length or int(make_config(cfg.config).max_length)
    step = step or measure_step(cfg, cfg.batch_size, seq_len, vocab_size=cfg.vocab_size)
    shards = world_size if cfg.fsdp else 1
    gather = 0
    if cfg.fsdp and world_size > 1:
        # FSDP2 holds the root's parameters (embeddings, heads) and the layer being computed
        # plus the one prefetched, unsharded, in the compute dtype.
        config = make_config(cfg.config, num_layers=cfg.num_layers)
        with torch.device("meta"):
            model = MoseModel(config)
        layer = sum(p.numel() for p in model.layers[0].parameters())
        root = sum(p.numel() for p in model.parameters()) - layer * len(model.layers)
        gather = (root + 2 * layer) * (4 if cfg.precision == "fp32" else 2)
    return MemoryReport(
        preset=cfg.config,
        objective=cfg.objective,
        batch_size=cfg.batch_size,
        seq_len=seq_len,
        world_size=world_size,
        fsdp=cfg.fsdp,
        checkpointing=cfg.checkpointing(),
        precision="fp32" if cfg.precision == "fp32" else "bf16 autocast",
        attn_implementation=cfg.attn_implementation,
        contrastive_chunk=cfg.contrastive_chunk,
        parameters=step.parameters,
        trainable=step.trainable,
        param_bytes=4 * step.parameters // shards,
        grad_bytes=4 * step.trainable // shards,
        optimizer_bytes=8 * step.trainable // shards,
        saved_activation_bytes=step.saved,
        peak_activation_bytes=step.peak_activations,
        peak_grad_bytes=step.peak_gradients // shards,
        fsdp_gather_bytes=gather,
    )


def _rows(report: MemoryReport) -> Iterator[tuple[str, str]]:
    gib = lambda n: f"{n / GIB:,.2f} GiB"  # noqa: E731
    yield "parameters", f"{report.parameters:,} ({report.trainable:,} trained)"
    yield "weights (fp32)", gib(report.param_bytes)
    yield "gradients (fp32)", gib(report.grad_bytes)
    yield "AdamW state (2 x fp32)", gib(report.optimizer_bytes)
    if report.objective == "pretrain":
        yield "activations saved by the forward", gib(report.saved_activation_bytes)
    yield "activations + temporaries at the step's peak", gib(report.peak_activation_bytes)
    yield "gradients already computed at that peak", gib(report.peak_grad_bytes)
    if report.fsdp_gather_bytes:
        yield "FSDP unsharded parameters in flight", gib(report.fsdp_gather_bytes)
    yield "total per GPU (weights + AdamW + peak)", gib(report.total_bytes)


def format_report(report: MemoryReport) -> str:
    """A two-column Markdown table with a header line naming the configuration."""
    layout = f"FSDP x {report.world_size}" if report.fsdp else f"DDP x {report.world_size}"
    chunk = f", GradCache chunk {report.contrastive_chunk}" if report.contrastive_chunk else ""
    lines = [
        f"# {report.preset} {report.objective}, {report.batch_size} x {report.seq_len} tokens "
        f"per GPU, {layout}, precision {report.precision}, attention "
        f"{report.attn_implementation}, gradient checkpointing "
        f"{'on' if report.checkpointing else 'off'}{chunk}",
        "| memory | per GPU |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value} |" for name, value in _rows(report)]
    return "\n".join(lines)
