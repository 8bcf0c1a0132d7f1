"""The released ModularStarEncoder layout: a folder written here from random weights loads with
no missing or unexpected key, embeds as transformers' own Starcoder2Model says it should, and
survives a round trip through our writer unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import Starcoder2Config, Starcoder2Model

from model.encode import MoseEncoder
from model.modeling import MoseModel
from model.released import is_released_folder, save_released
from model.tokenizer import MoseTokenizer, code_instruction

HIDDEN, LAYERS, HEADS, KV, FFN, CONDITION = 32, 4, 4, 2, 64, 4
EXITS = [2, 4]
CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "Add two numbers.",
    "public int max(int a, int b) { return a > b ? a : b; }",
    "Represent this python code snippet for retrieval:",
    "Represent this code description for retrieving supporting snippets of code:",
] * 30


def _starcoder2_like_tokenizer() -> Tokenizer:
    """A small byte-level BPE with StarCoder2's conventions: <|endoftext|> at id 0, then the
    released specials appended after the base vocabulary (as 49152-49154 are in the release)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=320,
            special_tokens=["<|endoftext|>"],
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    base = tok.get_vocab_size()
    tok.add_special_tokens(["<sep>", "<cls>", "<mask>"])
    assert tok.token_to_id("<sep>") == base
    return tok


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    return write_released_folder(tmp_path_factory.mktemp("released"))


def write_released_folder(root):
    """A folder in the released layout, written by hand (not by model.released)."""
    root.mkdir(parents=True, exist_ok=True)
    tok = _starcoder2_like_tokenizer()
    vocab = tok.get_vocab_size() + 1  # the release keeps one spare row (49,156 = 49,155 + 1)
    tok.save(str(root / "tokenizer.json"))
    base = tok.token_to_id("<sep>")
    (root / "added_tokens.json").write_text(
        json.dumps({"<sep>": base, "<cls>": base + 1, "<mask>": base + 2})
    )
    (root / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "pad_token": "<|endoftext|>",
                "padding_side": "left",
            }
        )
    )
    config = {
        "architectures": ["ModularStarEncoder"],
        "auto_map": {
            "AutoConfig": "config.ModularStarEncoderConfig",
            "AutoModel": "modularStarEncoder.ModularStarEncoder",
        },
        "model_type": "ModularStarEncoder",
        "attention_dropout": 0.1,
        "residual_dropout": 0.1,
        "embedding_dropout": 0.1,
        "bos_token_id": 0,
        "eos_token_id": 0,
        "conditional_size": CONDITION,
        "hidden_act": "gelu_pytorch_tanh",
        "hidden_size": HIDDEN,
        "initializer_range": 0.018042,
        "intermediate_size": FFN,
        "keys_to_ignore_at_inference": "past_key_values",
        "layer_matryoshka_loss": True,
        "layer_norm_eps": 1e-5,
        "matryoshka_layers": EXITS,
        "max_position_embeddings": 128,
        "mlp_type": "default",
        "norm_epsilon": 1e-5,
        "norm_type": "layer_norm",
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "num_key_value_heads": KV,
        "rope_theta": 999999.4420358813,
        "sliding_window": None,
        "torch_dtype": "float32",
        "transformers_version": "4.39.3",
        "use_bias": True,
        "use_cache": False,
        "vocab_size": vocab,
    }
    (root / "config.json").write_text(json.dumps(config))
    # random weights under the released names: a Starcoder2Model under starEncoder2, one
    # projection head per exit, BERT-style pretraining heads under cls
    torch.manual_seed(7)
    backbone = Starcoder2Model(_backbone_config(vocab))
    tensors = {
        f"starEncoder2.{k}": v.clone()
        for k, v in backbone.state_dict().items()
        if "rotary_emb" not in k
    }
    tensors["starEncoder2.norm.weight"] = 1 + 0.1 * torch.randn(HIDDEN)
    tensors["starEncoder2.norm.bias"] = 0.1 * torch.randn(HIDDEN)
    for j in range(len(EXITS)):
        tensors[f"projection_heads.{j}.weight"] = 0.2 * torch.randn(HIDDEN, HIDDEN)
        tensors[f"projection_heads.{j}.bias"] = 0.1 * torch.randn(HIDDEN)
    heads = {
        "cls.conditional_embeddings.weight": (len(EXITS), CONDITION),
        "cls.predictions.transform.dense.weight": (HIDDEN, HIDDEN + CONDITION),
        "cls.predictions.transform.dense.bias": (HIDDEN,),
        "cls.predictions.transform.LayerNorm.weight": (HIDDEN,),
        "cls.predictions.transform.LayerNorm.bias": (HIDDEN,),
        "cls.predictions.decoder.weight": (vocab, HIDDEN),
        "cls.predictions.decoder.bias": (vocab,),
        "cls.seq_relationship.weight": (2, HIDDEN + CONDITION),
        "cls.seq_relationship.bias": (2,),
    }
    tensors.update({k: 0.05 * torch.randn(shape) for k, shape in heads.items()})
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(root / "model.safetensors"))
    return root


