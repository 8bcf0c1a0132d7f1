"""The ``vllm`` backend: Beam ``RunInference`` with ``VLLMChatModelHandler`` on GPU workers.

Beam's handler starts one ``vllm serve`` (OpenAI-compatible) process per worker and sends it
each batch as concurrent chat-completion requests, so vLLM's continuous batching sees many
prompts at once. Server flags (``max-num-seqs``, ``gpu-memory-utilization``, ``max-model-len``,
``tensor-parallel-size`` ...) are passed through from ``TranslateConfig.vllm_server_kwargs``.
Requests travel as the key of a ``KeyedModelHandler`` so each reply finds its request again.

``RunInference(...).with_exception_handling()`` turns a failing batch (server crash, OOM,
timeout) into dead-letter elements, which become rejected rows with reason
``inference_error`` (transient: not cached, a re-run retries them) instead of failing the
pipeline. Replies go through the same extraction as every model backend (``extract.py``).

Importing Beam's vLLM module needs the ``openai`` client package (the ``gpu`` extra installs
it with vllm); nothing here imports it until a vLLM handler is actually built.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import apache_beam as beam

from pipeline.translate.base import (
    Reason,
    TranslateConfig,
    TranslationFailure,
    TranslationRequest,
    Translator,
)
from pipeline.translate.extract import build_result
from pipeline.translate.prompts import PROMPT_VERSION, render_messages
from schemas import Translation

NAMESPACE = "translate"


def vllm_name(config: TranslateConfig) -> str:
    return f"vllm:{config.model}"


def inference_args(config: TranslateConfig) -> dict[str, Any]:
    """Per-request OpenAI parameters for the vLLM server (same for every batch)."""
    return {"max_tokens": config.max_tokens, "temperature": config.temperature, "top_p": config.top_p, "seed": config.seed}


def make_vllm_handler(config: TranslateConfig):
    """Beam's ``VLLMChatModelHandler`` for ``config.model``, keyed by request."""
    from apache_beam.ml.inference.base import KeyedModelHandler
    from apache_beam.ml.inference.vllm_inference import VLLMChatModelHandler

    handler = VLLMChatModelHandler(
        model_name=config.model,
        chat_template_path=config.vllm_chat_template_path,
        vllm_server_kwargs={str(k): (None if v is None else str(v)) for k, v in config.vllm_server_kwargs.items()},
        max_batch_size=config.batch_size * 4,
    )
    return KeyedModelHandler(handler)


def openai_messages(messages: list[dict[str, str]]) -> list[Any]:
    """Chat messages in the form Beam's vLLM handler takes (``OpenAIChatMessage``)."""
    from apache_beam.ml.inference.vllm_inference import OpenAIChatMessage

    return [OpenAIChatMessage(role=m["role"], content=m["content"]) for m in messages]


