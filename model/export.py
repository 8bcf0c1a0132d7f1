"""``python -m model.export``: one exit of a MoSE checkpoint as a model people can load.

    python -m model.export --model=CKPT --exit=K --output=DIR [--transformers_only]

``DIR`` is both a transformers folder and a sentence-transformers folder:

- transformers: ``config.json`` + ``model.safetensors`` of a plain ``Starcoder2Model`` with the
  first K layers and ``is_causal: false`` (transformers >= 5.2 then builds a bidirectional
  mask), whose final ``norm`` is exit K's LayerNorm, so ``last_hidden_state`` is our
  ``exit_hidden_states[K]``; no remote code. The tokenizer appends ``<cls>`` by itself and pads
  on the left.
- sentence-transformers: ``modules.json`` chaining that Transformer, last-token pooling (the
  ``<cls>`` position), a Dense layer holding exit K's projection head (identity activation) and
  Normalize; the released instructions are prompts (``query`` for natural-language queries,
  ``code_<language>`` for code), written with their ``<sep>`` markers, so
  ``SentenceTransformer(DIR).encode(codes, prompt_name="code_python")`` and
  ``.encode(queries, prompt_name="query")`` return the vectors ``MoseEncoder.encode_code`` and
  ``encode_text`` give at exit K.

An exit without a LayerNorm of its own (a lower exit of a released-layout model, see
``model.modeling``) cannot be written as a plain ``Starcoder2Model``, which always applies its
final norm: that is a ValueError.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file
from tokenizers import processors
from transformers import Starcoder2Config

from model.modeling import MoseModel
from model.tokenizer import KNOWN_LANGUAGES, TEXT_INSTRUCTION, MoseTokenizer, code_instruction

log = logging.getLogger("model.export")

#: Languages that get a ``code_<language>`` prompt (the canonical names of the tokenizer table).
PROMPT_LANGUAGES: tuple[str, ...] = KNOWN_LANGUAGES


def prompts() -> dict[str, str]:
    """Prompt name -> the text put before the input: ``<sep>instruction<sep>``."""
    out = {"query": f"<sep>{TEXT_INSTRUCTION}<sep>"}
    out.update({f"code_{lang}": f"<sep>{code_instruction(lang)}<sep>" for lang in PROMPT_LANGUAGES})
    return out


def truncated_config(
    model: MoseModel, exit_layer: int, tokenizer: MoseTokenizer
) -> Starcoder2Config:
    """The plain ``Starcoder2Config`` of the first ``exit_layer`` layers, bidirectional."""
    config = model.config
    return Starcoder2Config(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=exit_layer,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        hidden_act=config.hidden_act,
        max_position_embeddings=config.max_position_embeddings,
        initializer_range=config.initializer_range,
        norm_epsilon=config.norm_epsilon,
        use_bias=config.use_bias,
        rope_parameters=dict(config.rope_parameters),
        sliding_window=None,
        use_cache=False,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_id,
        bos_token_id=None,
        eos_token_id=None,
        is_causal=False,
        architectures=["Starcoder2Model"],
    )


def truncated_state_dict(model: MoseModel, exit_layer: int) -> dict[str, torch.Tensor]:
    """Starcoder2Model tensors: embeddings, layers 0..K-1 and ``norm`` = exit K's LayerNorm."""
    key = str(exit_layer)
    if exit_layer not in model.exits:
        raise ValueError(f"{exit_layer} is not an exit of this model ({model.exits})")
    if key not in model.exit_norms:
        raise ValueError(
            f"exit {exit_layer} has no LayerNorm of its own (released layout: only the last "
            "layer is normalised), and a Starcoder2Model always applies its final norm; "
            f"export exit {model.exits[-1]}, or a model with exit_layer_norm='every'"
        )
    state = {}
    for name, tensor in model.state_dict().items():
        if name.startswith("embed_tokens."):
            state[name] = tensor
        elif name.startswith("layers.") and int(name.split(".")[1]) < exit_layer:
            state[name] = tensor
        elif name.startswith(f"exit_norms.{key}."):
            state["norm." + name.rsplit(".", 1)[1]] = tensor
    return {k: v.detach().contiguous().cpu() for k, v in state.items()}


