"""The ``hf`` backend for real: a tiny randomly initialised Llama and a BPE tokenizer trained
offline, saved to a temporary directory and loaded by path like any local model (its output
is noise, so every row must come out rejected by reply handling, with a reason, none lost),
and SmolLM2-135M-Instruct, a real instruction model (``local_model``).

A CUDA out-of-memory error cannot happen on this CPU; the test that needs one wraps the real
model's ``generate`` to raise torch's own ``OutOfMemoryError`` for batches above a size."""

from __future__ import annotations

import json

import pytest
import torch
import transformers  # noqa: F401 - a dependency of the project: an import error must fail, not skip

from pipeline.translate import (  # noqa: E402
    TranslateConfig,
    TranslationFailure,
    TranslationRequest,
    render_messages,
    render_plain,
    requests_for,
)
from pipeline.translate.hf import HFTranslator  # noqa: E402
from schemas import SourcePair  # noqa: E402
from tests.pipeline.test_translate_transform import run_translate  # noqa: E402


def _pair(i: int, body_lines: int = 1) -> SourcePair:
    body = "".join(f"    x = x + {k}\n" for k in range(body_lines))
    code = f'def bump_{i}(x: int) -> int:\n    """Add small numbers."""\n{body}    return x\n'
    return SourcePair.create(
        repository_name="o/r",
        func_path_in_repository="m.py",
        func_name=f"bump_{i}",
        language="python",
        code=code,
        docstring="Add small numbers.",
    )


