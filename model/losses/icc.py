"""In-context classification (ICC): are all snippets of a packed context from one repository?

MoSE pretraining packs several functions into one context separated by ``<sep>``; with
probability 0.5 they come from different repositories, and the ``<cls>`` state is classified
same-repository (1) or not (0) with binary cross-entropy (ModularStarEncoder, arXiv 2503.03008;
docs/design.md, "The model"). How contexts are drawn so that nothing but the code tells the label
apart is :class:`model.data.PretrainSampler`'s business.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def icc_loss(
    logits: torch.Tensor, same_repository: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Binary cross-entropy. logits (B,), same_repository (B,) in {0, 1}."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError("reduction must be mean, sum or none")
    return F.binary_cross_entropy_with_logits(
        logits.float(), same_repository.float(), reduction=reduction
    )
