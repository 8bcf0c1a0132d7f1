"""Multi-exit self-distillation weighting: total = sum_i (i / L) * loss_i.

Every exit i (a 1-based layer index) is trained with its loss weighted by i / L, L being the
last layer, so deeper exits weigh more and their gradients shape the shallower layers they
share (ModularStarEncoder / MoSE, arXiv 2503.03008, "self-distillation"; docs/design.md, "The model").
Without self-distillation only the last exit is trained (weight 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch


def exit_weights(exits: Sequence[int], self_distillation: bool = True) -> dict[int, float]:
    """{exit: weight}: i/L for every exit, or {L: 1.0} without self-distillation."""
    if not exits:
        raise ValueError("no exits")
    last = max(exits)
    if not self_distillation:
        return {last: 1.0}
    return {e: e / last for e in sorted(exits)}


def combine(losses: Mapping[int, torch.Tensor], weights: Mapping[int, float]) -> torch.Tensor:
    """Weighted sum of the per-exit losses named in ``weights``."""
    missing = [e for e in weights if e not in losses]
    if missing:
        raise ValueError(f"no loss for exits {missing}")
    return sum(weights[e] * losses[e] for e in weights)  # type: ignore[return-value]