def save_export_tokenizer(tokenizer: MoseTokenizer, directory: Path, max_length: int) -> None:
    """The tokenizer files, with a post-processor that appends ``<cls>`` to every input."""
    inner = tokenizer.tokenizer.__class__.from_str(tokenizer.tokenizer.to_str())
    inner.post_processor = processors.TemplateProcessing(
        single="$A <cls>",
        pair="$A <sep> $B <cls>",
        special_tokens=[("<sep>", tokenizer.sep_id), ("<cls>", tokenizer.cls_id)],
    )
    MoseTokenizer(inner, tokenizer.pad_token).save(directory, model_max_length=max_length)


def export_transformers(
    model: MoseModel, tokenizer: MoseTokenizer, exit_layer: int, output: Path
) -> Path:
    """The K-layer ``Starcoder2Model`` folder (config, weights, tokenizer); returns it."""
    output.mkdir(parents=True, exist_ok=True)
    state = truncated_state_dict(model, exit_layer)
    truncated_config(model, exit_layer, tokenizer).save_pretrained(output)
    save_file(state, str(output / "model.safetensors"), metadata={"format": "pt"})
    save_export_tokenizer(tokenizer, output, int(model.config.max_length))
    return output


def export_sentence_transformers(
    model: MoseModel, tokenizer: MoseTokenizer, exit_layer: int, output: Path
) -> Path:
    """The sentence-transformers folder (its root is also the transformers folder)."""
    try:
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.modules import (
            Dense,
            Normalize,
            Pooling,
            Transformer,
        )
    except ImportError as exc:  # optional extra
        raise ValueError(
            "sentence-transformers is not installed (pip install 'codetrans-factory[st]'); "
            "pass --transformers_only for the transformers folder alone"
        ) from exc
    max_length = int(model.config.max_length)
    projection = model.projections[str(exit_layer)]
    with tempfile.TemporaryDirectory() as tmp:
        export_transformers(model, tokenizer, exit_layer, Path(tmp))
        transformer = Transformer(tmp, max_seq_length=max_length)
        dense = Dense(
            projection.in_features,
            projection.out_features,
            bias=projection.bias is not None,
            activation_function=torch.nn.Identity(),
            init_weight=projection.weight.detach().float().clone(),
            init_bias=projection.bias.detach().float().clone()
            if projection.bias is not None
            else None,
        )
        modules = [transformer, Pooling(projection.in_features, "lasttoken"), dense, Normalize()]
        st = SentenceTransformer(modules=modules, prompts=prompts(), device="cpu")
        st.save(str(output))
    return output


def export_exit(
    model_path: str | Path, exit_layer: int, output: str | Path, transformers_only: bool = False
) -> Path:
    """Load ``model_path`` (ours or a released-layout folder) and write exit ``exit_layer``."""
    model = MoseModel.from_pretrained(str(model_path)).float().eval()
    tokenizer = MoseTokenizer.load(model_path)
    truncated_state_dict(model, exit_layer)  # checks the exit before anything is written
    output = Path(output)
    if transformers_only:
        export_transformers(model, tokenizer, exit_layer, output)
    else:
        export_sentence_transformers(model, tokenizer, exit_layer, output)
    (output / "mose_export.json").write_text(
        json.dumps({"source": str(model_path), "exit": exit_layer, "exits": model.exits}, indent=2)
        + "\n",
        encoding="utf-8",
    )
    return output


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    p = argparse.ArgumentParser(prog="python -m model.export", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="a MoSE checkpoint or released-layout folder")
    p.add_argument("--exit", type=int, required=True, help="the exit layer to keep (1-based)")
    p.add_argument("--output", required=True)
    p.add_argument(
        "--transformers_only",
        action="store_true",
        help="write the transformers folder only (no sentence-transformers modules)",
    )
    args = p.parse_args(argv)
    try:
        out = export_exit(args.model, args.exit, args.output, args.transformers_only)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"exit {args.exit} of {args.model} -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