def _backbone_config(vocab: int) -> Starcoder2Config:
    return Starcoder2Config(
        vocab_size=vocab,
        hidden_size=HIDDEN,
        intermediate_size=FFN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV,
        hidden_act="gelu_pytorch_tanh",
        max_position_embeddings=128,
        norm_epsilon=1e-5,
        use_bias=True,
        sliding_window=None,
        rope_parameters={"rope_type": "default", "rope_theta": 999999.4420358813},
        use_cache=False,
        is_causal=False,
    )


def _reference_embeddings(folder, texts_ids: list[list[int]]) -> dict[int, np.ndarray]:
    """What the released forward computes, with transformers' Starcoder2Model itself:
    projection_heads[j](hidden_states[exit_j]) at the <cls> (last) position, L2-normalised."""
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    vocab = tensors["starEncoder2.embed_tokens.weight"].shape[0]
    backbone = Starcoder2Model(_backbone_config(vocab)).eval()
    backbone.load_state_dict(
        {k[len("starEncoder2.") :]: v for k, v in tensors.items() if k.startswith("starEncoder2.")},
        strict=False,
    )
    out: dict[int, list[np.ndarray]] = {e: [] for e in EXITS}
    with torch.no_grad():
        for ids in texts_ids:  # one at a time: no padding involved in the reference
            hidden = backbone(
                input_ids=torch.tensor([ids]), output_hidden_states=True
            ).hidden_states
            for j, e in enumerate(EXITS):
                head = torch.nn.functional.linear(
                    hidden[e][:, -1],
                    tensors[f"projection_heads.{j}.weight"],
                    tensors[f"projection_heads.{j}.bias"],
                )
                out[e].append(torch.nn.functional.normalize(head, dim=-1)[0].numpy())
    return {e: np.stack(v) for e, v in out.items()}


def test_released_folder_loads_with_no_missing_or_unexpected_keys(released):
    assert is_released_folder(released)
    model, info = MoseModel.from_pretrained(released, output_loading_info=True)
    assert info["missing_keys"] == set() and info["unexpected_keys"] == set()
    assert model.exits == EXITS and model.config.num_hidden_layers == LAYERS
    # the released layout normalises the last layer only (Starcoder2Model's final norm)
    assert list(model.exit_norms) == ["4"]
    tok = MoseTokenizer.load(released)
    base = tok.sep_id
    assert (tok.sep_id, tok.cls_id, tok.mask_id) == (base, base + 1, base + 2)
    assert tok.pad_id == 0 and tok.pad_token == "<|endoftext|>"


def test_embeddings_match_transformers_starcoder2_with_the_released_heads(released):
    encoder = MoseEncoder.from_pretrained(released, device="cpu")
    codes = ["def add(a, b):\n    return a + b\n", "public int max(int a, int b) { return a; }"]
    ours = encoder.encode_code(codes, ["python", "java"])  # one batch: left padding exercised
    formatted = encoder.tokenizer.format_code(codes, ["python", "java"], encoder.max_length)
    assert (
        formatted[0][0] == encoder.tokenizer.sep_id and formatted[0][-1] == encoder.tokenizer.cls_id
    )
    assert (
        encoder.tokenizer.encode_plain([code_instruction("python")])[0]
        == formatted[0][1 : formatted[0].index(encoder.tokenizer.sep_id, 1)]
    )
    reference = _reference_embeddings(released, formatted)
    for e in EXITS:
        np.testing.assert_allclose(ours[e], reference[e], atol=2e-5)


def test_round_trip_through_our_writer_is_exact(released, tmp_path):
    model = MoseModel.from_pretrained(released)
    tokenizer = MoseTokenizer.load(released)
    save_released(model, tmp_path / "again", tokenizer)
    with (
        safe_open(str(released / "model.safetensors"), framework="pt") as a,
        safe_open(str(tmp_path / "again" / "model.safetensors"), framework="pt") as b,
    ):
        assert set(a.keys()) == set(b.keys())
        for key in a.keys():  # noqa: SIM118
            assert torch.equal(a.get_tensor(key), b.get_tensor(key)), key
    again, info = MoseModel.from_pretrained(tmp_path / "again", output_loading_info=True)
    assert info["missing_keys"] == set() and info["unexpected_keys"] == set()
    codes, langs = ["def f(x): return x", "int g() { return 1; }"], ["python", "java"]
    first = MoseEncoder(model, tokenizer).encode_code(codes, langs)
    second = MoseEncoder.from_pretrained(tmp_path / "again", device="cpu").encode_code(codes, langs)
    for e in EXITS:
        np.testing.assert_array_equal(first[e], second[e])
    raw = json.loads((tmp_path / "again" / "config.json").read_text())
    assert raw["model_type"] == "ModularStarEncoder" and raw["matryoshka_layers"] == EXITS
    assert raw["auto_map"]["AutoModel"] == "modularStarEncoder.ModularStarEncoder"


