"""Masked language modelling: BERT's 15% masking with the 80/10/10 rule.

Of the non-special positions, 15% are selected; of those 80% become ``<mask>``, 10% a random
token and 10% stay unchanged; the loss is cross-entropy on the selected positions only
(Devlin et al. 2019, arXiv 1810.04805, section 3.1; used by MoSE pretraining, arXiv 2503.03008).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def mask_tokens(
    input_ids: torch.Tensor,
    special_mask: torch.Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    generator: torch.Generator,
    probability: float = 0.15,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (masked input_ids, labels) with labels = IGNORE_INDEX where nothing is predicted.

    input_ids (B, T) long; special_mask (B, T) bool, True where a token may never be masked
    (padding, ``<sep>``, ``<cls>``). Deterministic given ``generator``.
    """
    if not 0.0 < probability < 1.0:
        raise ValueError("masking probability must be in (0, 1)")
    draw = torch.rand(input_ids.shape, generator=generator)
    selected = (draw < probability) & ~special_mask
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    action = torch.rand(input_ids.shape, generator=generator)
    random_tokens = torch.randint(vocab_size, input_ids.shape, generator=generator)
    masked = input_ids.clone()
    masked[selected & (action < 0.8)] = mask_id
    swap = selected & (action >= 0.8) & (action < 0.9)
    masked[swap] = random_tokens[swap]
    return masked, labels


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over predicted positions. logits (N, V), labels (N,)."""
    return F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_INDEX)
