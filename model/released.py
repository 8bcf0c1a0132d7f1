"""The released ModularStarEncoder checkpoint layout, read and written.

The MoSE authors published their weights as Hugging Face folders with remote code
(https://huggingface.co/modularStarEncoder/ModularStarEncoder and ``-finetuned``,
``-finetuned-{4,9,18,27}``). This module translates such a folder into a :class:`MoseModel`
and back, so the paper's model can be evaluated here and ours can be handed to code written
for theirs.

What the released files show (config.json, config.py, added_tokens.json, the model cards and
the commit diffs of ``modularStarEncoder.py``):

- ``config.json``: ``model_type`` and ``architectures`` ``ModularStarEncoder``, an ``auto_map``
  to the folder's ``config.ModularStarEncoderConfig`` and ``modularStarEncoder.ModularStarEncoder``,
  StarCoder2 shape keys (``rope_theta``, ``norm_epsilon``, ``use_bias``, ...), dropouts,
  ``matryoshka_layers``, ``layer_matryoshka_loss`` and ``conditional_size``; pad, bos and eos
  ids 0.
- Tokens: ``<sep>`` 49152, ``<cls>`` 49153, ``<mask>`` 49154 (``added_tokens.json``).
- Code: the backbone is a transformers ``Starcoder2Model`` under the attribute ``starEncoder2``;
  the fine-tuned model indexes ``projection_heads[idx]`` with the exit's position idx and
  applies it to ``hidden_states[layer]``, then pools and L2-normalises; the pretraining heads
  are ``StarEncoder2PreTrainingHeads`` with ``predictions``, ``seq_relationship`` and
  ``conditional_embeddings`` fed ``[state ; conditional_embeddings(idx)]``.

What is assumed (the safetensors index and the full modeling file could not be read):

- weight names follow the attributes: ``starEncoder2.{embed_tokens,layers.N,norm}.*``,
  ``projection_heads.{idx}.{weight,bias}`` (one ``nn.Linear`` per exit, beside the backbone),
  and the pretraining heads under ``cls.`` as in BERT (``cls.predictions.transform.dense``,
  ``cls.predictions.transform.LayerNorm``, ``cls.predictions.decoder``,
  ``cls.seq_relationship``, ``cls.conditional_embeddings``), with ``cls.predictions.bias``
  accepted for the decoder bias;
- ``hidden_states[k]`` of ``Starcoder2Model`` is the raw residual stream for k below the last
  layer and the final-norm output at the last layer, so only the last exit is normalised
  (``exit_layer_norm="last"``);
- pooling takes the ``<cls>`` (last) position, the inputs being left padded;
- ``conditional_embeddings`` has one row per exit and ``seq_relationship`` two outputs;
- how ``pooled_output`` is built is not known: this project reads the ``<cls>`` state through
  a pooler (``cls.pooler``, dense + tanh, as BERT) when the weights have one, and the raw
  ``<cls>`` state otherwise (``icc_pooler``); a fine-tuned folder has no ``cls.*`` at all.

A MoseModel with a LayerNorm at every exit (this project's default) is written with those
norms as extra ``exit_norms.{k}.*`` tensors and ``"exit_layer_norm": "every"`` in config.json:
this module reads it back exactly, while the released code would ignore them. The released
remote-code files (``config.py``, ``modularStarEncoder.py``) are not written; copy them from
the Hub to load a saved folder with ``trust_remote_code=True``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from model.config import MoseConfig
from model.modeling import MoseModel, exit_layer_norm

RELEASED_MODEL_TYPE = "ModularStarEncoder"
RELEASED_AUTO_MAP: dict[str, str] = {
    "AutoConfig": "config.ModularStarEncoderConfig",
    "AutoModel": "modularStarEncoder.ModularStarEncoder",
}
#: Special-token ids of the released tokenizer (StarCoder2's 49,152 tokens, then these).
RELEASED_SPECIAL_IDS: dict[str, int] = {"<sep>": 49152, "<cls>": 49153, "<mask>": 49154}

_BACKBONE = "starEncoder2."
_PROJECTIONS = "projection_heads."
_HEADS = "cls."
_OURS_HEADS = "head."
_WEIGHTS = "model.safetensors"
_INDEX = "model.safetensors.index.json"


def _config_path(path: str | os.PathLike[str]) -> Path:
    return Path(path) / "config.json"


def is_released_folder(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a local folder whose config.json is a ModularStarEncoder config."""
    file = _config_path(path)
    if not file.is_file():
        return False
    try:
        return json.loads(file.read_text(encoding="utf-8")).get("model_type") == RELEASED_MODEL_TYPE
    except (OSError, json.JSONDecodeError):
        return False


