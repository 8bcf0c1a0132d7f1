"""Baselines: an exported exit read back through sentence-transformers with its prompts, last-token
pooling under left padding, and remote code only when asked for."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eval.baselines import BaselineOptions, HFEncoder, last_positions, load_baseline
from model.config import make_config
from model.encode import MoseEncoder
from model.export import export_exit
from model.modeling import MoseModel
from model.tokenizer import MoseTokenizer

TEXTS = ["def add(a, b):\n    return a + b\n", "Add two numbers.", "int f() { return 1; }"] * 20


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    tokenizer = MoseTokenizer.train(TEXTS, 300)
    torch.manual_seed(5)
    MoseModel(
        make_config(
            "tiny", vocab_size=len(tokenizer), max_length=128, pad_token_id=tokenizer.pad_id
        )
    ).save_pretrained(root)
    tokenizer.save(root)
    return root


def test_last_positions_handle_both_paddings():
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 0], [1, 1, 1, 1]])
    assert last_positions(mask).tolist() == [3, 2, 3]


def test_an_exported_exit_as_a_baseline_uses_its_prompts(checkpoint, tmp_path):
    export_exit(checkpoint, 4, tmp_path / "st")
    baseline = load_baseline(tmp_path / "st")
    ours = MoseEncoder.from_pretrained(checkpoint, device="cpu")
    codes, langs = ["def f(x): return x", "int g() { return 2; }"], ["python", "java"]
    np.testing.assert_allclose(
        baseline.encode_code(codes, langs)[4],
        ours.encode_code(codes, langs, exits=[4])[4],
        atol=1e-5,
    )
    np.testing.assert_allclose(
        baseline.encode_text(["add"])[4], ours.encode_text(["add"], exits=[4])[4], atol=1e-5
    )


def test_transformers_folder_with_last_token_pooling_and_prefixes(checkpoint, tmp_path):
    from transformers import AutoTokenizer

    export_exit(checkpoint, 4, tmp_path / "hf", transformers_only=True)
    options = BaselineOptions(
        pooling="last", query_prefix="<sep>q<sep>", code_prefix="<sep>{language}<sep>"
    )
    encoder = HFEncoder.from_path(tmp_path / "hf", options)
    assert encoder.exits == [4]
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert tokenizer.padding_side == "left"
    # left padding does not change a row: batched equals one at a time
    codes = ["def f(x): return x", "int g() { return 2; } " * 5]
    batched = encoder.encode_code(codes, ["python", "java"], batch_size=2)[4]
    alone = np.concatenate(
        [
            encoder.encode_code([c], [lang])[4]
            for c, lang in zip(codes, ["python", "java"], strict=True)
        ]
    )
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    assert encoder.code_prefix.format(language="java") == "<sep>java<sep>"


def test_remote_code_is_run_only_when_asked(checkpoint, tmp_path):
    export_exit(checkpoint, 4, tmp_path / "remote", transformers_only=True)
    config = json.loads((tmp_path / "remote" / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_x.XModel"}
    (tmp_path / "remote" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="trust_remote_code"):
        load_baseline(tmp_path / "remote")
