"""The ``openai`` backend: any OpenAI-compatible chat-completions endpoint.

A shared ``vllm serve``, SGLang, TGI, llama.cpp's server or a hosted API. Plain stdlib HTTP
(``urllib``), so nothing beyond the standard library is needed on workers. Per worker:
at most ``openai_concurrency`` requests in flight, a timeout per request, and retries with
exponential backoff (``openai_backoff_s * 2**i``, plus up to 10% jitter) on connection
errors, timeouts, HTTP 429 and 5xx. Other HTTP errors (400: prompt too long, 404: unknown
model) are not retried: they are the request's fault and are rejected as
``translator_error``. A request still failing after all retries is rejected as
``request_failed``, which the cache does not store, so a re-run retries it.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from typing import Any

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

RETRYABLE_HTTP = frozenset({408, 409, 429, 500, 502, 503, 504})


class _Permanent(Exception):
    """An HTTP error that retrying will not fix."""


class OpenAITranslator(Translator):
    """Translate through ``POST {base_url}/chat/completions`` (see the module docstring)."""

    prompt_version = PROMPT_VERSION

    def __init__(self, config: TranslateConfig, sleep=time.sleep) -> None:
        if not config.openai_base_url or not config.model:
            raise ValueError("the openai translator needs openai_base_url and model")
        self._config = config
        self._url = config.openai_base_url.rstrip("/") + "/chat/completions"
        self._api_key = os.environ.get(config.openai_api_key_env, "")
        self._sleep = sleep
        self.name = f"openai:{config.model}"
        self._lock = threading.Lock()
        self._stats = {"requests": 0, "tokens_in": 0, "tokens_out": 0, "latency_ms": 0.0, "retries": 0, "http_errors": 0}
        self._pool = concurrent.futures.ThreadPoolExecutor(config.openai_concurrency, thread_name_prefix="openai")

    def sampling_json(self) -> str:
        return self._config.sampling_json()

    def translate(self, requests: list[TranslationRequest]) -> list[Translation | TranslationFailure]:
        return list(self._pool.map(self._one, requests))

    def stats(self) -> dict[str, float]:
        with self._lock:
            return dict(self._stats)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _count(self, **deltas: float) -> None:
        with self._lock:
            for k, v in deltas.items():
                self._stats[k] += v

    def _body(self, request: TranslationRequest) -> bytes:
        c = self._config
        payload: dict[str, Any] = {
            "model": c.model,
            "messages": render_messages(request.pair, request.target_language),
            "temperature": c.temperature,
            "top_p": c.top_p,
            "max_tokens": c.max_tokens,
            "seed": request.sample_seed(c.seed),
            "n": 1,
        }
        return json.dumps(payload).encode("utf-8")

    def _post(self, body: bytes) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        req = urllib.request.Request(self._url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self._config.openai_timeout_s) as resp:  # noqa: S310 (user's endpoint)
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            self._count(http_errors=1)
            text = exc.read().decode("utf-8", "replace")[:300]
            if exc.code in RETRYABLE_HTTP:
                raise ConnectionError(f"HTTP {exc.code}: {text}") from exc
            raise _Permanent(f"HTTP {exc.code}: {text}") from exc

    def _one(self, request: TranslationRequest) -> Translation | TranslationFailure:
        c = self._config
        sampling = self.sampling_json()
        body = self._body(request)
        started = time.monotonic()
        last_error = ""
        for attempt in range(c.openai_retries + 1):
            if attempt:
                self._count(retries=1)
                delay = c.openai_backoff_s * 2 ** (attempt - 1)
                self._sleep(delay * (1 + 0.1 * random.random()))
            try:
                data = self._post(body)
            except _Permanent as exc:
                return TranslationFailure(request, Reason.TRANSLATOR_ERROR, str(exc), None, self.name, PROMPT_VERSION, sampling)
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
                last_error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
                continue
            except json.JSONDecodeError as exc:
                last_error = f"invalid JSON from the endpoint: {exc}"
                continue
            latency = time.monotonic() - started
            try:
                choice = data["choices"][0]
                reply = choice["message"].get("content") or ""
                finish = choice.get("finish_reason")
            except (KeyError, IndexError, TypeError, AttributeError):
                return TranslationFailure(
                    request, Reason.TRANSLATOR_ERROR, f"unexpected response: {json.dumps(data)[:300]}",
                    None, self.name, PROMPT_VERSION, sampling,
                )
            usage = data.get("usage") or {}
            self._count(
                requests=1,
                tokens_in=int(usage.get("prompt_tokens") or 0),
                tokens_out=int(usage.get("completion_tokens") or 0),
                latency_ms=latency * 1000,
            )
            return build_result(
                request, reply, truncated=finish == "length", translator=self.name,
                prompt_version=PROMPT_VERSION, sampling=sampling, latency_s=latency,
            )
        return TranslationFailure(
            request, Reason.REQUEST_FAILED,
            f"{self._url} failed {c.openai_retries + 1} times; last error: {last_error}"[:500],
            None, self.name, PROMPT_VERSION, sampling,
        )