def test_our_every_exit_norm_model_round_trips_through_the_released_layout(tmp_path):
    """Ours keeps a LayerNorm per exit: written as extra tensors, read back exactly."""
    from model.config import make_config

    tokenizer = MoseTokenizer.train(CORPUS, 300)
    torch.manual_seed(1)
    model = MoseModel(
        make_config("tiny", vocab_size=len(tokenizer), max_length=64, pad_token_id=tokenizer.pad_id)
    ).eval()
    save_released(model, tmp_path / "out", tokenizer)
    loaded, info = MoseModel.from_pretrained(tmp_path / "out", output_loading_info=True)
    assert info["missing_keys"] == set() and info["unexpected_keys"] == set()
    ids = torch.randint(5, len(tokenizer), (3, 11))
    with torch.no_grad():
        a, b = model(ids).exit_embeddings, loaded(ids).exit_embeddings
    for e in model.exits:
        assert torch.equal(a[e], b[e])


def test_output_loading_info_on_our_own_checkpoint(tmp_path):
    from model.config import make_config

    model = MoseModel(make_config("tiny", vocab_size=300, max_length=64, pad_token_id=0))
    model.save_pretrained(tmp_path)
    loaded, info = MoseModel.from_pretrained(tmp_path, output_loading_info=True)
    assert isinstance(loaded, MoseModel)
    assert not info["missing_keys"] and not info["unexpected_keys"]


def test_a_mismatched_layout_is_a_value_error(released, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(released, broken)
    raw = json.loads((broken / "config.json").read_text())
    raw["matryoshka_layers"] = [1, 2, 4]  # three exits, two projection heads
    (broken / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="projection heads"):
        MoseModel.from_pretrained(broken)


#: config.json of modularStarEncoder/ModularStarEncoder as published (revision 26243d8).
PUBLISHED_CONFIG = {
    "architectures": ["ModularStarEncoder"],
    "attention_dropout": 0.1,
    "auto_map": {
        "AutoConfig": "config.ModularStarEncoderConfig",
        "AutoModel": "modularStarEncoder.ModularStarEncoder",
    },
    "bos_token_id": 0,
    "conditional_size": 4,
    "embedding_dropout": 0.1,
    "eos_token_id": 0,
    "hidden_act": "gelu_pytorch_tanh",
    "hidden_size": 1024,
    "initializer_range": 0.018042,
    "intermediate_size": 12288,
    "keys_to_ignore_at_inference": "past_key_values",
    "layer_matryoshka_loss": True,
    "layer_norm_eps": 1e-05,
    "matryoshka_layers": [4, 9, 18, 27, 36],
    "max_position_embeddings": 2048,
    "mlp_type": "default",
    "model_type": "ModularStarEncoder",
    "norm_epsilon": 1e-05,
    "norm_type": "layer_norm",
    "num_attention_heads": 16,
    "num_hidden_layers": 36,
    "num_key_value_heads": 4,
    "residual_dropout": 0.1,
    "rope_theta": 999999.4420358813,
    "sliding_window": None,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.39.3",
    "use_bias": True,
    "use_cache": False,
    "vocab_size": 49156,
}


def test_the_published_1b_config_translates_to_the_1b_preset():
    """The real config.json with the tensor shapes of a fine-tuned release (projection heads, no
    pretraining heads), computed on the meta device: nothing of 1B is allocated."""
    from model.config import make_config
    from model.modeling import meta_parameter_counts
    from model.released import key_to_released, released_to_config

    preset = make_config("1b", exit_layer_norm="last", pretraining_heads=False)
    with torch.device("meta"):
        shaped = MoseModel(preset)
    shapes = {key_to_released(k, preset): tuple(v.shape) for k, v in shaped.state_dict().items()}
    assert (
        "starEncoder2.layers.35.mlp.c_fc.weight" in shapes and "projection_heads.4.weight" in shapes
    )
    config = released_to_config(PUBLISHED_CONFIG, shapes)
    assert config.exits == [4, 9, 18, 27, 36] and config.vocab_size == 49156
    assert (config.sep_token_id, config.cls_token_id, config.mask_token_id) == (49152, 49153, 49154)
    assert config.pad_token_id == 0 and config.max_length == 2048
    assert config.rope_parameters["rope_theta"] == pytest.approx(999999.4420358813)
    assert not config.pretraining_heads and config.exit_layer_norm == "last"
    assert meta_parameter_counts(config) == meta_parameter_counts(make_config("1b"))
