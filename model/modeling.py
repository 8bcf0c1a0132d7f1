"""The MoSE multi-exit bidirectional encoder on transformers' StarCoder2 blocks.

Architecture (docs/model.md; ModularStarEncoder / MoSE, arXiv 2503.03008): StarCoder2's
decoder layers, rotary embedding and LayerNorm, with every attention module switched to
``is_causal=False`` and the mask built by ``transformers.masking_utils.create_bidirectional_mask``
(padding still masked), so each position sees the whole context. Nothing in transformers is
forked or patched: the layers are used as published, only the mask and the flag differ.

Exits: after layer ``i`` for each ``i`` in ``config.matryoshka_layers`` the hidden state goes
through that exit's LayerNorm (``exit_hidden_states[i]``); the ``<cls>`` position (the last
one: inputs are left padded) goes through that exit's projection head and is L2-normalised
(``exit_embeddings[i]``). Layers past the deepest requested exit are not run, which is the
point of an early exit. ``config.exit_layer_norm`` says which exits have a LayerNorm:
``"every"`` (this project's default: each exit its own) or ``"last"`` (the released checkpoint:
only the last layer is normalised, by the backbone's final norm, and lower exits feed the raw
residual stream to their projection head, as ``Starcoder2Model.hidden_states[k]`` does).

Pretraining heads (shared by all exits), laid out as the released ``StarEncoder2PreTrainingHeads``
(BERT's ``BertPreTrainingHeads`` shape): ``conditional_embeddings`` (a learned
``conditional_size``-dim embedding of the exit index), ``predictions`` (dense + GELU + LayerNorm,
then the vocabulary decoder: MLM) and ``seq_relationship`` (a linear layer to two logits:
in-context classification), each fed ``[state ; exit embedding]``. The ICC state is the
``<cls>`` state through ``pooler`` (dense + tanh, BERT's pooler) when ``config.icc_pooler``
(default True): without it, 6 MLM+ICC steps of the tiny preset already make every ``<cls>``
state the same (pairwise cosine 1.0 at every exit), and contrastive fine-tuning starts
collapsed. The released code's ``pooled_output`` could not be read; a released checkpoint
without pooler weights is loaded without a pooler (``model.released``).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.masking_utils import create_bidirectional_mask
from transformers.models.starcoder2.modeling_starcoder2 import (
    Starcoder2DecoderLayer,
    Starcoder2RotaryEmbedding,
)

from model.config import MoseConfig

#: Values of ``config.exit_layer_norm`` (absent from a config: ``"every"``).
EXIT_LAYER_NORMS: tuple[str, ...] = ("every", "last")


def exit_layer_norm(config: MoseConfig) -> str:
    """Which exits have a LayerNorm: ``"every"`` (default) or ``"last"`` (the released layout)."""
    mode = getattr(config, "exit_layer_norm", None) or "every"
    if mode not in EXIT_LAYER_NORMS:
        raise ValueError(f"exit_layer_norm must be one of {EXIT_LAYER_NORMS}, got {mode!r}")
    return mode


def normed_exits(config: MoseConfig) -> list[int]:
    """Exits whose hidden state goes through a LayerNorm of their own."""
    return config.exits if exit_layer_norm(config) == "every" else [config.exits[-1]]


def has_icc_pooler(config: MoseConfig) -> bool:
    """True when in-context classification reads the ``<cls>`` state through a pooler."""
    return bool(getattr(config, "icc_pooler", True))


def has_pretraining_heads(config: MoseConfig) -> bool:
    """False for a model built without the MLM/ICC heads (a released fine-tuned checkpoint)."""
    return bool(getattr(config, "pretraining_heads", True))


@dataclasses.dataclass
class MoseOutput:
    """Per-exit outputs, keyed by exit layer (1-based).

    ``exit_hidden_states[i]``: (B, T, H) hidden states after layer i (through the exit's
    LayerNorm when it has one).
    ``exit_embeddings[i]``: (B, P) L2-normalised projection of the ``<cls>`` (last) position,
    absent when the forward pass was asked not to pool.
    """

    exit_hidden_states: dict[int, torch.Tensor]
    exit_embeddings: dict[int, torch.Tensor]


def left_padded_position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions counted from the first real token, so left padding does not shift RoPE.

    (B, T) 0/1 mask -> (B, T) long positions (0 on the padding itself).
    """
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


