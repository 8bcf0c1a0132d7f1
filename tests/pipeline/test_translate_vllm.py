"""The vllm path up to the GPU boundary: RunInference with a stand-in model handler.

vLLM needs a GPU and cannot run here. ``_StandInChatHandler`` is a test double for Beam's
``VLLMChatModelHandler``: same input (chat messages) and output (``PredictionResult`` whose
inference is a chat-completion JSON), no server. It fails every batch that holds a request
for a chosen target, which exercises ``with_exception_handling``'s dead-letter path.
"""

from __future__ import annotations

import pytest
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult

from pipeline.translate import TranslateConfig, TranslationFailure, TranslationRequest, requests_for
from pipeline.translate.vllm import VLLMTranslator, plain_messages, reply_of
from schemas import SourcePair, Translation
from tests.pipeline.test_translate_transform import run_translate

GO = "func Scale(x int) int {\n\treturn x * 2\n}"


class _StandInServer:
    """What the stand-in handler "loads" (Beam keeps a weak reference to loaded models)."""


class _StandInChatHandler(ModelHandler):
    """Stand-in for VLLMChatModelHandler (a test double; no vLLM server)."""

    def __init__(self, fail_target: str | None = None) -> None:
        super().__init__()
        self.fail_target = fail_target

    def load_model(self):
        return _StandInServer()

    def run_inference(self, batch, model, inference_args=None):
        assert inference_args["max_tokens"] == 64 and "temperature" in inference_args
        results = []
        for messages in batch:
            user = messages[-1]["content"]
            if self.fail_target and f"into {self.fail_target}." in user:
                raise RuntimeError("CUDA out of memory (stand-in)")
            finish = "length" if "into Rust." in user else "stop"
            reply = {"choices": [{"message": {"role": "assistant", "content": f"```go\n{GO}\n```"},
                                  "finish_reason": finish}],
                     "usage": {"prompt_tokens": 100, "completion_tokens": 20}}
            results.append(PredictionResult(messages, reply))
        return results

    def batch_elements_kwargs(self):
        return {"max_batch_size": 1}


def _pairs() -> list[SourcePair]:
    return [SourcePair.create(repository_name="o/r", func_path_in_repository="m.py", func_name=f"scale_{i}",
                              language="python", code=f"def scale_{i}(x: int) -> int:\n    return x * {i}\n",
                              docstring="Scale.") for i in range(4)]


def _config(tmp_path, **kw) -> TranslateConfig:
    return TranslateConfig(translator="vllm", model="Qwen/Qwen2.5-Coder-7B-Instruct", max_tokens=64,
                           target_languages=("go", "rust", "java"), cache_dir=str(tmp_path / "cache"), **kw)


def test_runinference_results_and_dead_letters_become_rows(tmp_path):
    config = _config(tmp_path)
    pairs = _pairs()
    out = run_translate(pairs, config, tmp_path / "run", vllm_handler=KeyedModelHandler(_StandInChatHandler("Java")),
                        vllm_message_factory=plain_messages)
    expected = sum(len(requests_for(p, config)) for p in pairs)
    assert len(out["candidates"]) + len(out["rejected"]) == expected == 12
    assert {c["target_language"] for c in out["candidates"]} == {"go"}
    assert all(c["translator"] == "vllm:Qwen/Qwen2.5-Coder-7B-Instruct" and c["prompt_version"] == "v1"
               for c in out["candidates"])
    reasons = {(r["target_language"], r["reason"]) for r in out["rejected"]}
    assert reasons == {("rust", "truncated"), ("java", "inference_error")}
    failed = [r for r in out["rejected"] if r["reason"] == "inference_error"]
    assert all("CUDA out of memory" in r["detail"] for r in failed)
    counters = out["metrics"]["counters"]
    assert counters["translate/vllm_requests"] == 8 and counters["translate/vllm_tokens_in"] == 800
    assert counters["translate/cache_misses"] == 12

    # Re-run: good replies and truncations are cached; failed inferences are retried.
    again = run_translate(pairs, config, tmp_path / "rerun", vllm_handler=KeyedModelHandler(_StandInChatHandler()),
                          vllm_message_factory=plain_messages)
    c2 = again["metrics"]["counters"]
    assert c2["translate/cache_hits"] == 8 and c2["translate/cache_misses"] == 4
    assert {c["target_language"] for c in again["candidates"]} == {"go", "java"}


def test_translator_interface_drives_the_handler_directly(tmp_path):
    t = VLLMTranslator(_config(tmp_path), handler=KeyedModelHandler(_StandInChatHandler("Java")),
                       message_factory=plain_messages)
    pair = _pairs()[0]
    ok, cut = t.translate([TranslationRequest(pair, "go"), TranslationRequest(pair, "rust")])
    assert isinstance(ok, Translation) and ok.code == GO + "\n"
    assert isinstance(cut, TranslationFailure) and cut.reason == "truncated"
    (bad,) = t.translate([TranslationRequest(pair, "java")])
    assert bad.reason == "inference_error" and bad.transient
    assert t.stats()["requests"] == 2


def test_reply_of_reads_objects_and_dicts():
    class Obj:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    completion = Obj(choices=[Obj(message=Obj(content="x"), finish_reason="length")],
                     usage=Obj(prompt_tokens=3, completion_tokens=4))
    assert reply_of(completion) == ("x", True, 3, 4)
    assert reply_of({"choices": [{"message": {"content": None}, "finish_reason": "stop"}]}) == ("", False, 0, 0)


def test_real_handler_gets_the_server_kwargs():
    pytest.importorskip("openai")  # Beam's vLLM module imports the openai client
    from pipeline.translate.vllm import make_vllm_handler

    config = TranslateConfig(translator="vllm", model="Qwen/Qwen2.5-Coder-7B-Instruct",
                             vllm_server_kwargs={"max-num-seqs": "128", "gpu-memory-utilization": "0.9"})
    keyed = make_vllm_handler(config)
    inner = keyed._unkeyed
    assert inner._model_name == "Qwen/Qwen2.5-Coder-7B-Instruct"
    assert inner._vllm_server_kwargs == {"max-num-seqs": "128", "gpu-memory-utilization": "0.9"}
