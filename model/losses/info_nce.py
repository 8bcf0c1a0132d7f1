"""Symmetric InfoNCE (CLIP loss) with in-batch negatives.

For L2-normalised query and document embeddings q, d (B, D), logits = q d^T / tau and the loss
is the mean of the cross-entropies of rows and of columns against the diagonal (Radford et al.
2021, arXiv 2103.00020; van den Oord et al. 2018, arXiv 1807.03748). MoSE fine-tunes every exit
with it (arXiv 2503.03008). The temperature is FIXED (default 0.05) rather than learned: with a
few hundred pairs a learned scale drifts, and a fixed one keeps runs comparable across exits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def symmetric_info_nce(
    queries: torch.Tensor, documents: torch.Tensor, temperature: float = 0.05
) -> torch.Tensor:
    """Mean of query->document and document->query cross-entropy; row i matches column i."""
    if queries.shape != documents.shape:
        raise ValueError(f"shape mismatch {tuple(queries.shape)} vs {tuple(documents.shape)}")
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    logits = queries.float() @ documents.float().T / temperature  # (B, B)
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
