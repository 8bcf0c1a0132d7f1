"""Data-parallel training with PyTorch's own tools: torchrun, DDP, FSDP2, full-state checkpoints.

``torchrun --nproc_per_node=N -m model.train ...`` starts N processes and sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address; :func:`init_distributed` reads them
and joins the process group (NCCL on CUDA, gloo on CPU). Without them the trainer is one
process and every helper here is a no-op, so one code path serves 1 and N processes.

- :func:`wrap_model`: ``DistributedDataParallel`` (gradients averaged across ranks after each
  backward) or, with ``fsdp=True``, FSDP2's ``fully_shard`` on every decoder layer and on the
  root (parameters, gradients and AdamW state sharded across ranks, each layer's weights
  gathered only while it runs), the layout the ``1b`` preset needs on more than a few GPUs.
- :func:`grad_sync`: skip the gradient all-reduce / reduce-scatter on all but the last
  backward of a step (gradient accumulation, GradCache chunks).
- :func:`full_state`: model and optimizer state gathered to full, unsharded tensors keyed by
  parameter name (``torch.distributed.checkpoint.state_dict``), so a checkpoint does not
  depend on the world size or on DDP vs FSDP; :func:`load_optimizer_state` shards it back.

References: Li et al. 2020, "PyTorch Distributed: Experiences on Accelerating Data Parallel
Training" (DDP, arXiv 2006.15704); Zhao et al. 2023, "PyTorch FSDP" (arXiv 2304.11277).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_optimizer_state_dict,
)
from torch.nn.parallel import DistributedDataParallel


@dataclasses.dataclass(frozen=True)
class DistContext:
    """Where this process stands: rank, world size, its device. ``world_size == 1``: alone."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, writes the loss log and the checkpoint."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: this rank's GPU when CUDA is available, else the CPU.

    A device this machine does not have is a ``ValueError`` naming it (a user error, reported
    in one line), not torch's assertion deep inside the first ``.to(device)``.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"--device={name}: {err}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"--device={name}, but this machine has no CUDA device (use cpu or auto)"
            )
        if device.index is None:
            device = torch.device("cuda", local_rank)
        if device.index >= torch.cuda.device_count():
            raise ValueError(
                f"--device={name}, but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
    return device


def init_distributed(device: str = "auto") -> DistContext:
    """Join the process group torchrun describes in the environment (no-op when alone)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(device=resolve_device(device))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    where = resolve_device(device, local_rank)
    if where.type == "cuda":
        torch.cuda.set_device(where)
    if not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if where.type == "cuda" else "gloo",
            device_id=where if where.type == "cuda" else None,
        )
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=where)


def shutdown(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum over ranks (a new tensor; the input is left alone). Not differentiable."""
    out = tensor.detach().clone()
    if ctx.distributed:
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def all_gather_cat(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Every rank's ``tensor`` (same shape everywhere) concatenated along dim 0, in rank order.

    Not differentiable: GradCache (:mod:`model.gradcache`) differentiates the loss with
    respect to the gathered copy and sends each rank back its own slice of that gradient.
    """
    local = tensor.detach().contiguous()
    if not ctx.distributed:
        return local
    parts = [torch.empty_like(local) for _ in range(ctx.world_size)]
    dist.all_gather(parts, local)
    return torch.cat(parts)


def broadcast_object(obj: Any, ctx: DistContext) -> Any:
    """Rank 0's ``obj`` on every rank (picklable objects only)."""
    if not ctx.distributed:
        return obj
    box = [obj if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wrap_model(
    module: nn.Module,
    ctx: DistContext,
    *,
    fsdp: bool = False,
    shard_modules: Sequence[nn.Module] = (),
    bf16: bool = False,
) -> nn.Module:
    """The module to call in the training step: ``module`` itself, DDP, or FSDP2-sharded.

    DDP keeps one full replica per rank and averages gradients (``gradient_as_bucket_view``
    saves a gradient-sized copy). FSDP2 shards each of ``shard_modules`` (the decoder layers) and then the
    root in place, with bf16 parameters for compute and fp32 gradient reduction when ``bf16``.
    Frozen parameters (``requires_grad=False``) are ignored by both.
    """
    if not ctx.distributed:
        return module
    if fsdp:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        policy = (
            MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
            if bf16
            else MixedPrecisionPolicy()
        )
        for part in shard_modules:
            fully_shard(part, mp_policy=policy)
        fully_shard(module, mp_policy=policy)
        return module
    # Buffers (RoPE frequencies) are constants: no re-broadcast at every forward. The flag
    # was renamed in torch 2.13; older versions (the GPU image's 2.11) know the old name.
    params = inspect.signature(DistributedDataParallel.__init__).parameters
    buffers = "forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers"
    return DistributedDataParallel(
        module,
        device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
        gradient_as_bucket_view=True,
        **{buffers: False},
    )


def unwrap(wrapped: nn.Module) -> nn.Module:
    """The module under a DDP wrapper (FSDP2 shards in place: the module itself)."""
    return wrapped.module if isinstance(wrapped, DistributedDataParallel) else wrapped


@contextlib.contextmanager
def grad_sync(wrapped: nn.Module, enabled: bool) -> Iterator[None]:
    """Run the enclosed backward with (``enabled``) or without cross-rank gradient reduction.

    Gradients of unsynchronised backwards accumulate locally and are reduced with those of
    the next synchronised one, which is how DDP and FSDP2 do gradient accumulation.
    """
    if enabled:
        yield
    elif isinstance(wrapped, DistributedDataParallel):
        with wrapped.no_sync():
            yield
    elif hasattr(wrapped, "set_requires_gradient_sync"):  # FSDP2
        wrapped.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            wrapped.set_requires_gradient_sync(True)
    else:
        yield


def _options(ctx: DistContext, **extra: bool) -> StateDictOptions:
    return StateDictOptions(full_state_dict=True, cpu_offload=ctx.distributed, **extra)


def full_state(
    module: nn.Module, optimizer: torch.optim.Optimizer, ctx: DistContext
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(model state, optimizer state), full tensors keyed by parameter name, on rank 0.

    A collective under FSDP: every rank must call it; ranks other than 0 get empty dicts
    when distributed. ``module`` is the unwrapped (or FSDP-sharded) module.
    """
    options = _options(ctx)
    model_state = get_model_state_dict(module, options=options)
    optim_state = get_optimizer_state_dict(module, optimizer, options=options)
    return model_state, optim_state


def load_optimizer_state(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    ctx: DistContext,
) -> None:
    """Load a :func:`full_state` optimizer state into ``optimizer``, sharding it under FSDP.

    Keys are parameter names, so the state written by any world size, with DDP or FSDP, loads
    into any other.
    """
    set_optimizer_state_dict(
        module, optimizer, state, options=StateDictOptions(full_state_dict=True)
    )