def checkpoint_files(path: str | os.PathLike[str]) -> list[Path]:
    """The safetensors file(s) of a folder: ``model.safetensors`` or the shards of its index."""
    root = Path(path)
    if (root / _WEIGHTS).is_file():
        return [root / _WEIGHTS]
    if (root / _INDEX).is_file():
        index = json.loads((root / _INDEX).read_text(encoding="utf-8"))
        return [root / name for name in sorted(set(index["weight_map"].values()))]
    raise ValueError(f"{root} holds no {_WEIGHTS} or {_INDEX}")


def checkpoint_shapes(path: str | os.PathLike[str]) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, read from the safetensors headers (no tensor is loaded)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for file in checkpoint_files(path):
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 (safe_open has no __iter__)
                shapes[key] = tuple(handle.get_slice(key).get_shape())
    return shapes


def _projection_count(keys: Mapping[str, Any]) -> int:
    indices = {int(m.group(1)) for k in keys if (m := re.match(r"projection_heads\.(\d+)\.", k))}
    return max(indices) + 1 if indices else 0


def released_to_config(
    raw: Mapping[str, Any],
    shapes: Mapping[str, tuple[int, ...]],
    added_tokens: Mapping[str, int] | None = None,
) -> MoseConfig:
    """A MoseConfig from a released config.json (``raw``) and the checkpoint's tensor shapes.

    The exits are ``matryoshka_layers`` up to ``num_hidden_layers`` (a truncated single-exit
    folder keeps the exits it has; its last layer is always an exit); the projection width,
    and whether the pretraining heads exist, come from the weights.
    """
    if raw.get("model_type") != RELEASED_MODEL_TYPE:
        raise ValueError(
            f"not a {RELEASED_MODEL_TYPE} config (model_type {raw.get('model_type')!r})"
        )
    for key, expected in (("mlp_type", "default"), ("norm_type", "layer_norm")):
        if raw.get(key, expected) != expected:
            raise ValueError(
                f"{key}={raw[key]!r} is not supported (StarCoder2's {expected!r} only)"
            )
    if raw.get("sliding_window") is not None:
        raise ValueError("a released encoder attends to the whole context (sliding_window null)")
    layers = int(raw["num_hidden_layers"])
    exits = sorted({int(e) for e in raw.get("matryoshka_layers") or [layers] if int(e) <= layers})
    if not exits or exits[-1] != layers:
        exits.append(layers)
    heads = _projection_count(shapes)
    if heads and heads != len(exits):
        raise ValueError(
            f"{heads} projection heads for exits {exits}: the folder's matryoshka_layers and "
            "weights disagree"
        )
    projection_dim = shapes["projection_heads.0.weight"][0] if heads else None
    condition = shapes.get(f"{_HEADS}conditional_embeddings.weight")
    if condition is not None and condition[0] != len(exits):
        raise ValueError(
            f"cls.conditional_embeddings has {condition[0]} rows for {len(exits)} exits; this "
            "reader assumes one row per exit"
        )
    tokens = {**RELEASED_SPECIAL_IDS, **(added_tokens or {})}
    epsilon = float(raw.get("norm_epsilon", raw.get("layer_norm_eps", 1e-5)))
    max_positions = int(raw.get("max_position_embeddings", 2048))
    config = MoseConfig(
        vocab_size=int(raw["vocab_size"]),
        hidden_size=int(raw["hidden_size"]),
        intermediate_size=int(raw["intermediate_size"]),
        num_hidden_layers=layers,
        num_attention_heads=int(raw["num_attention_heads"]),
        num_key_value_heads=int(raw.get("num_key_value_heads", raw["num_attention_heads"])),
        hidden_act=raw.get("hidden_act", "gelu_pytorch_tanh"),
        max_position_embeddings=max_positions,
        max_length=int(raw.get("max_length", max_positions)),
        initializer_range=float(raw.get("initializer_range", 0.02)),
        norm_epsilon=epsilon,
        use_bias=bool(raw.get("use_bias", True)),
        rope_parameters={"rope_type": "default", "rope_theta": float(raw.get("rope_theta", 1e6))},
        sliding_window=None,
        use_cache=False,
        attention_dropout=float(raw.get("attention_dropout", 0.0)),
        residual_dropout=float(raw.get("residual_dropout", 0.0)),
        embedding_dropout=float(raw.get("embedding_dropout", 0.0)),
        tie_word_embeddings=False,
        matryoshka_layers=exits,
        layer_matryoshka_loss=bool(raw.get("layer_matryoshka_loss", True)),
        conditional_size=int(raw.get("conditional_size", 4)),
        projection_dim=projection_dim if projection_dim != int(raw["hidden_size"]) else None,
        pad_token_id=int(raw.get("pad_token_id", 0) or 0),
        bos_token_id=int(raw.get("bos_token_id", 0) or 0),
        eos_token_id=int(raw.get("eos_token_id", 0) or 0),
        sep_token_id=int(tokens["<sep>"]),
        cls_token_id=int(tokens["<cls>"]),
        mask_token_id=int(tokens["<mask>"]),
        exit_layer_norm=raw.get("exit_layer_norm", "last"),
        pretraining_heads=any(k.startswith(_HEADS) for k in shapes),
        icc_pooler=any(k.startswith(f"{_HEADS}pooler.") for k in shapes),
    )
    config.check()
    return config