class MosePredictionHeadTransform(nn.Module):
    """dense (H + C -> H) + GELU (tanh) + LayerNorm: the MLM head's trunk."""

    def __init__(self, config: MoseConfig) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.dense = nn.Linear(hidden + config.conditional_size, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.LayerNorm = nn.LayerNorm(hidden, eps=config.norm_epsilon)  # noqa: N815 (released name)

    def forward(self, conditioned: torch.Tensor) -> torch.Tensor:
        """(N, H + C) -> (N, H)."""
        return self.LayerNorm(self.act(self.dense(conditioned)))


class MoseLMPredictionHead(nn.Module):
    """The MLM head: transform, then the vocabulary decoder (weights not tied to the input)."""

    def __init__(self, config: MoseConfig) -> None:
        super().__init__()
        self.transform = MosePredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, conditioned: torch.Tensor) -> torch.Tensor:
        """(N, H + C) -> (N, V) vocabulary logits."""
        return self.decoder(self.transform(conditioned))


class MosePreTrainingHeads(nn.Module):
    """MLM and in-context-classification heads shared by every exit, conditioned on the exit.

    Each head reads ``[state ; conditional_embeddings(exit index)]`` (width H + C, with
    ``conditional_size`` C = 4 in the released config): ``predictions`` maps it to vocabulary
    logits, ``seq_relationship`` to two logits (different repositories, same repository), the
    shape of BERT's next-sentence head that the released output documents as ``(batch, 2)``.
    The ICC state is ``tanh(pooler(<cls> state))`` when the config has a pooler.
    """

    def __init__(self, config: MoseConfig) -> None:
        super().__init__()
        self.conditional_embeddings = nn.Embedding(len(config.exits), config.conditional_size)
        self.predictions = MoseLMPredictionHead(config)
        self.pooler = (
            nn.Linear(config.hidden_size, config.hidden_size) if has_icc_pooler(config) else None
        )
        self.seq_relationship = nn.Linear(config.hidden_size + config.conditional_size, 2)

    def condition(self, hidden: torch.Tensor, exit_index: int | torch.Tensor) -> torch.Tensor:
        """(N, H) states of one exit (int index) or of several (a (N,) index tensor) -> (N, H + C)."""
        if isinstance(exit_index, int):
            index = torch.full(
                hidden.shape[:-1], exit_index, dtype=torch.long, device=hidden.device
            )
        else:
            index = exit_index.to(hidden.device)
        embedding = self.conditional_embeddings(index).to(hidden.dtype)
        return torch.cat([hidden, embedding], dim=-1)

    def mlm_logits(self, hidden: torch.Tensor, exit_index: int | torch.Tensor) -> torch.Tensor:
        """(N, H) masked-position states -> (N, V) vocabulary logits."""
        return self.predictions(self.condition(hidden, exit_index))

    def icc_logits(self, cls_hidden: torch.Tensor, exit_index: int | torch.Tensor) -> torch.Tensor:
        """(N, H) ``<cls>`` states -> (N,) logit of "same repository".

        The difference of the two class logits: its sigmoid is the two-way softmax's
        probability of class 1, so binary cross-entropy on it is the two-class cross-entropy.
        """
        pooled = cls_hidden if self.pooler is None else torch.tanh(self.pooler(cls_hidden))
        logits = self.seq_relationship(self.condition(pooled, exit_index))  # (N, 2)
        return logits[..., 1] - logits[..., 0]


