"""GradCache: InfoNCE over the whole batch, encoder fed in chunks, same gradient as one pass."""

from __future__ import annotations

import pytest
import torch

from model.config import dropout_overrides, make_config
from model.distributed import DistContext
from model.gradcache import chunks, contrastive_loss, contrastive_step, encode_with
from model.losses import LearnableTemperature, exit_weights
from model.modeling import MoseModel
from model.train import MoseTrainModule

EXITS = [2, 4, 6]


def _module(dropout: float = 0.0) -> MoseTrainModule:
    torch.manual_seed(0)
    config = make_config(
        "tiny", vocab_size=300, max_length=64, pad_token_id=0, **dropout_overrides(dropout)
    )
    return MoseTrainModule(MoseModel(config).train(), EXITS)


def _batch(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n left-padded rows of 5..20 tokens."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(5, 21, (n,), generator=g)
    ids = torch.zeros((n, 20), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths.tolist()):
        ids[row, 20 - length :] = torch.randint(5, 300, (length,), generator=g)
        mask[row, 20 - length :] = 1
    return ids, mask


def _lengths(batch: tuple[torch.Tensor, torch.Tensor]) -> list[int]:
    return batch[1].sum(1).tolist()


def _grads(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    out = {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    module.zero_grad(set_to_none=True)
    return out


def _worst(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> float:
    """Largest difference over all parameters, relative to the largest gradient entry of that
    parameter (float32 sums in another order differ by ~1e-6 of the scale)."""
    assert got.keys() == want.keys()
    return max(((got[n] - want[n]).abs().max() / want[n].abs().max()).item() for n in want)


def _reference(module: MoseTrainModule, queries, documents, weights, temperatures, pieces=None):
    """The plain computation: encode (optionally piece by piece, same RNG order) with a graph,
    InfoNCE over the whole batch, one backward. No GradCache code involved."""
    if pieces is None:
        q, d = module(encode=[queries, documents])
    else:
        out = [module(encode=[p])[0] for p in pieces]
        half = len(out) // 2
        q = {e: torch.cat([o[e] for o in out[:half]]) for e in EXITS}
        d = {e: torch.cat([o[e] for o in out[half:]]) for e in EXITS}
    total, per_exit = contrastive_loss(q, d, weights, temperatures())
    total.backward()
    return per_exit.detach()


@pytest.mark.parametrize("chunk", [1, 3, 8])
def test_chunked_gradients_equal_full_batch_gradients(chunk):
    module = _module()
    queries, documents = _batch(8, 1), _batch(8, 2)
    weights = exit_weights(EXITS)
    fixed = lambda: dict.fromkeys(EXITS, 0.05)  # noqa: E731
    ctx = DistContext()
    reference_loss = _reference(module, queries, documents, weights, fixed)
    reference = _grads(module)
    loss = contrastive_step(
        encode_with(module), queries, documents, weights, fixed, ctx, chunk=chunk
    )
    chunked = _grads(module)
    torch.testing.assert_close(loss, reference_loss, rtol=1e-5, atol=1e-6)
    assert len(chunked) > 10
    assert _worst(chunked, reference) < 1e-4
    assert "model.head.dense.weight" not in chunked  # the pretraining head plays no part


def test_dropout_is_replayed_when_chunks_are_recomputed():
    """With dropout on, the recomputed chunks must draw the masks of the first pass: the
    gradient then equals that of a plain chunk-by-chunk pass with the same RNG stream."""
    module = _module(dropout=0.1)
    queries, documents = _batch(6, 3), _batch(6, 4)
    weights = exit_weights(EXITS)
    temperature = LearnableTemperature(EXITS)
    torch.manual_seed(7)
    pieces = chunks(*queries, 2) + chunks(*documents, 2)
    reference_loss = _reference(module, queries, documents, weights, temperature, pieces)
    reference = _grads(module) | {"t": temperature.log_scale.grad.clone()}
    temperature.zero_grad(set_to_none=True)
    torch.manual_seed(7)
    loss = contrastive_step(
        encode_with(module), queries, documents, weights, temperature, DistContext(), chunk=2
    )
    chunked = _grads(module) | {"t": temperature.log_scale.grad.clone()}
    torch.testing.assert_close(loss, reference_loss)
    assert _worst(chunked, reference) < 1e-4
    # and without the replay the masks differ, so would the gradient
    torch.manual_seed(8)
    contrastive_step(
        encode_with(module), queries, documents, weights, temperature, DistContext(), chunk=2
    )
    other = _grads(module) | {"t": temperature.log_scale.grad.clone()}
    assert _worst(other, reference) > 1e-2


def test_loss_scale_and_accumulation():
    """Two calls with loss_scale=1/2 accumulate the mean gradient of the two batches."""
    module = _module()
    weights = exit_weights(EXITS)
    fixed = lambda: dict.fromkeys(EXITS, 0.05)  # noqa: E731
    a, b = (_batch(4, 5), _batch(4, 6)), (_batch(4, 7), _batch(4, 8))
    for q, d in (a, b):
        contrastive_step(
            encode_with(module), q, d, weights, fixed, DistContext(), chunk=2, loss_scale=0.5
        )
    accumulated = _grads(module)
    for q, d in (a, b):
        q_emb, d_emb = module(encode=[q, d])
        (0.5 * contrastive_loss(q_emb, d_emb, weights, fixed())[0]).backward()
    direct = _grads(module)
    assert _worst(accumulated, direct) < 1e-4
