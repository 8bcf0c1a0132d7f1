"""Loss math: i/L exit weights, InfoNCE, MLM masking."""

from __future__ import annotations

import pytest
import torch

from model.losses import IGNORE_INDEX, combine, exit_weights, mask_tokens, symmetric_info_nce


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
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, :2] = True
    g = torch.Generator().manual_seed(0)
    masked, labels = mask_tokens(ids, special, mask_id=3, vocab_size=1000, generator=g)
    selected = labels != IGNORE_INDEX
    assert not selected[:, :2].any()
    rate = selected.float().mean().item() * 128 / 126
    assert 0.13 < rate < 0.17
    as_mask = (masked == 3) & selected
    assert 0.75 < as_mask.sum().item() / selected.sum().item() < 0.85
    assert torch.equal(labels[selected], ids[selected])
