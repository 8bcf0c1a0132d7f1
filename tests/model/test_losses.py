"""Loss math: i/L exit weights, InfoNCE (fixed and learned temperature), MLM masking."""

from __future__ import annotations

import pytest
import torch

from model.losses import (
    IGNORE_INDEX,
    LearnableTemperature,
    combine,
    exit_weights,
    mask_tokens,
    symmetric_info_nce,
)


def test_self_distillation_weights_are_i_over_L():
    assert exit_weights([4, 9, 18, 27, 36]) == {4: 4 / 36, 9: 9 / 36, 18: 0.5, 27: 0.75, 36: 1.0}
    assert exit_weights([2, 4, 6], self_distillation=False) == {6: 1.0}
    losses = {2: torch.tensor(3.0), 4: torch.tensor(6.0), 6: torch.tensor(1.0)}
    assert combine(losses, exit_weights([2, 4, 6])).item() == pytest.approx(1 + 4 + 1)
    assert combine(losses, exit_weights([2, 4, 6], False)).item() == pytest.approx(1.0)


def test_info_nce_is_symmetric_and_rewards_alignment():
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    d = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    assert symmetric_info_nce(q, d).item() == pytest.approx(symmetric_info_nce(d, q).item())
    assert symmetric_info_nce(q, q).item() < symmetric_info_nce(q, d).item()
    with pytest.raises(ValueError):
        symmetric_info_nce(q, d[:4])


def test_mlm_masking_rate_and_specials():
    ids = torch.randint(10, 1000, (64, 128))
    ids[:, :2] = torch.tensor([1, 2])  # special tokens at the start of every row
    g = torch.Generator().manual_seed(0)
    masked, labels = mask_tokens(ids, {0, 1, 2, 3}, mask_id=3, vocab_size=1000, generator=g)
    selected = labels != IGNORE_INDEX
    assert not selected[:, :2].any()
    rate = selected.float().mean().item() * 128 / 126
    assert 0.13 < rate < 0.17
    as_mask = (masked == 3) & selected
    assert 0.75 < as_mask.sum().item() / selected.sum().item() < 0.85
    assert torch.equal(labels[selected], ids[selected])


def test_random_replacement_never_inserts_a_special_id():
    """The 10% random swaps draw from the ordinary vocabulary only: with 40 of 48 ids special
    (StarCoder2 has dozens of control tokens), a draw over the whole vocabulary would insert
    one in most swaps."""
    special = set(range(40))
    ids = torch.randint(40, 48, (256, 64))
    g = torch.Generator().manual_seed(1)
    masked, labels = mask_tokens(
        ids, special | {3}, mask_id=3, vocab_size=48, generator=g, probability=0.5
    )
    swapped = (labels != IGNORE_INDEX) & (masked != 3) & (masked != ids)
    assert swapped.sum() > 100  # the 10% branch did run
    inserted = masked[(labels != IGNORE_INDEX) & (masked != 3)]
    assert not torch.isin(inserted, torch.tensor(sorted(special))).any()
    with pytest.raises(ValueError):
        mask_tokens(ids, set(range(48)), mask_id=3, vocab_size=48, generator=g)


def test_learnable_temperature_starts_at_clip_value_and_gets_a_gradient():
    temperature = LearnableTemperature([2, 4], initial=0.07)
    values = temperature()
    assert set(values) == {2, 4} and values[2].item() == pytest.approx(0.07)
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    d = torch.nn.functional.normalize(q + 0.1 * torch.randn(8, 16), dim=-1)
    loss = symmetric_info_nce(q, d, values[2])
    assert loss.item() == pytest.approx(symmetric_info_nce(q, d, 0.07).item(), rel=1e-5)
    loss.backward()
    grad = temperature.log_scale.grad
    assert grad[0] < 0 and grad[1] == 0  # aligned pairs: a sharper scale lowers the loss
    with torch.no_grad():
        temperature.log_scale.fill_(10.0)  # scale e^10 is clamped at 100
    assert temperature()[4].item() == pytest.approx(0.01)