def plain_messages(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Chat messages left as dicts (for stand-in handlers in tests)."""
    return messages


def reply_of(inference: Any) -> tuple[str, bool, int, int]:
    """(text, truncated, prompt tokens, completion tokens) of an OpenAI chat completion.

    Accepts the ``openai`` client's objects (attributes) and plain dicts (JSON).
    """

    def get(obj: Any, name: str, default: Any = None) -> Any:
        return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)

    choice = get(inference, "choices")[0]
    message = get(choice, "message")
    text = get(message, "content") or ""
    usage = get(inference, "usage") or {}
    return (
        text,
        get(choice, "finish_reason") == "length",
        int(get(usage, "prompt_tokens", 0) or 0),
        int(get(usage, "completion_tokens", 0) or 0),
    )


class _PostprocessFn(beam.DoFn):
    """(request, PredictionResult) -> (request, Translation | TranslationFailure)."""

    def __init__(self, config: TranslateConfig) -> None:
        self._config = config

    def setup(self) -> None:
        self._requests = beam.metrics.Metrics.counter(NAMESPACE, "vllm_requests")
        self._tokens_in = beam.metrics.Metrics.counter(NAMESPACE, "vllm_tokens_in")
        self._tokens_out = beam.metrics.Metrics.counter(NAMESPACE, "vllm_tokens_out")

    def process(self, element):
        request, prediction = element
        name, sampling = vllm_name(self._config), self._config.sampling_json()
        try:
            text, truncated, tokens_in, tokens_out = reply_of(prediction.inference)
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            yield request, TranslationFailure(
                request, Reason.TRANSLATOR_ERROR, f"unexpected vLLM response: {exc}", None, name, PROMPT_VERSION, sampling
            )
            return
        self._requests.inc()
        self._tokens_in.inc(tokens_in)
        self._tokens_out.inc(tokens_out)
        yield request, build_result(
            request, text, truncated=truncated, translator=name, prompt_version=PROMPT_VERSION,
            sampling=sampling, latency_s=0.0,
        )


def _dead_letters(config: TranslateConfig):
    """Failed batches from RunInference's dead-letter output -> one failure per request."""

    def expand(element):
        batch, exc = element
        detail = f"RunInference failed: {type(exc).__name__}: {exc}"[:500]
        for item in batch:
            request = item[0]
            yield request, TranslationFailure(
                request, Reason.INFERENCE_ERROR, detail, None, vllm_name(config), PROMPT_VERSION, config.sampling_json()
            )

    return expand


class VLLMTranslate(beam.PTransform):
    """``TranslationRequest`` -> ``(request, Translation | TranslationFailure)`` through vLLM.

    Args:
        config: the stage config (model, sampling, server kwargs).
        handler: a keyed ``ModelHandler``; default ``make_vllm_handler(config)``. Tests pass
            a stand-in here.
        message_factory: turns chat dicts into what the handler takes; default
            ``openai_messages`` (Beam's ``OpenAIChatMessage``).
    """

    def __init__(
        self,
        config: TranslateConfig,
        handler: Any = None,
        message_factory: Callable[[list[dict[str, str]]], Any] | None = None,
    ) -> None:
        super().__init__()
        self._config = config
        self._handler = handler
        self._message_factory = message_factory or openai_messages

    def expand(self, requests):
        from apache_beam.ml.inference.base import RunInference

        handler = self._handler if self._handler is not None else make_vllm_handler(self._config)
        factory = self._message_factory
        keyed = requests | "ToMessages" >> beam.Map(
            lambda r: (r, factory(render_messages(r.pair, r.target_language)))
        )
        main, other = keyed | "RunInference" >> RunInference(
            handler, inference_args=inference_args(self._config)
        ).with_exception_handling()
        ok = main | "Postprocess" >> beam.ParDo(_PostprocessFn(self._config))
        failed = other.failed_inferences | "DeadLetters" >> beam.FlatMap(_dead_letters(self._config))
        return (ok, failed) | "MergeResults" >> beam.Flatten()


class VLLMTranslator(Translator):
    """The vLLM backend outside Beam: Beam's handler driven directly (one server per process).

    ``Translate`` uses ``VLLMTranslate`` (RunInference) instead; this is for notebooks and
    ``make_translator`` users who want the ``Translator`` interface.
    """

    prompt_version = PROMPT_VERSION

    def __init__(self, config: TranslateConfig, handler: Any = None, message_factory=None) -> None:
        self._config = config
        self._handler = handler if handler is not None else make_vllm_handler(config)
        self._factory = message_factory or openai_messages
        self._model = self._handler.load_model()
        self.name = vllm_name(config)
        self._stats = {"requests": 0, "tokens_in": 0, "tokens_out": 0, "latency_ms": 0.0}

    def sampling_json(self) -> str:
        return self._config.sampling_json()

    def stats(self) -> dict[str, float]:
        return dict(self._stats)

    def translate(self, requests: list[TranslationRequest]) -> list[Translation | TranslationFailure]:
        batch = [(r, self._factory(render_messages(r.pair, r.target_language))) for r in requests]
        started = time.monotonic()
        sampling = self.sampling_json()
        try:
            predictions = list(self._handler.run_inference(batch, self._model, inference_args(self._config)))
        except Exception as exc:  # the whole batch failed: transient, retried on re-run
            detail = f"vLLM inference failed: {type(exc).__name__}: {exc}"[:500]
            return [TranslationFailure(r, Reason.INFERENCE_ERROR, detail, None, self.name, PROMPT_VERSION, sampling) for r in requests]
        latency = time.monotonic() - started
        self._stats["latency_ms"] += latency * 1000
        out: list[Translation | TranslationFailure] = []
        for request, (_, prediction) in zip(requests, predictions, strict=True):
            text, truncated, tokens_in, tokens_out = reply_of(prediction.inference)
            self._stats["requests"] += 1
            self._stats["tokens_in"] += tokens_in
            self._stats["tokens_out"] += tokens_out
            result = build_result(
                request, text, truncated=truncated, translator=self.name, prompt_version=PROMPT_VERSION,
                sampling=sampling, latency_s=latency / max(1, len(requests)),
            )
            out.append(result)
        return out


__all__ = ["VLLMTranslate", "VLLMTranslator", "make_vllm_handler", "openai_messages", "plain_messages", "reply_of"]
