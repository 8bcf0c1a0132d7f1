"""The encoder's user-visible behaviour: bidirectional, right exits, pooling, round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.config import make_config
from model.encode import MoseEncoder
from model.modeling import MoseModel, meta_parameter_counts, parameters_up_to
from model.tokenizer import MoseTokenizer


def _tiny(**overrides) -> MoseModel:
    torch.manual_seed(0)
    config = make_config("tiny", vocab_size=300, max_length=64, pad_token_id=0, **overrides)
    return MoseModel(config).eval()


def test_attention_is_bidirectional():
    model = _tiny()
    ids = torch.randint(5, 300, (1, 12))
    changed = ids.clone()
    changed[0, -2] = (ids[0, -2] + 1) % 300
    with torch.no_grad():
        a = model(ids).exit_hidden_states
        b = model(changed).exit_hidden_states
    for e in model.exits:
        # position 0 sees a token that comes after it: impossible under a causal mask
        assert not torch.allclose(a[e][0, 0], b[e][0, 0])


def test_exits_return_their_layers_and_stop_early():
    model = _tiny()
    ids = torch.randint(5, 300, (2, 9))
    calls: list[int] = []
    hooks = [
        layer.register_forward_hook(lambda _m, _i, _o, k=k: calls.append(k))
        for k, layer in enumerate(model.layers, start=1)
    ]
    with torch.no_grad():
        only_two = model(ids, exits=[2])
    assert calls == [1, 2] and set(only_two.exit_hidden_states) == {2}
    for hook in hooks:
        hook.remove()
    with torch.no_grad():
        full = model(ids)
        # recompute layer by layer by hand
        hidden = model.embed_tokens(ids)
        mask = torch.ones_like(ids)
        from transformers.masking_utils import create_bidirectional_mask

        attn = create_bidirectional_mask(
            config=model.config, inputs_embeds=hidden, attention_mask=mask
        )
        pos = torch.arange(ids.shape[1]).unsqueeze(0).expand_as(ids)
        rope = model.rotary_emb(hidden, position_ids=pos)
        for depth, layer in enumerate(model.layers, start=1):
            hidden = layer(hidden, attention_mask=attn, position_ids=pos, position_embeddings=rope)
            if depth in model.exits:
                expected = model.exit_norms[str(depth)](hidden)
                torch.testing.assert_close(full.exit_hidden_states[depth], expected)
    assert set(full.exit_hidden_states) == {2, 4, 6} == set(full.exit_embeddings)
    torch.testing.assert_close(full.exit_hidden_states[2], only_two.exit_hidden_states[2])
    for emb in full.exit_embeddings.values():
        torch.testing.assert_close(emb.norm(dim=-1), torch.ones(2))


def test_left_padding_and_cls_pooling_match_unpadded():
    model = _tiny()
    short = torch.randint(5, 300, (1, 7))
    long = torch.randint(5, 300, (1, 15))
    batch = torch.zeros((2, 15), dtype=torch.long)
    mask = torch.zeros((2, 15), dtype=torch.long)
    batch[0, 8:] = short[0]
    mask[0, 8:] = 1
    batch[1] = long[0]
    mask[1] = 1
    with torch.no_grad():
        padded = model(batch, mask).exit_embeddings
        alone = model(short).exit_embeddings
        alone_long = model(long).exit_embeddings
    for e in model.exits:
        torch.testing.assert_close(padded[e][0], alone[e][0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(padded[e][1], alone_long[e][0], atol=1e-5, rtol=1e-5)


def test_unknown_exit_is_a_value_error():
    with pytest.raises(ValueError):
        _tiny()(torch.ones((1, 3), dtype=torch.long), exits=[3])
    with pytest.raises(ValueError):
        make_config("tiny", exits=[2, 5])  # must end at the last layer


def test_save_and_load_give_identical_embeddings(tmp_path):
    texts = [
        "def add(a, b):\n    return a + b\n",
        "Add two numbers.",
        "function f(x) { return x; }",
    ] * 20
    tokenizer = MoseTokenizer.train(texts, 300)
    model = _tiny()
    model.save_pretrained(tmp_path)
    tokenizer.save(tmp_path)
    before = MoseEncoder(model, tokenizer)
    after = MoseEncoder.from_pretrained(tmp_path, device="cpu")
    assert after.exits == [2, 4, 6]
    codes, langs = ["def f(x): return x", "int g() { return 1; }"], ["python", "java"]
    a, b = before.encode_code(codes, langs), after.encode_code(codes, langs)
    t1, t2 = (
        before.encode_text(["add numbers"], exits=[4]),
        after.encode_text(["add numbers"], exits=[4]),
    )
    assert set(t2) == {4} and t2[4].dtype == np.float32
    np.testing.assert_array_equal(t1[4], t2[4])
    for e in after.exits:
        np.testing.assert_array_equal(a[e], b[e])
        np.testing.assert_allclose(np.linalg.norm(b[e], axis=1), 1.0, rtol=1e-5)
    assert after.parameters_up_to(2) < after.parameters_up_to(4) < after.parameters_up_to(6)


def test_1b_parameter_counts_per_exit_on_meta_device():
    counts = meta_parameter_counts(make_config("1b"))
    millions = {e: round(n / 1e6) for e, n in counts.items()}
    assert millions == {4: 162, 9: 301, 18: 551, 27: 801, 36: 1051}


def test_single_exit_ablation_config():
    model = _tiny(num_layers=4, exits=[4])
    assert model.exits == [4] and len(model.layers) == 4
    assert parameters_up_to(model, 4) == parameters_up_to(_tiny(), 4)


def test_pretraining_heads_are_separate_as_released():
    model = _tiny()
    heads = model.head
    names = {n for n, _ in heads.named_parameters()}
    assert {
        "predictions.transform.dense.weight",
        "predictions.decoder.weight",
        "seq_relationship.weight",
        "conditional_embeddings.weight",
    } <= names
    hidden = torch.randn(5, model.config.hidden_size)
    assert heads.mlm_logits(hidden, 1).shape == (5, model.config.vocab_size)
    # the ICC logit is the difference of the two class logits, so its sigmoid is the softmax's
    logits = heads.seq_relationship(heads.condition(torch.tanh(heads.pooler(hidden)), 2))
    expected = torch.softmax(logits, dim=-1)[:, 1]
    torch.testing.assert_close(torch.sigmoid(heads.icc_logits(hidden, 2)), expected)
    # different exits condition the heads differently
    assert not torch.allclose(heads.mlm_logits(hidden, 0), heads.mlm_logits(hidden, 2))


def test_released_style_lower_exits_are_the_raw_residual_stream():
    model = _tiny(exit_layer_norm="last")
    assert list(model.exit_norms) == ["6"]
    ids = torch.randint(5, 300, (1, 7))
    captured = {}
    model.layers[1].register_forward_hook(lambda _m, _i, out: captured.setdefault(2, out))
    with torch.no_grad():
        out = model(ids)
    torch.testing.assert_close(out.exit_hidden_states[2], captured[2])
