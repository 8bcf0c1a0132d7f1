"""Any transformers / sentence-transformers encoder as a baseline row (or a MoSE folder, all exits).

``load_baseline(path, options)`` offers the evaluator's encoder interface (``exits``,
``encode_code``, ``encode_text``, ``parameters_up_to``) over a local model folder:

- a MoSE checkpoint of ours or a folder in the released ModularStarEncoder layout
  (``model_type`` ``mose_encoder`` / ``ModularStarEncoder``): ``model.encode.MoseEncoder``,
  every exit, the released instructions and ``<cls>`` pooling; no remote code is run;
- a sentence-transformers folder (``modules.json``), loaded with ``sentence_transformers``
  (the ``st`` extra): its own pooling and normalisation, and its prompts when it has them
  (``query`` for texts; ``code_<language>``, else ``document``, for code), as
  ``python -m model.export`` writes them;
- otherwise ``transformers.AutoModel`` + ``AutoTokenizer``, pooled as ``options.pooling`` says,
  else as the folder's ``1_Pooling/config.json`` says (CLS, mean or last token), mean by default,
  then L2-normalised; ``options.query_prefix`` / ``options.code_prefix`` (``{language}``
  filled in) are put before the inputs. A folder whose config maps its classes to code inside
  it (``auto_map``) is only loaded with ``options.trust_remote_code``, which runs that code.

A transformers or sentence-transformers model has one exit: its last layer.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

POOLINGS: tuple[str, ...] = ("mean", "cls", "last")
_MOSE_MODEL_TYPES = ("mose_encoder", "ModularStarEncoder")


@dataclasses.dataclass(frozen=True)
class BaselineOptions:
    """How to run a baseline: pooling, instruction prefixes, length, and remote code."""

    pooling: str | None = None  # None: the folder's 1_Pooling config, else mean
    query_prefix: str = ""
    code_prefix: str = ""  # may hold {language}
    max_length: int = 512
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        if self.pooling is not None and self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.max_length <= 0:
            raise ValueError("max_length must be positive")


def _folder_config(root: Path) -> dict[str, Any]:
    file = root / "config.json"
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}


def _pooling_mode(path: Path) -> str:
    cfg = path / "1_Pooling" / "config.json"
    if cfg.exists():
        data = json.loads(cfg.read_text())
        if data.get("pooling_mode_cls_token") or data.get("pooling_mode") == "cls":
            return "cls"
        if data.get("pooling_mode_lasttoken") or data.get("pooling_mode") == "lasttoken":
            return "last"
    return "mean"


def last_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) 0/1 mask -> (B,) index of each row's last real token, left or right padded."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (attention_mask.long() * (positions + 1)).argmax(dim=1)


class HFEncoder:
    """A transformers encoder behind the evaluator's interface (one exit: the last layer)."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        pooling: str = "mean",
        max_length: int = 512,
        query_prefix: str = "",
        code_prefix: str = "",
    ) -> None:
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = max_length
        self.query_prefix = query_prefix
        self.code_prefix = code_prefix
        layers = getattr(model.config, "num_hidden_layers", None) or 1
        self._exit = int(layers)
        self._forward_inputs = set(inspect.signature(model.forward).parameters)

    @classmethod
    def from_path(cls, path: str | Path, options: BaselineOptions = BaselineOptions()) -> HFEncoder:
        from transformers import AutoModel, AutoTokenizer

        root = Path(path)
        if not root.exists():
            raise ValueError(f"baseline model path {root} does not exist")
        if _folder_config(root).get("auto_map") and not options.trust_remote_code:
            raise ValueError(
                f"{root} maps its model classes to Python code inside the folder (auto_map); "
                "running it needs --trust_remote_code"
            )
        remote = {"trust_remote_code": True} if options.trust_remote_code else {}
        tokenizer = AutoTokenizer.from_pretrained(root, **remote)
        model = AutoModel.from_pretrained(root, **remote)
        return cls(
            model,
            tokenizer,
            options.pooling or _pooling_mode(root),
            options.max_length,
            options.query_prefix,
            options.code_prefix,
        )

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
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            if "token_type_ids" in batch and "token_type_ids" not in self._forward_inputs:
                del batch["token_type_ids"]  # a StarCoder2-style model takes none
            hidden = self.model(**batch).last_hidden_state  # (b, t, h)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (b, t, 1)
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            elif self.pooling == "last":
                pooled = hidden[
                    torch.arange(hidden.shape[0]), last_positions(batch["attention_mask"])
                ]
            else:
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            out.append(torch.nn.functional.normalize(pooled.float(), dim=-1).numpy())
        dim = getattr(self.model.config, "hidden_size", 0)
        return np.concatenate(out) if out else np.zeros((0, dim), np.float32)

    def encode_code(
        self,
        codes: list[str],
        languages: list[str],
        exits: list[int] | None = None,
        batch_size: int = 32,
    ) -> dict[int, np.ndarray]:
        if len(codes) != len(languages):
            raise ValueError("codes and languages differ in length")
        inputs = [
            self.code_prefix.format(language=lang) + code
            for code, lang in zip(codes, languages, strict=True)
        ]
        return {e: self._encode(inputs, batch_size) for e in self._check_exits(exits)}

    def encode_text(
        self, texts: list[str], exits: list[int] | None = None, batch_size: int = 32
    ) -> dict[int, np.ndarray]:
        inputs = [self.query_prefix + text for text in texts]
        return {e: self._encode(inputs, batch_size) for e in self._check_exits(exits)}


