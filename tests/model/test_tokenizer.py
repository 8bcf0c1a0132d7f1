"""Tokenizer: the released special ids on a StarCoder2-style vocabulary, formats, files."""

from __future__ import annotations

import json

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from model.tokenizer import MoseTokenizer, code_instruction

CORPUS = ["def add(a, b):\n    return a + b\n", "Add two numbers.", "int f() { return 1; }"] * 20


def _starcoder2_style(tmp_path):
    """A BPE whose id 0 is <|endoftext|> and which has no <sep>/<cls>/<mask>, like StarCoder2's."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<|endoftext|>"],
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok.save(str(tmp_path / "tokenizer.json"))
    return tok.get_vocab_size()


def test_starcoder2_gets_the_released_specials_after_its_vocabulary_and_pads_with_id_0(tmp_path):
    base = _starcoder2_style(tmp_path)
    tok = MoseTokenizer.from_starcoder2(tmp_path)
    # released: <sep> 49152, <cls> 49153, <mask> 49154 right after StarCoder2's 49,152 tokens
    assert (tok.sep_id, tok.cls_id, tok.mask_id) == (base, base + 1, base + 2)
    assert tok.pad_id == 0 and tok.pad_token == "<|endoftext|>" and len(tok) == base + 3
    ids, mask = tok.pad_left([[5, 6, 7], [8]])
    assert ids[1].tolist() == [0, 0, 8] and mask[1].tolist() == [0, 0, 1]
    tok.save(tmp_path / "saved")
    again = MoseTokenizer.load(tmp_path / "saved")
    assert (again.pad_id, again.sep_id, again.cls_id, again.mask_id) == (
        0,
        base,
        base + 1,
        base + 2,
    )
    added = json.loads((tmp_path / "saved" / "added_tokens.json").read_text())
    assert added == {"<sep>": base, "<cls>": base + 1, "<mask>": base + 2}
    config = json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())
    assert config["padding_side"] == "left" and config["pad_token"] == "<|endoftext|>"
    assert config["model_input_names"] == ["input_ids", "attention_mask"]


def test_a_trained_tokenizer_keeps_pad_first():
    tok = MoseTokenizer.train(CORPUS, 300)
    assert (tok.pad_id, tok.sep_id, tok.cls_id, tok.mask_id) == (0, 1, 2, 3)


def test_formats_follow_the_released_card():
    tok = MoseTokenizer.train(CORPUS, 300)
    assert code_instruction("cpp") == "Represent this c++ code snippet for retrieval:"
    assert code_instruction("Python") == "Represent this python code snippet for retrieval:"
    [seq] = tok.format_code(["def f(): pass"], ["python"], 512)
    instruction = tok.encode_plain([code_instruction("python")])[0]
    body = tok.encode_plain(["def f(): pass"])[0]
    assert seq == [tok.sep_id, *instruction, tok.sep_id, *body, tok.cls_id]
    [short] = tok.format_text(["Add two numbers."], len(instruction) + 5)
    assert (
        len(short) == len(instruction) + 5 and short[-1] == tok.cls_id
    )  # the text is cut, not the instruction
