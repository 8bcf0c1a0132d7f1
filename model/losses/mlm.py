"""Masked language modelling: BERT's 15% masking with the 80/10/10 rule.

Of the non-special positions, 15% are selected; of those 80% become ``<mask>``, 10% a random
token and 10% stay unchanged; the loss is cross-entropy on the selected positions only
(Devlin et al. 2019, arXiv 1810.04805, section 3.1; used by MoSE pretraining, arXiv 2503.03008).
The random token is drawn from the ordinary vocabulary only: a special id (``<sep>``, ``<cls>``,
``<mask>``, padding, or one of StarCoder2's own control tokens) inserted at random would teach
the model that separators can appear anywhere, and would fake extra snippets in an ICC context.
"""

from __future__ import annotations

from collections.abc import Collection

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def mask_tokens(
    input_ids: torch.Tensor,
    special_ids: Collection[int],
    *,
    mask_id: int,
    vocab_size: int,
    generator: torch.Generator,
    probability: float = 0.15,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (masked input_ids, labels) with labels = IGNORE_INDEX where nothing is predicted.

    input_ids (B, T) long; ``special_ids`` are never selected for prediction and never
    inserted as the random replacement (which is drawn uniformly from ``range(vocab_size)``
    minus ``special_ids``). Deterministic given ``generator``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> masked, labels = mask_tokens(ids, {0, 1, 2, 3}, mask_id=3, vocab_size=400, generator=g)
    """
    if not 0.0 < probability < 1.0:
        raise ValueError("masking probability must be in (0, 1)")
    special = torch.tensor(sorted(special_ids), dtype=input_ids.dtype)
    ordinary = torch.ones(vocab_size, dtype=torch.bool)
    ordinary[special[special < vocab_size]] = False
    replacements = ordinary.nonzero().squeeze(1)  # (V - S,) ids a random swap may insert
    if replacements.numel() == 0:
        raise ValueError("no ordinary token left to draw random replacements from")
    draw = torch.rand(input_ids.shape, generator=generator)
    selected = (draw < probability) & ~torch.isin(input_ids, special)
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    action = torch.rand(input_ids.shape, generator=generator)
    picks = torch.randint(replacements.numel(), input_ids.shape, generator=generator)
    masked = input_ids.clone()
    masked[selected & (action < 0.8)] = mask_id
    swap = selected & (action >= 0.8) & (action < 0.9)
    masked[swap] = replacements[picks[swap]]
    return masked, labels


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy over predicted positions. logits (N, V), labels (N,).

    ``reduction="sum"`` lets the trainer divide by the number of masked tokens of the whole
    step (all micro-batches, all ranks), so that accumulation and data parallelism weigh every
    masked token equally, as one large batch would.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError("reduction must be mean, sum or none")
    return F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_INDEX, reduction=reduction)
