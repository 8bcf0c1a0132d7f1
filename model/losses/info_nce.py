"""Symmetric InfoNCE (CLIP loss) with in-batch negatives, and a learnable temperature.

For L2-normalised query and document embeddings q, d (N, D), logits = q d^T / tau and the loss
is the mean of the cross-entropies of rows and of columns against the diagonal (Radford et al.
2021, arXiv 2103.00020; van den Oord et al. 2018, arXiv 1807.03748). MoSE fine-tunes every exit
with it (arXiv 2503.03008). N is the whole contrastive batch: with GradCache
(:mod:`model.gradcache`) and several ranks, every pair is scored against the N - 1 documents of
all ranks, not only those its own device encoded.

The temperature is either fixed (``--temperature=0.05``, the trainer's default: with a few
hundred pairs a learned scale drifts, and a fixed one keeps runs comparable across exits) or
learned as CLIP learns it (:class:`LearnableTemperature`, ``--temperature=learnable``, the
``paper`` recipe: MoSE fine-tunes with the CLIP loss).

Example:
    >>> q = F.normalize(torch.randn(8, 16), dim=-1); d = F.normalize(torch.randn(8, 16), dim=-1)
    >>> symmetric_info_nce(q, d, 0.05)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def symmetric_info_nce(
    queries: torch.Tensor, documents: torch.Tensor, temperature: float | torch.Tensor = 0.05
) -> torch.Tensor:
    """Mean of query->document and document->query cross-entropy; row i matches column i.

    ``temperature`` is a positive float or a 0-dim tensor (a learned one keeps its graph).
    """
    if queries.shape != documents.shape:
        raise ValueError(f"shape mismatch {tuple(queries.shape)} vs {tuple(documents.shape)}")
    if not isinstance(temperature, torch.Tensor) and temperature <= 0:
        raise ValueError("temperature must be positive")
    logits = queries.float() @ documents.float().T / temperature  # (N, N)
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


class LearnableTemperature(nn.Module):
    """One learned temperature per exit, parametrised as CLIP's logit scale.

    ``log_scale[i] = log(1 / tau_i)``, initialised at ``1 / 0.07`` and clamped so that the
    scale never exceeds 100 (tau >= 0.01), both as in CLIP (Radford et al. 2021, section 2.5).
    The trainer keeps it out of the DDP/FSDP-wrapped encoder: every rank computes the same
    global loss, so its gradient is already identical everywhere and needs no reduction.

    Args:
        exits: the trained exits, one temperature each.
        initial: starting temperature.
        minimum: the clamp (1 / maximum logit scale).
    """

    def __init__(self, exits: Sequence[int], initial: float = 0.07, minimum: float = 0.01) -> None:
        super().__init__()
        if not 0 < minimum <= initial:
            raise ValueError("need 0 < minimum <= initial temperature")
        self.exits = [int(e) for e in exits]
        self.minimum = minimum
        self.log_scale = nn.Parameter(torch.full((len(self.exits),), math.log(1.0 / initial)))

    def forward(self) -> dict[int, torch.Tensor]:
        """{exit: 0-dim temperature tensor}."""
        scale = self.log_scale.exp().clamp(max=1.0 / self.minimum)
        return {e: 1.0 / scale[i] for i, e in enumerate(self.exits)}

    def get_config_dict(self) -> dict[str, float | list[int]]:
        return {"exits": self.exits, "minimum": self.minimum}