def config_to_released(config: MoseConfig, dtype: torch.dtype | None = None) -> dict[str, Any]:
    """The released config.json for ``config`` (plus the keys this project needs to read it back)."""
    rope = config.rope_parameters or {}
    raw: dict[str, Any] = {
        "architectures": [RELEASED_MODEL_TYPE],
        "auto_map": dict(RELEASED_AUTO_MAP),
        "model_type": RELEASED_MODEL_TYPE,
        "attention_dropout": config.attention_dropout,
        "residual_dropout": config.residual_dropout,
        "embedding_dropout": config.embedding_dropout,
        "bos_token_id": config.bos_token_id
        if config.bos_token_id is not None
        else config.pad_token_id,
        "eos_token_id": config.eos_token_id
        if config.eos_token_id is not None
        else config.pad_token_id,
        "pad_token_id": config.pad_token_id,
        "conditional_size": config.conditional_size,
        "hidden_act": config.hidden_act,
        "hidden_size": config.hidden_size,
        "initializer_range": config.initializer_range,
        "intermediate_size": config.intermediate_size,
        "layer_matryoshka_loss": config.layer_matryoshka_loss,
        "layer_norm_eps": config.norm_epsilon,
        "norm_epsilon": config.norm_epsilon,
        "matryoshka_layers": list(config.exits),
        "max_position_embeddings": config.max_position_embeddings,
        "mlp_type": "default",
        "norm_type": "layer_norm",
        "num_attention_heads": config.num_attention_heads,
        "num_hidden_layers": config.num_hidden_layers,
        "num_key_value_heads": config.num_key_value_heads,
        "rope_theta": rope.get("rope_theta", 10_000.0),
        "sliding_window": None,
        "use_bias": config.use_bias,
        "use_cache": False,
        "vocab_size": config.vocab_size,
        # read by this project only (the released code keeps unknown keys and ignores them)
        "max_length": config.max_length,
        "sep_token_id": config.sep_token_id,
        "cls_token_id": config.cls_token_id,
        "mask_token_id": config.mask_token_id,
        "exit_layer_norm": exit_layer_norm(config),
    }
    if dtype is not None:
        raw["torch_dtype"] = str(dtype).removeprefix("torch.")
    return raw


def key_from_released(key: str, config: MoseConfig) -> str | None:
    """A released tensor name -> ours, or None for a name this layout does not know."""
    if key.startswith(_BACKBONE):
        rest = key[len(_BACKBONE) :]
        if rest.startswith(("embed_tokens.", "layers.")):
            return rest
        if rest.startswith("norm."):
            return f"exit_norms.{config.exits[-1]}.{rest[len('norm.') :]}"
        return None
    if m := re.fullmatch(r"projection_heads\.(\d+)\.(weight|bias)", key):
        index = int(m.group(1))
        return (
            f"projections.{config.exits[index]}.{m.group(2)}" if index < len(config.exits) else None
        )
    if key == f"{_HEADS}predictions.bias":
        return f"{_OURS_HEADS}predictions.decoder.bias"
    if key.startswith(_HEADS):
        return _OURS_HEADS + key[len(_HEADS) :]
    if re.fullmatch(r"exit_norms\.\d+\.(weight|bias)", key):  # this project's extension
        return key
    return None