class SentenceTransformersEncoder:
    """A ``SentenceTransformer`` behind the evaluator's interface (one exit), prompts honoured."""

    def __init__(self, model: Any, options: BaselineOptions = BaselineOptions()) -> None:
        self.model = model
        self.options = options
        first = model[0]
        auto = getattr(first, "auto_model", None) or getattr(first, "model", None)
        self._exit = int(getattr(getattr(auto, "config", None), "num_hidden_layers", 1) or 1)
        self.prompts: dict[str, str] = dict(getattr(model, "prompts", {}) or {})

    @property
    def exits(self) -> list[int]:
        return [self._exit]

    def parameters_up_to(self, exit: int) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def _encode(self, texts: list[str], batch_size: int, prompt: str | None) -> np.ndarray:
        return np.asarray(
            self.model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                prompt=prompt,
                convert_to_numpy=True,
            ),
            dtype=np.float32,
        )

    def code_prompt(self, language: str) -> str | None:
        """``options.code_prefix``, else the ``code_<language>`` or ``document`` prompt."""
        if self.options.code_prefix:
            return self.options.code_prefix.format(language=language)
        return self.prompts.get(f"code_{language.lower()}", self.prompts.get("document"))

    def encode_code(self, codes, languages, exits=None, batch_size=32) -> dict[int, np.ndarray]:
        if len(codes) != len(languages):
            raise ValueError("codes and languages differ in length")
        dim = self.model.get_embedding_dimension()
        out = np.zeros((len(codes), dim), dtype=np.float32)
        by_prompt: dict[str | None, list[int]] = {}
        for i, lang in enumerate(languages):
            by_prompt.setdefault(self.code_prompt(lang), []).append(i)
        for prompt, rows in by_prompt.items():
            out[rows] = self._encode([codes[i] for i in rows], batch_size, prompt)
        return {self._exit: out}

    def encode_text(self, texts, exits=None, batch_size=32) -> dict[int, np.ndarray]:
        prompt = self.options.query_prefix or self.prompts.get("query")
        return {self._exit: self._encode(list(texts), batch_size, prompt)}


def load_baseline(path: str | Path, options: BaselineOptions = BaselineOptions()) -> Any:
    """MoSE folders as MoseEncoder, sentence-transformers folders as such, else transformers."""
    root = Path(path)
    if not root.exists():
        raise ValueError(f"baseline model path {root} does not exist")
    if _folder_config(root).get("model_type") in _MOSE_MODEL_TYPES:
        from model.encode import MoseEncoder

        return MoseEncoder.from_pretrained(root)
    if (root / "modules.json").exists():
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ValueError(
                f"{root} is a sentence-transformers folder; install the st extra "
                "(pip install 'codetrans-factory[st]')"
            ) from exc
        model = SentenceTransformer(str(root), trust_remote_code=options.trust_remote_code)
        return SentenceTransformersEncoder(model, options)
    return HFEncoder.from_path(root, options)
