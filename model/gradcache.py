"""Contrastive steps over the whole global batch with cached representations (GradCache).

InfoNCE's negatives are the other pairs of the batch, so its quality depends on the batch
size (the paper trained on 2,048 pairs), while the encoder's activation memory grows with it.
GradCache (Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size under Memory
Limited Setup", arXiv 2101.06983) separates the two:

1. encode every query and document in chunks of ``chunk`` sequences without building a
   graph, keeping only the embeddings (and each chunk's RNG state, so dropout can be
   replayed);
2. gather the embeddings of all ranks, compute the loss over the whole batch on a leaf copy
   and differentiate it with respect to the embeddings only (cheap: N x D numbers);
3. re-encode each chunk with a graph, RNG restored so dropout draws the same masks, and
   backpropagate that chunk's slice of the embedding gradient into the encoder.

The result equals the gradient of the loss computed in one pass over the whole batch (tested
to float tolerance), at the activation memory of one chunk and the cost of one extra forward.
Without a chunk size, step 1 keeps its graph and step 3 is a single backward: no extra
forward, and still negatives from every rank.

Scaling across ranks: every rank computes the same global loss L; rank r backpropagates
``world_size * dL/d(own embeddings)`` so that DDP's (and FSDP's) gradient averaging yields
exactly dL/dtheta. The temperature, outside the wrapped encoder, gets dL/dtau on every rank
directly.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

import torch
from torch import nn

from model.distributed import DistContext, all_gather_cat
from model.losses import symmetric_info_nce

#: (wrapped encoder, list of (ids, mask)) -> one {exit: (n_i, P) embeddings} per input.
Encoder = Callable[[list[tuple[torch.Tensor, torch.Tensor]]], list[dict[int, torch.Tensor]]]
#: enabled -> a context manager that does (True) or does not (False) reduce gradients.
SyncContext = Callable[[bool], AbstractContextManager[None]]


@dataclasses.dataclass
class RngState:
    """CPU and (when used) CUDA generator states, to replay a chunk's dropout masks."""

    cpu: torch.Tensor
    cuda: torch.Tensor | None
    device: torch.device

    @classmethod
    def capture(cls, device: torch.device) -> RngState:
        cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        return cls(torch.get_rng_state(), cuda, device)

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda, self.device)