def key_to_released(key: str, config: MoseConfig) -> str:
    """Our tensor name -> the released one (lower-exit norms keep their own names)."""
    if key.startswith(("embed_tokens.", "layers.")):
        return _BACKBONE + key
    if m := re.fullmatch(r"exit_norms\.(\d+)\.(weight|bias)", key):
        return f"{_BACKBONE}norm.{m.group(2)}" if int(m.group(1)) == config.exits[-1] else key
    if m := re.fullmatch(r"projections\.(\d+)\.(weight|bias)", key):
        return f"projection_heads.{config.exits.index(int(m.group(1)))}.{m.group(2)}"
    if key.startswith(_OURS_HEADS):
        return _HEADS + key[len(_OURS_HEADS) :]
    raise ValueError(f"no released name for {key}")


def _read_tensors(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for file in checkpoint_files(path):
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118
                tensors[key] = handle.get_tensor(key)
    return tensors


def load_released(
    path: str | os.PathLike[str],
    dtype: torch.dtype | str | None = None,
    output_loading_info: bool = False,
) -> MoseModel | tuple[MoseModel, dict[str, Any]]:
    """A MoseModel from a released-layout folder; with ``output_loading_info`` also the report.

    The report has transformers' keys: ``missing_keys`` (ours, left at their initial values),
    ``unexpected_keys`` (released names this layout does not map), ``mismatched_keys`` and
    ``error_msgs``. A shape mismatch is a ValueError: the translated config must fit the
    weights. ``dtype`` defaults to float32 (``"auto"``: the checkpoint's own).
    """
    root = Path(path)
    raw = json.loads(_config_path(root).read_text(encoding="utf-8"))
    added_file = root / "added_tokens.json"
    added = json.loads(added_file.read_text(encoding="utf-8")) if added_file.is_file() else None
    config = released_to_config(raw, checkpoint_shapes(root), added)
    model = MoseModel(config)
    expected = model.state_dict()
    ours: dict[str, torch.Tensor] = {}
    unexpected: set[str] = set()
    for key, tensor in _read_tensors(root).items():
        name = key_from_released(key, config)
        if name is None or name not in expected:
            if not key.endswith("rotary_emb.inv_freq"):  # a recomputed buffer, never a weight
                unexpected.add(key)
            continue
        if name in ours:  # cls.predictions.bias and decoder.bias both present: the same tensor
            continue
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ValueError(
                f"{key}: shape {tuple(tensor.shape)} does not fit {name} {tuple(expected[name].shape)}"
            )
        ours[name] = tensor
    if dtype == "auto":
        target = next(iter(ours.values())).dtype if ours else torch.float32
    else:
        target = getattr(torch, dtype) if isinstance(dtype, str) else (dtype or torch.float32)
    with torch.no_grad():
        for name, tensor in ours.items():
            expected[name].copy_(tensor.to(expected[name].dtype))
    model = model.to(target).eval()
    missing = {k for k in expected if k not in ours}
    if not output_loading_info:
        return model
    return model, {
        "missing_keys": missing,
        "unexpected_keys": unexpected,
        "mismatched_keys": set(),
        "error_msgs": [],
    }


def save_released(
    model: MoseModel, directory: str | os.PathLike[str], tokenizer: Any = None
) -> Path:
    """Write ``model`` (and ``tokenizer``, a ``MoseTokenizer``) in the released layout.

    Files: config.json (the released keys), model.safetensors (released tensor names) and the
    tokenizer files. Returns the folder.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    config = model.config
    dtype = next(model.parameters()).dtype
    state = {
        key_to_released(k, config): v.detach().contiguous().cpu()
        for k, v in model.state_dict().items()
    }
    save_file(state, str(out / _WEIGHTS), metadata={"format": "pt"})
    raw = config_to_released(config, dtype)
    (out / "config.json").write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    if tokenizer is not None:
        tokenizer.save(out, model_max_length=config.max_length)
    return out
