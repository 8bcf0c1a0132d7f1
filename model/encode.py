"""Inference API of a trained MoSE checkpoint (the contract the evaluator relies on).

``MoseEncoder.from_pretrained(CKPT)`` loads the model and tokenizer written by
``python -m model.train``, or a folder in the released ModularStarEncoder layout
(``model.released``); ``encode_code`` / ``encode_text`` return one L2-normalised float32
array per exit, with the released instruction prefixes applied (docs/model.md). Inputs
are sorted by length before batching (less padding) and returned in the caller's order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from model.modeling import MoseModel, parameters_up_to
from model.tokenizer import MoseTokenizer


class MoseEncoder:
    """A loaded checkpoint: ``.exits``, ``.encode_code``, ``.encode_text``, ``.parameters_up_to``."""

    def __init__(
        self, model: MoseModel, tokenizer: MoseTokenizer, device: str | torch.device = "cpu"
    ) -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.max_length = int(model.config.max_length)

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike[str], device: str | None = None
    ) -> MoseEncoder:
        """Load ``path`` (a checkpoint directory); device defaults to CUDA when available."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = MoseModel.from_pretrained(str(path))
        return cls(model, MoseTokenizer.load(path), device)

    @property
    def exits(self) -> list[int]:
        return list(self.model.config.exits)

    def parameters_up_to(self, exit_layer: int) -> int:
        """Embedding + layer parameters run to reach ``exit_layer`` (see modeling.parameters_up_to)."""
        return parameters_up_to(self.model, exit_layer)

    def encode_code(
        self,
        codes: Sequence[str],
        languages: Sequence[str],
        exits: Sequence[int] | None = None,
        batch_size: int = 32,
    ) -> dict[int, np.ndarray]:
        """Embed code snippets (``<sep>Represent this {language} code ...:<sep>code<cls>``)."""
        return self._encode(
            self.tokenizer.format_code(codes, languages, self.max_length), exits, batch_size
        )

    def encode_text(
        self, texts: Sequence[str], exits: Sequence[int] | None = None, batch_size: int = 32
    ) -> dict[int, np.ndarray]:
        """Embed natural-language queries with the released text instruction."""
        return self._encode(self.tokenizer.format_text(texts, self.max_length), exits, batch_size)

    @torch.inference_mode()
    def _encode(
        self, sequences: list[list[int]], exits: Sequence[int] | None, batch_size: int
    ) -> dict[int, np.ndarray]:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        wanted = self.exits if exits is None else sorted(set(int(e) for e in exits))
        bad = [e for e in wanted if e not in self.exits]
        if bad:
            raise ValueError(f"exits {bad} not in the model's exits {self.exits}")
        dim = self.model.projections[str(wanted[0])].out_features
        out = {e: np.zeros((len(sequences), dim), dtype=np.float32) for e in wanted}
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        autocast = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            ids, mask = self.tokenizer.pad_left([sequences[i] for i in index])
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                result = self.model(ids.to(self.device), mask.to(self.device), exits=wanted)
            for e in wanted:
                out[e][index] = result.exit_embeddings[e].float().cpu().numpy()
        return out