def chunks(
    ids: torch.Tensor, mask: torch.Tensor, size: int | None, lengths: Sequence[int] | None = None
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Split a left-padded (B, T) batch into row chunks of ``size`` (None: one chunk).

    With the rows' token counts (``lengths``, known on the host: no device sync), each chunk
    is trimmed of the padding columns all its rows share, so a chunk of short rows runs at
    its own length.
    """
    size = ids.shape[0] if size is None else size
    out = []
    for start in range(0, ids.shape[0], size):
        part_ids, part_mask = ids[start : start + size], mask[start : start + size]
        if lengths is not None:
            width = max(lengths[start : start + size])
            part_ids, part_mask = part_ids[:, -width:], part_mask[:, -width:]
        out.append((part_ids, part_mask))
    return out


def contrastive_loss(
    queries: dict[int, torch.Tensor],
    documents: dict[int, torch.Tensor],
    weights: dict[int, float],
    temperatures: dict[int, float | torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """(weighted total, per-exit losses (E,)) of symmetric InfoNCE on each exit's embeddings."""
    exits = sorted(weights)
    per_exit = torch.stack(
        [symmetric_info_nce(queries[e], documents[e], temperatures[e]) for e in exits]
    )
    total = sum(weights[e] * per_exit[k] for k, e in enumerate(exits))
    return total, per_exit  # type: ignore[return-value]


def contrastive_step(
    encode: Encoder,
    queries: tuple[torch.Tensor, torch.Tensor],
    documents: tuple[torch.Tensor, torch.Tensor],
    weights: dict[int, float],
    temperatures: Callable[[], dict[int, float | torch.Tensor]],
    ctx: DistContext,
    *,
    chunk: int | None = None,
    loss_scale: float = 1.0,
    sync: SyncContext | None = None,
    last: bool = True,
    lengths: tuple[Sequence[int], Sequence[int]] | None = None,
) -> torch.Tensor:
    """Accumulate into ``.grad`` the gradient of ``loss_scale`` x the global InfoNCE loss.

    ``queries`` / ``documents``: this rank's (ids, mask), left padded, already on the device.
    ``encode`` runs the wrapped encoder (DDP/FSDP) on a list of inputs in ONE call (one
    DDP forward per backward). ``temperatures()`` returns {exit: temperature}, tensors when
    learned (their gradient accumulates too). ``chunk``: sequences per encoder pass (None:
    all at once, no recomputation). ``sync(enabled)`` wraps each forward+backward pair and
    controls gradient reduction; only the step's last backward (``last``) reduces. Every
    rank must pass the same number of pairs. ``lengths``: (query, document) token counts
    per row, to run each chunk at its own length. Returns the per-exit global losses (E,),
    detached.
    """
    sync = sync or (lambda enabled: contextlib.nullcontext())
    exits = sorted(weights)
    n_local = queries[0].shape[0]
    if documents[0].shape[0] != n_local:
        raise ValueError("queries and documents differ in number")
    query_lengths, doc_lengths = lengths if lengths is not None else (None, None)
    query_pieces = chunks(*queries, chunk, query_lengths)
    pieces = query_pieces + chunks(*documents, chunk, doc_lengths)
    n_query_pieces = len(query_pieces)

    def embedding_gradients(
        embedded: list[dict[int, torch.Tensor]],
    ) -> tuple[torch.Tensor, list[dict[int, torch.Tensor]]]:
        """Step 2 of the module docstring: per-exit losses and each piece's embedding gradient."""
        local_q = {e: torch.cat([p[e] for p in embedded[:n_query_pieces]]) for e in exits}
        local_d = {e: torch.cat([p[e] for p in embedded[n_query_pieces:]]) for e in exits}
        global_q = {e: all_gather_cat(local_q[e], ctx).requires_grad_(True) for e in exits}
        global_d = {e: all_gather_cat(local_d[e], ctx).requires_grad_(True) for e in exits}
        total, per_exit = contrastive_loss(global_q, global_d, weights, temperatures())
        (total * loss_scale).backward()  # .grad on the leaves; a learned temperature's too
        scale = float(ctx.world_size)  # undo DDP/FSDP's averaging over ranks
        grads = []
        for side, group in (
            (global_q, embedded[:n_query_pieces]),
            (global_d, embedded[n_query_pieces:]),
        ):
            lo = ctx.rank * n_local  # this rank's rows in the gathered batch
            for piece in group:
                n = next(iter(piece.values())).shape[0]
                grads.append({e: side[e].grad[lo : lo + n] * scale for e in exits})
                lo += n
        return per_exit.detach(), grads

    if chunk is None or chunk >= n_local:
        # One pass with a graph: no recomputation; the gather still brings every rank's pairs.
        with sync(last):
            embedded = encode(pieces)
            per_exit, grads = embedding_gradients(embedded)
            torch.autograd.backward(
                [p[e] for p in embedded for e in exits], [g[e] for g in grads for e in exits]
            )
        return per_exit

    device = queries[0].device
    states: list[RngState] = []
    with torch.no_grad():  # 1. embeddings only, chunk by chunk
        embedded = []
        for piece in pieces:
            states.append(RngState.capture(device))
            embedded.append(encode([piece])[0])
    per_exit, grads = embedding_gradients(embedded)  # 2.
    for k, (piece, state, piece_grads) in enumerate(zip(pieces, states, grads, strict=True)):
        state.restore()  # 3. same dropout masks as in step 1
        with sync(last and k == len(pieces) - 1):
            out = encode([piece])[0]
            torch.autograd.backward([out[e] for e in exits], [piece_grads[e] for e in exits])
    return per_exit


def encode_with(module: nn.Module) -> Encoder:
    """An :data:`Encoder` calling ``module(encode=inputs)`` (see ``model.train.MoseTrainModule``)."""

    def encode(
        inputs: Sequence[tuple[torch.Tensor, torch.Tensor]],
    ) -> list[dict[int, torch.Tensor]]:
        return module(encode=list(inputs))

    return encode
