"""The MoSE multi-exit bidirectional encoder on transformers' StarCoder2 blocks.

Architecture (DESIGN.md section 7; ModularStarEncoder / MoSE, arXiv 2503.03008): StarCoder2's
decoder layers, rotary embedding and LayerNorm, with every attention module switched to
``is_causal=False`` and the mask built by ``transformers.masking_utils.create_bidirectional_mask``
(padding still masked), so each position sees the whole context. Nothing in transformers is
forked or patched: the layers are used as published, only the mask and the flag differ.

Exits: after layer ``i`` for each ``i`` in ``config.matryoshka_layers`` the hidden state goes
through that exit's LayerNorm (``exit_hidden_states[i]``); the ``<cls>`` position (the last
one: inputs are left padded) goes through that exit's projection head and is L2-normalised
(``exit_embeddings[i]``). Layers past the deepest requested exit are not run, which is the
point of an early exit.

Pretraining head (shared by all exits): the exit's hidden state concatenated with a learned
``conditional_size``-dim embedding of the exit index, then dense + GELU + LayerNorm, then the
MLM decoder (vocabulary logits) or the in-context-classification logit.
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


@dataclasses.dataclass
class MoseOutput:
    """Per-exit outputs, keyed by exit layer (1-based).

    ``exit_hidden_states[i]``: (B, T, H) normalised hidden states after layer i.
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


class MoseSharedHead(nn.Module):
    """One pretraining head for every exit, conditioned on a learned exit embedding.

    Input: exit hidden state (N, H) and the exit's index into ``config.exits``; the head
    concatenates a ``conditional_size``-dim embedding of that index (arXiv 2503.03008,
    "conditional_size=4" in the released config) and returns MLM vocabulary logits (N, V) or
    the same-repository logit (N,).
    """

    def __init__(self, config: MoseConfig) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.exit_embedding = nn.Embedding(len(config.exits), config.conditional_size)
        self.dense = nn.Linear(hidden + config.conditional_size, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.norm = nn.LayerNorm(hidden, eps=config.norm_epsilon)
        self.mlm_decoder = nn.Linear(hidden, config.vocab_size)
        self.icc_classifier = nn.Linear(hidden, 1)

    def _trunk(self, hidden: torch.Tensor, exit_index: int | torch.Tensor) -> torch.Tensor:
        if isinstance(exit_index, int):
            index = torch.full(
                hidden.shape[:-1], exit_index, dtype=torch.long, device=hidden.device
            )
        else:
            index = exit_index.to(hidden.device)
        conditioned = torch.cat([hidden, self.exit_embedding(index).to(hidden.dtype)], dim=-1)
        return self.norm(self.act(self.dense(conditioned)))

    def mlm_logits(self, hidden: torch.Tensor, exit_index: int | torch.Tensor) -> torch.Tensor:
        """(N, H) states of one exit (int index) or of several (a (N,) index tensor) -> (N, V)."""
        return self.mlm_decoder(self._trunk(hidden, exit_index))

    def icc_logits(self, cls_hidden: torch.Tensor, exit_index: int | torch.Tensor) -> torch.Tensor:
        return self.icc_classifier(self._trunk(cls_hidden, exit_index)).squeeze(-1)


class MoseModel(PreTrainedModel):
    """Multi-exit bidirectional StarCoder2 encoder with per-exit projection heads.

    ``forward(input_ids, attention_mask)`` -> :class:`MoseOutput`. Inputs follow the MoSE
    format ``<sep>code<cls>`` / ``<sep>instruction<sep>text<cls>``, LEFT padded so that
    ``<cls>`` is the last position of every row (see ``model.tokenizer``).
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
            # diff with Starcoder2: bidirectional attention (FACTS.md, transformers 5.23).
            layer.self_attn.is_causal = False
        self.rotary_emb = Starcoder2RotaryEmbedding(config=config)
        projection = config.projection_dim or hidden
        self.exit_norms = nn.ModuleDict(
            {str(e): nn.LayerNorm(hidden, eps=config.norm_epsilon) for e in config.exits}
        )
        self.projections = nn.ModuleDict(
            {str(e): nn.Linear(hidden, projection) for e in config.exits}
        )
        self.head = MoseSharedHead(config)
        self.gradient_checkpointing = False
        self.post_init()

    @classmethod
    def from_pretrained(cls, *args, **kwargs) -> MoseModel:
        """transformers' loader, then every tensor copied into freshly allocated memory.

        Tensors loaded from safetensors can sit at addresses that are not 64-byte aligned,
        which sends CPU matmuls down other SIMD paths (results differ by ~1e-8). Copying makes
        a loaded model compute bit-for-bit what the saved one did, which exact resume needs.
        """
        model = super().from_pretrained(*args, **kwargs)
        with torch.no_grad():
            for tensor in [*model.parameters(), *model.buffers()]:
                tensor.data = tensor.data.clone()
        return model

    @property
    def exits(self) -> list[int]:
        return self.config.exits

    def exit_index(self, exit_layer: int) -> int:
        """Position of ``exit_layer`` in ``config.exits`` (the exit-embedding index)."""
        return self.config.exits.index(exit_layer)

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
                normed = self.exit_norms[str(depth)](hidden_states)
                exit_hidden[depth] = normed
                if pool:
                    cls = normed[:, -1]  # (B, H): <cls> is last under left padding
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
