"""Any transformers / sentence-transformers encoder as a one-exit baseline row.

``HFEncoder.from_path(path)`` offers the evaluator's encoder interface (``exits``,
``encode_code``, ``encode_text``, ``parameters_up_to``) over a local model folder:

- a sentence-transformers folder (``modules.json``) is loaded with ``sentence_transformers``
  when that package is installed;
- otherwise ``transformers.AutoModel`` + ``AutoTokenizer``, pooled as the folder's
  ``1_Pooling/config.json`` says (CLS or mean), mean pooling by default, then L2-normalised.

Its single exit is the model's last layer (``config.num_hidden_layers``). Inputs are the raw
code and text: a baseline gets no MoSE instructions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch


def _pooling_mode(path: Path) -> str:
    cfg = path / "1_Pooling" / "config.json"
    if cfg.exists():
        data = json.loads(cfg.read_text())
        if data.get("pooling_mode_cls_token"):
            return "cls"
        if data.get("pooling_mode_lasttoken"):
            return "last"
    return "mean"


class HFEncoder:
    """A transformers encoder behind the evaluator's interface (one exit: the last layer)."""

    def __init__(self, model: torch.nn.Module, tokenizer, pooling: str = "mean", max_length: int = 512) -> None:
        if pooling not in ("mean", "cls", "last"):
            raise ValueError(f"pooling must be mean, cls or last, got {pooling!r}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = max_length
        layers = getattr(model.config, "num_hidden_layers", None) or 1
        self._exit = int(layers)

    @classmethod
    def from_path(cls, path: str | Path, max_length: int = 512) -> HFEncoder:
        from transformers import AutoModel, AutoTokenizer

        root = Path(path)
        if not root.exists():
            raise ValueError(f"baseline model path {root} does not exist")
        tokenizer = AutoTokenizer.from_pretrained(root)
        model = AutoModel.from_pretrained(root)
        return cls(model, tokenizer, _pooling_mode(root), max_length)

    @property
    def exits(self) -> list[int]:
        return [self._exit]

    def parameters_up_to(self, exit: int) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def _check_exits(self, exits: list[int] | None) -> list[int]:
        exits = self.exits if exits is None else list(exits)
        if any(e != self._exit for e in exits):
            raise ValueError(f"this baseline has one exit, {self._exit}; asked for {exits}")
        return exits

    @torch.inference_mode()
    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(
                texts[start : start + batch_size], padding=True, truncation=True,
                max_length=self.max_length, return_tensors="pt",
            )
            hidden = self.model(**batch).last_hidden_state  # (b, t, h)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (b, t, 1)
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            elif self.pooling == "last":
                last = batch["attention_mask"].sum(dim=1) - 1
                pooled = hidden[torch.arange(hidden.shape[0]), last]
            else:
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            out.append(torch.nn.functional.normalize(pooled.float(), dim=-1).numpy())
        dim = getattr(self.model.config, "hidden_size", 0)
        return np.concatenate(out) if out else np.zeros((0, dim), np.float32)

    def encode_code(
        self, codes: list[str], languages: list[str], exits: list[int] | None = None, batch_size: int = 32
    ) -> dict[int, np.ndarray]:
        if len(codes) != len(languages):
            raise ValueError("codes and languages differ in length")
        return {e: self._encode(list(codes), batch_size) for e in self._check_exits(exits)}

    def encode_text(
        self, texts: list[str], exits: list[int] | None = None, batch_size: int = 32
    ) -> dict[int, np.ndarray]:
        return {e: self._encode(list(texts), batch_size) for e in self._check_exits(exits)}


def load_baseline(path: str | Path):
    """A sentence-transformers model when the folder is one and the package exists, else HF."""
    root = Path(path)
    if (root / "modules.json").exists():
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            SentenceTransformer = None  # noqa: N806
        if SentenceTransformer is not None:
            return SentenceTransformersEncoder(SentenceTransformer(str(root), device="cpu"))
    return HFEncoder.from_path(root)


class SentenceTransformersEncoder:
    """A ``SentenceTransformer`` behind the evaluator's interface (one exit)."""

    def __init__(self, model) -> None:
        self.model = model
        first = model[0]
        auto = getattr(first, "auto_model", None)
        self._exit = int(getattr(getattr(auto, "config", None), "num_hidden_layers", 1) or 1)

    @property
    def exits(self) -> list[int]:
        return [self._exit]

    def parameters_up_to(self, exit: int) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return np.asarray(
            self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True), dtype=np.float32
        )

    def encode_code(self, codes, languages, exits=None, batch_size=32) -> dict[int, np.ndarray]:
        return {self._exit: self._encode(list(codes), batch_size)}

    def encode_text(self, texts, exits=None, batch_size=32) -> dict[int, np.ndarray]:
        return {self._exit: self._encode(list(texts), batch_size)}
