"""One exit exported: transformers' AutoModel and sentence-transformers give our exit's vectors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from model.config import make_config
from model.encode import MoseEncoder
from model.export import main as export_main
from model.modeling import MoseModel
from model.tokenizer import MoseTokenizer

TEXTS = [
    "def add(a, b):\n    return a + b\n",
    "Add two numbers.",
    "function f(x) { return x; }",
    "Represent this python code snippet for retrieval:",
] * 20
CODES = [
    "def f(x):\n    return x * 2\n",
    "int g() { return 1; }\n" * 12,
    "x",
    "y = 1\n" * 200,
]  # the last is truncated


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    tokenizer = MoseTokenizer.train(TEXTS, 300)
    torch.manual_seed(3)
    model = MoseModel(
        make_config(
            "tiny",
            vocab_size=len(tokenizer),
            max_length=128,
            pad_token_id=tokenizer.pad_id,
            projection_dim=48,
        )
    ).eval()
    model.save_pretrained(root)
    tokenizer.save(root)
    return root


def test_transformers_folder_is_our_exit_without_remote_code(checkpoint, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    out = tmp_path / "exit4"
    assert (
        export_main([f"--model={checkpoint}", "--exit=4", f"--output={out}", "--transformers_only"])
        == 0
    )
    model = AutoModel.from_pretrained(out)  # a plain Starcoder2Model: no trust_remote_code
    assert type(model).__name__ == "Starcoder2Model" and model.config.num_hidden_layers == 4
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.padding_side == "left"
    ours = MoseModel.from_pretrained(checkpoint).eval()
    batch = tokenizer(CODES, padding=True, return_tensors="pt")
    assert (
        batch["input_ids"][:, -1] == MoseTokenizer.load(checkpoint).cls_id
    ).all()  # <cls> appended, left padding
    with torch.no_grad():
        theirs = model(**batch).last_hidden_state
        mine = ours(batch["input_ids"], batch["attention_mask"], exits=[4]).exit_hidden_states[4]
    mask = batch["attention_mask"].bool()
    torch.testing.assert_close(theirs[mask], mine[mask], atol=2e-5, rtol=1e-4)


def test_sentence_transformers_folder_gives_our_vectors(checkpoint, tmp_path):
    import sentence_transformers as st

    out = tmp_path / "st4"
    assert export_main([f"--model={checkpoint}", "--exit=4", f"--output={out}"]) == 0
    model = st.SentenceTransformer(str(out), device="cpu")
    encoder = MoseEncoder.from_pretrained(checkpoint, device="cpu")
    ours_code = encoder.encode_code(CODES, ["python"] * len(CODES), exits=[4])[4]
    theirs_code = model.encode(
        CODES, prompt_name="code_python", convert_to_numpy=True, batch_size=2
    )
    queries = ["add two numbers", "return the input doubled"]
    ours_text = encoder.encode_text(queries, exits=[4])[4]
    theirs_text = model.encode(queries, prompt_name="query", convert_to_numpy=True)
    assert theirs_code.shape == (len(CODES), 48)
    np.testing.assert_allclose(theirs_code, ours_code, atol=1e-5)
    np.testing.assert_allclose(theirs_text, ours_text, atol=1e-5)
    np.testing.assert_allclose((theirs_code * ours_code).sum(1), 1.0, atol=1e-5)
    prompts = json.loads((out / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts["code_cpp"] == "<sep>Represent this c++ code snippet for retrieval:<sep>"


def test_exit_not_in_the_model_is_reported(checkpoint, tmp_path):
    assert export_main([f"--model={checkpoint}", "--exit=3", f"--output={tmp_path / 'x'}"]) == 2


def test_the_long_input_is_truncated_the_same_way(checkpoint):
    tokenizer = MoseTokenizer.load(checkpoint)
    [formatted] = tokenizer.format_code([CODES[-1]], ["python"], 128)
    assert (
        len(formatted) == 128 and formatted[-1] == tokenizer.cls_id
    )  # cut to max_length, <cls> kept
