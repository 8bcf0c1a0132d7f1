"""MoSE encoder configuration and the named presets (docs/design.md, "The model").

``MoseConfig`` extends transformers' ``Starcoder2Config`` (the backbone shape is StarCoder2's)
with the keys of the released ModularStarEncoder checkpoint: ``matryoshka_layers`` (the exit
layers), ``layer_matryoshka_loss`` (whether every exit is trained, i.e. self-distillation) and
``conditional_size`` (width of the learned exit embedding fed to the shared pretraining head).
Reference: ModularStarEncoder / MoSE, arXiv 2503.03008.

Presets: ``1b`` is the released shape (36 layers, hidden 1024, 16 heads, 4 KV heads, MLP 12288
``gelu_pytorch_tanh``, LayerNorm with bias, RoPE theta 1e6, context 2048, vocab 49,156, exits
4/9/18/27/36); ``tiny`` is a few-million-parameter model that trains on a CPU in minutes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from transformers import Starcoder2Config


class MoseConfig(Starcoder2Config):
    """Configuration of :class:`model.modeling.MoseModel`.

    Besides Starcoder2's fields: ``matryoshka_layers`` (sorted exit layers, 1-based, the last
    one equal to ``num_hidden_layers``), ``layer_matryoshka_loss`` (train all exits with the
    i/L weighting; False trains only the last exit), ``conditional_size`` (exit-embedding
    width), ``max_length`` (training/encoding context in tokens, <= max_position_embeddings),
    the special token ids and ``icc_head`` / ``projection_dim`` switches. ``sliding_window``
    must stay None: the encoder attends bidirectionally over the whole context.
    """

    model_type = "mose_encoder"

    matryoshka_layers: list[int] | None = None
    layer_matryoshka_loss: bool = True
    conditional_size: int = 4
    max_length: int = 2048
    projection_dim: int | None = None
    sep_token_id: int | None = None
    cls_token_id: int | None = None
    mask_token_id: int | None = None

    @property
    def exits(self) -> list[int]:
        """Exit layers (1-based), defaulting to the last layer only."""
        return list(self.matryoshka_layers or [self.num_hidden_layers])

    def check(self) -> None:
        """Raise ValueError when the exits or the attention settings are inconsistent."""
        exits = self.exits
        if not exits or sorted(set(exits)) != exits:
            raise ValueError(f"matryoshka_layers must be strictly increasing, got {exits}")
        if exits[0] < 1 or exits[-1] != self.num_hidden_layers:
            raise ValueError(
                f"exits must lie in 1..{self.num_hidden_layers} and end at the last layer, got {exits}"
            )
        if self.sliding_window is not None:
            raise ValueError("sliding_window must be None for a bidirectional encoder")
        if self.max_length > self.max_position_embeddings:
            raise ValueError("max_length exceeds max_position_embeddings")


_COMMON: dict[str, Any] = {
    "hidden_act": "gelu_pytorch_tanh",
    "use_bias": True,
    "norm_epsilon": 1e-5,
    "sliding_window": None,
    "use_cache": False,
    "bos_token_id": None,
    "eos_token_id": None,
    "tie_word_embeddings": False,
    "conditional_size": 4,
    "layer_matryoshka_loss": True,
}

#: Named presets. ``1b`` follows docs/design.md, "The model" (the released checkpoint's shape).
PRESETS: dict[str, dict[str, Any]] = {
    "1b": {
        "num_hidden_layers": 36,
        "hidden_size": 1024,
        "num_attention_heads": 16,
        "num_key_value_heads": 4,
        "intermediate_size": 12288,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0},
        "max_position_embeddings": 2048,
        "max_length": 2048,
        "vocab_size": 49156,
        "matryoshka_layers": [4, 9, 18, 27, 36],
        "initializer_range": 0.018042,
    },
    "tiny": {
        "num_hidden_layers": 6,
        "hidden_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 512,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10_000.0},
        "max_position_embeddings": 512,
        "max_length": 256,
        "vocab_size": 4096,
        "matryoshka_layers": [2, 4, 6],
        "initializer_range": 0.02,
    },
}


def parse_exits(text: str) -> list[int]:
    """Parse ``"2,4,6"`` into ``[2, 4, 6]`` (ValueError on anything else)."""
    try:
        exits = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as err:
        raise ValueError(f"--exits must be comma-separated integers, got {text!r}") from err
    if not exits:
        raise ValueError("--exits is empty")
    return exits


def make_config(
    name: str,
    *,
    num_layers: int | None = None,
    exits: list[int] | None = None,
    vocab_size: int | None = None,
    max_length: int | None = None,
    self_distillation: bool = True,
    **overrides: Any,
) -> MoseConfig:
    """Build a preset, optionally cut to ``num_layers`` with other ``exits`` (the ablation).

    With ``num_layers`` and no ``exits`` the preset's exits below ``num_layers`` are kept and
    ``num_layers`` is added as the last exit; ``--num_layers=k --exits=k`` is the k-layer
    single-exit model that the self-distillation claim is compared against.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown config {name!r}; choose from {sorted(PRESETS)}")
    kwargs = {**_COMMON, **PRESETS[name], **overrides}
    if num_layers is not None:
        if num_layers < 1:
            raise ValueError("--num_layers must be >= 1")
        kwargs["num_hidden_layers"] = num_layers
        if exits is None:
            exits = [e for e in kwargs["matryoshka_layers"] if e < num_layers] + [num_layers]
    if exits is not None:
        kwargs["matryoshka_layers"] = list(exits)
    if vocab_size is not None:
        kwargs["vocab_size"] = vocab_size
    if max_length is not None:
        kwargs["max_length"] = max_length
        kwargs["max_position_embeddings"] = max(kwargs["max_position_embeddings"], max_length)
    kwargs["layer_matryoshka_loss"] = self_distillation
    config = MoseConfig(**kwargs)
    config.check()
    return config


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Optimisation and regularisation defaults of a run (``--recipe``); flags override them.

    ``dropout`` sets attention, residual and embedding dropout; ``schedule`` is ``cosine``
    (linear warm-up, cosine decay to ``min_lr_ratio`` x peak) or ``multistep`` (linear
    warm-up, then the LR multiplied by ``gamma`` at each of ``milestones``, fractions of
    ``--steps``); ``warmup`` None means steps / 20; ``temperature`` None means learned.
    """

    name: str
    dropout: float
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    schedule: str
    warmup: int | None
    milestones: tuple[float, ...] = ()
    gamma: float = 1.0
    temperature: float | None = 0.05


#: ``default``: what this trainer used before issue 18 (short CPU runs: no dropout, cosine,
#: 5% warm-up, fixed temperature). ``paper``: the released ModularStarEncoder's settings
#: (arXiv 2503.03008 and the released config): dropout 0.1 everywhere, AdamW betas
#: (0.9, 0.95), eps 1e-6, weight decay 0.1, 4,000 warm-up steps then a multi-step decay, and
#: the CLIP loss's learned temperature. The paper does not give the decay points; this recipe
#: divides the LR by 10 at 50% and 75% of the run (Goyal et al. 2017's step schedule), an
#: assumption that ``--lr_milestones`` / ``--lr_gamma`` change.
RECIPES: dict[str, Recipe] = {
    "default": Recipe(
        name="default",
        dropout=0.0,
        betas=(0.9, 0.98),
        eps=1e-6,
        weight_decay=0.01,
        schedule="cosine",
        warmup=None,
    ),
    "paper": Recipe(
        name="paper",
        dropout=0.1,
        betas=(0.9, 0.95),
        eps=1e-6,
        weight_decay=0.1,
        schedule="multistep",
        warmup=4000,
        milestones=(0.5, 0.75),
        gamma=0.1,
        temperature=None,
    ),
}


def dropout_overrides(dropout: float) -> dict[str, float]:
    """Config keys for one dropout rate everywhere (as the released checkpoint sets them)."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError("dropout must be in [0, 1)")
    return {"attention_dropout": dropout, "residual_dropout": dropout, "embedding_dropout": dropout}