def save_tiny_model(path, chat_template: str | None = None, context: int = 2048) -> str:
    """Train a byte-level BPE on prompt-like text and save it with a random 2-layer Llama."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = [
        m["content"]
        for i in range(8)
        for t in ("go", "rust", "cpp")
        for m in render_messages(_pair(i, 3), t)
    ]
    corpus += [render_plain(render_messages(_pair(0), "go"))]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=["<unk>", "<pad>", "<eos>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>"
    )
    if chat_template:
        fast.chat_template = chat_template
    fast.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=context,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        bos_token_id=None,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny-llama"), context=1024)


def test_tiny_model_output_is_rejected_with_reasons(tiny_model, caplog):
    caplog.set_level("INFO")
    config = TranslateConfig(
        translator="hf", model=tiny_model, max_tokens=12, hf_batch_size=3, hf_device="cpu"
    )
    t = HFTranslator(config)
    requests = [
        TranslationRequest(_pair(i), target, 0) for i in range(3) for target in ("go", "rust")
    ]
    requests.append(
        TranslationRequest(_pair(99, body_lines=200), "go", 0)
    )  # does not fit the context
    results = t.translate(requests)
    assert len(results) == len(requests)
    assert all(isinstance(r, TranslationFailure) for r in results)
    assert {r.reason for r in results[:-1]} <= {"truncated", "empty_reply"}
    assert results[-1].reason == "prompt_too_long" and "context of 1024" in results[-1].detail
    assert all(r.raw_reply is not None and r.translator == f"hf:{tiny_model}" for r in results[:-1])
    assert all(r.prompt_version == "v1" for r in results)
    stats = t.stats()
    assert stats["requests"] == 6 and stats["tokens_in"] > 6 * 100 and stats["tokens_out"] <= 6 * 12
    assert "no chat template" in caplog.text


def test_chat_template_and_sampling(tmp_path):
    template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant:"
    path = save_tiny_model(tmp_path / "chat", chat_template=template)
    config = TranslateConfig(
        translator="hf", model=path, max_tokens=4, temperature=0.8, hf_device="cpu"
    )
    t = HFTranslator(config)
    assert t._prompt(TranslationRequest(_pair(1), "go")).startswith("system: ")
    reqs = [TranslationRequest(_pair(1), "go", a) for a in range(2)]
    first, again = t.translate(reqs), t.translate(reqs)
    assert [r.raw_reply for r in first] == [r.raw_reply for r in again]  # seeded sampling
    assert json.loads(first[0].sampling)["temperature"] == 0.8


def test_translate_stage_on_the_tiny_model_accounts_for_every_row(tiny_model, tmp_path):
    config = TranslateConfig(
        translator="hf",
        model=tiny_model,
        max_tokens=8,
        hf_device="cpu",
        target_languages=("go", "rust", "python"),
        num_samples=2,
        temperature=0.7,
        cache_dir=str(tmp_path / "cache"),
    )
    pairs = [_pair(i) for i in range(3)]
    out = run_translate(pairs, config, tmp_path / "run")
    expected = sum(len(requests_for(p, config)) for p in pairs)
    assert expected == 3 * 2 * 2
    assert len(out["candidates"]) + len(out["rejected"]) == expected
    assert out["candidates"] == []  # noise never passes reply handling
    assert {r["reason"] for r in out["rejected"]} <= {"truncated", "empty_reply"}
    assert all(r["raw_reply"] is not None and r["stage"] == "translate" for r in out["rejected"])
    counters = out["metrics"]["counters"]
    assert counters["translate/hf_requests"] == expected and counters["translate/hf_tokens_out"] > 0
    again = run_translate(pairs, config, tmp_path / "rerun")["metrics"]["counters"]
    assert again.get("translate/cache_misses", 0) == 0 and again["translate/cache_hits"] == expected


def _fail_batches_above(translator: HFTranslator, size: int, error: BaseException) -> list[int]:
    """Make the real model's ``generate`` raise ``error`` for batches above ``size``; returns
    the batch sizes it was called with."""
    real = translator._model.generate
    calls: list[int] = []

    def generate(*args, **kwargs):
        rows = kwargs["input_ids"].shape[0]
        calls.append(rows)
        if rows > size:
            raise error
        return real(*args, **kwargs)

    translator._model.generate = generate
    return calls


def test_out_of_memory_is_retried_with_smaller_batches(tiny_model):
    config = TranslateConfig(
        translator="hf", model=tiny_model, max_tokens=6, hf_batch_size=8, hf_device="cpu"
    )
    t = HFTranslator(config)
    oom = torch.OutOfMemoryError(
        "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.65 GiB total capacity)"
    )
    calls = _fail_batches_above(t, 2, oom)
    requests = [TranslationRequest(_pair(i), "go", 0) for i in range(10)]
    results = t.translate(requests)
    assert len(results) == 10 and [r.request.key for r in results] == [r.key for r in requests]
    assert all(r.reason in {"truncated", "empty_reply"} for r in results)  # answered, not failed
    assert t.batch_size == 2 and t.stats()["device_retries"] >= 2
    assert (
        calls[0] == 8 and max(calls[calls.index(2) :]) == 2
    )  # the smaller size is kept afterwards


def test_a_device_error_that_persists_is_transient_and_other_errors_are_not(tiny_model):
    config = TranslateConfig(
        translator="hf", model=tiny_model, max_tokens=6, hf_batch_size=4, hf_device="cpu"
    )
    t = HFTranslator(config)
    _fail_batches_above(t, 0, RuntimeError("CUDA error: an illegal memory access was encountered"))
    results = t.translate([TranslationRequest(_pair(i), "go", 0) for i in range(3)])
    assert [r.reason for r in results] == ["inference_error"] * 3 and all(
        r.transient for r in results
    )
    assert "illegal memory access" in results[0].detail
    other = HFTranslator(config)
    _fail_batches_above(other, 0, ValueError("input contains an unsupported token"))
    (failed,) = other.translate([TranslationRequest(_pair(1), "go", 0)])
    assert failed.reason == "translator_error" and not failed.transient


@pytest.mark.slow
def test_smollm2_through_the_translate_stage(tmp_path):
    """A real instruction model: every reply is extracted, truncated or rejected with a reason."""
    from tests.pipeline.local_model import smollm2_path

    torch.set_num_threads(1)
    config = TranslateConfig(
        translator="hf",
        model=smollm2_path(),
        max_tokens=48,
        hf_device="cpu",
        hf_batch_size=4,
        target_languages=("go", "javascript"),
        num_samples=2,
        temperature=0.7,
        cache_dir=str(tmp_path / "cache"),
    )
    pairs = [_pair(i) for i in range(2)]
    out = run_translate(pairs, config, tmp_path / "run")
    expected = sum(len(requests_for(p, config)) for p in pairs)
    assert len(out["candidates"]) + len(out["rejected"]) == expected == 8
    assert all(
        r["reason"] in {"truncated", "empty_reply"} and r["raw_reply"] for r in out["rejected"]
    )
    assert all(
        c["code"].strip() and c["translator"] == f"hf:{config.model}" for c in out["candidates"]
    )
    counters = out["metrics"]["counters"]
    assert counters["translate/hf_requests"] == expected and counters["translate/hf_tokens_out"] > 0