class MoseModel(PreTrainedModel):
    """Multi-exit bidirectional StarCoder2 encoder with per-exit projection heads.

    ``forward(input_ids, attention_mask)`` -> :class:`MoseOutput`. Inputs follow the MoSE
    format ``<sep>code<cls>`` / ``<sep>instruction<sep>text<cls>``, LEFT padded so that
    ``<cls>`` is the last position of every row (see ``model.tokenizer``).
    ``from_pretrained`` also reads a folder in the released ModularStarEncoder layout
    (``model.released``).
    """

    config_class = MoseConfig
    config: MoseConfig
    base_model_prefix = "mose"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["Starcoder2DecoderLayer"]
    _supports_sdpa = True
    _supports_flash_attn = True

    def __init__(self, config: MoseConfig) -> None:
        super().__init__(config)
        config.check()
        hidden = config.hidden_size
        self.embed_tokens = nn.Embedding(config.vocab_size, hidden, config.pad_token_id)
        self.layers = nn.ModuleList(
            [Starcoder2DecoderLayer(config, i) for i in range(config.num_hidden_layers)]
        )
        for layer in self.layers:
            # diff with Starcoder2: bidirectional attention (the sdpa and eager paths read this flag).
            layer.self_attn.is_causal = False
        self.rotary_emb = Starcoder2RotaryEmbedding(config=config)
        projection = config.projection_dim or hidden
        self.exit_norms = nn.ModuleDict(
            {str(e): nn.LayerNorm(hidden, eps=config.norm_epsilon) for e in normed_exits(config)}
        )
        self.projections = nn.ModuleDict(
            {str(e): nn.Linear(hidden, projection) for e in config.exits}
        )
        self.head = MosePreTrainingHeads(config) if has_pretraining_heads(config) else None
        self.gradient_checkpointing = False
        self.post_init()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """transformers' loader (or the released-layout reader), then fresh tensor memory.

        A folder whose ``config.json`` says ``model_type: ModularStarEncoder`` is read by
        ``model.released.load_released`` (config translation and key remapping). With
        ``output_loading_info=True`` the result is ``(model, info)`` as in transformers.

        Tensors loaded from safetensors can sit at addresses that are not 64-byte aligned,
        which sends CPU matmuls down other SIMD paths (results differ by ~1e-8). Copying makes
        a loaded model compute bit-for-bit what the saved one did, which exact resume needs.
        """
        from model.released import is_released_folder, load_released

        with_info = bool(kwargs.get("output_loading_info", False))
        if is_released_folder(pretrained_model_name_or_path):
            return load_released(
                pretrained_model_name_or_path,
                dtype=kwargs.get("dtype", kwargs.get("torch_dtype")),
                output_loading_info=with_info,
            )
        result = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        model, info = result if with_info else (result, None)
        with torch.no_grad():
            for tensor in [*model.parameters(), *model.buffers()]:
                tensor.data = tensor.data.clone()
        return (model, info) if with_info else model

    @property
    def exits(self) -> list[int]:
        return self.config.exits

    def exit_index(self, exit_layer: int) -> int:
        """Position of ``exit_layer`` in ``config.exits`` (the exit-embedding index)."""
        return self.config.exits.index(exit_layer)

    def exit_state(self, exit_layer: int, hidden_states: torch.Tensor) -> torch.Tensor:
        """The residual stream after ``exit_layer`` through that exit's LayerNorm, if it has one."""
        norm = self.exit_norms[str(exit_layer)] if str(exit_layer) in self.exit_norms else None
        return hidden_states if norm is None else norm(hidden_states)

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        exits: list[int] | None = None,
        pool: bool = True,
    ) -> MoseOutput:
        """Run the layers up to the deepest requested exit.

        input_ids (B, T), attention_mask (B, T) with 0 on (left) padding; ``exits`` defaults
        to all configured exits; ``pool=False`` skips the projection heads (pretraining).
        """
        wanted = self.config.exits if exits is None else sorted(set(exits))
        unknown = [e for e in wanted if e not in self.config.exits]
        if unknown:
            raise ValueError(f"exits {unknown} not in the model's exits {self.config.exits}")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if position_ids is None:
            position_ids = left_padded_position_ids(attention_mask)
        hidden_states = self.embed_tokens(input_ids)  # (B, T, H)
        # Embedding dropout where Starcoder2Model applies it (0.1 in the released config).
        hidden_states = F.dropout(
            hidden_states, p=self.config.embedding_dropout, training=self.training
        )
        mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=hidden_states, attention_mask=attention_mask
        )
        position_embeddings = self.rotary_emb(hidden_states, position_ids=position_ids)
        exit_hidden: dict[int, torch.Tensor] = {}
        exit_embeddings: dict[int, torch.Tensor] = {}
        wanted_set = set(wanted)
        for depth, layer in enumerate(self.layers[: wanted[-1]], start=1):
            hidden_states = layer(
                hidden_states,
                attention_mask=mask,
                position_ids=position_ids,
                position_embeddings=position_embeddings,
            )
            if depth in wanted_set:
                state = self.exit_state(depth, hidden_states)
                exit_hidden[depth] = state
                if pool:
                    cls = state[:, -1]  # (B, H): <cls> is last under left padding
                    exit_embeddings[depth] = F.normalize(
                        self.projections[str(depth)](cls).float(), dim=-1
                    )
        return MoseOutput(exit_hidden_states=exit_hidden, exit_embeddings=exit_embeddings)


def parameters_up_to(model: MoseModel, exit_layer: int) -> int:
    """Backbone parameters used to reach ``exit_layer``: token embeddings + layers 1..exit.

    This is the count the paper reports per exit (162M / 301M / 551M / 801M / 1.05B for the
    1b shape). The exit's own LayerNorm and projection head (hidden*(proj+3)+proj, about
    1.05M at 1b) and the pretraining-only shared head are not included.
    """
    if exit_layer not in model.config.exits:
        raise ValueError(f"{exit_layer} is not an exit of this model ({model.config.exits})")
    total = sum(p.numel() for p in model.embed_tokens.parameters())
    for layer in model.layers[:exit_layer]:
        total += sum(p.numel() for p in layer.parameters())
    return total


def meta_parameter_counts(config: MoseConfig) -> dict[int, int]:
    """Per-exit parameter counts of ``config`` built on the meta device (nothing allocated)."""
    with torch.device("meta"):
        model = MoseModel(config)
    return {e: parameters_up_to(model, e) for e in config.exits}
