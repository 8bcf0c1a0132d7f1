"""The ``openai`` backend: any OpenAI-compatible chat-completions endpoint, through the
official ``openai`` client.

A shared ``vllm serve``, ``transformers serve``, SGLang, TGI, llama.cpp's server or a hosted
API. One ``openai.OpenAI`` client per worker process and endpoint; the client does the HTTP
work: a timeout per attempt (``openai_timeout_s``), and ``openai_retries`` retries with its
own exponential backoff (0.5 s doubling to 8 s, with jitter) on connection errors, timeouts,
HTTP 408/409/429/5xx, honouring the server's ``Retry-After`` (up to two minutes).

What happens to each failure (the cache stores only what a re-run would repeat):

* 401, 403, 404, or a 400 naming the requested model ("model ... does not exist", "server is
  pinned to ..."): the configuration is wrong (key, endpoint, model name), every request would
  fail the same way. ``TranslatorConfigError`` stops the run with one line; nothing is
  cached, so the re-run after the fix generates everything fresh.
* other 4xx (400 prompt too long, 422 bad parameters): the request's own fault, the same on
  every re-run: rejected and cached (``prompt_too_long`` or ``translator_error``).
* still failing after the retries (connection refused or reset, timeouts, 429, 5xx, a body cut
  short as ``IncompleteRead``, a reply that is not JSON): ``request_failed``, not cached, so
  a re-run retries it.

Concurrency: at most ``openai_concurrency`` requests in flight per worker process, whatever
the number of Beam threads and DoFn instances in it (one shared semaphore per endpoint and
model). The whole job's load on the server is that times the number of worker processes.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import re
import threading
import time
from typing import Any

from pipeline.translate.base import (
    Reason,
    TranslateConfig,
    TranslationFailure,
    TranslationRequest,
    Translator,
    TranslatorConfigError,
)
from pipeline.translate.extract import build_result
from pipeline.translate.prompts import PROMPT_VERSION
from schemas import Translation

#: Phrases of context-length errors (vLLM, OpenAI, TGI, llama.cpp, transformers serve).
_CONTEXT_ERROR = re.compile(
    r"maximum context length|context length|context window|too many tokens|prompt is too long|"
    r"exceeds? (?:the )?(?:model'?s? )?(?:maximum|max)|max_model_len|input is too long",
    re.IGNORECASE,
)

_LIMITS_LOCK = threading.Lock()
_LIMITS: dict[tuple[str, str], threading.BoundedSemaphore] = {}


def _process_limit(base_url: str, model: str, concurrency: int) -> threading.BoundedSemaphore:
    """The per-process semaphore that caps requests in flight to one endpoint and model."""
    with _LIMITS_LOCK:
        key = (base_url, model)
        if key not in _LIMITS:
            _LIMITS[key] = threading.BoundedSemaphore(concurrency)
        return _LIMITS[key]


def api_key(config: TranslateConfig) -> str:
    """The key from ``$openai_api_key_env``; servers without auth accept any, so ``EMPTY``."""
    return os.environ.get(config.openai_api_key_env) or "EMPTY"


def make_client(config: TranslateConfig) -> Any:
    """The official client for ``config``'s endpoint, with its timeout and retries."""
    import openai

    return openai.OpenAI(
        base_url=config.openai_base_url,
        api_key=api_key(config),
        timeout=config.openai_timeout_s,
        max_retries=config.openai_retries,
    )


def _error_message(exc: Any) -> str:
    """The server's own error message of an ``openai.APIStatusError``, on one line.

    The client keeps the body's ``error`` member as ``exc.body``: an object with a ``message``
    (OpenAI, vLLM), a bare string (vLLM's 401 ``{"error": "Unauthorized"}``), or the whole body
    when there is no ``error`` (FastAPI's ``{"detail": ...}``).
    """
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        message = message or body.get("detail") or body.get("message")
    elif isinstance(body, str):
        message = body
    text = str(message or getattr(exc, "message", "") or exc)
    return " ".join(text.split())[:400]


def config_error(exc: Exception, config: TranslateConfig) -> TranslatorConfigError | None:
    """The configuration error ``exc`` reveals (bad key, endpoint or model), or None."""
    import openai

    status = getattr(exc, "status_code", None)
    message = _error_message(exc) if isinstance(exc, openai.APIStatusError) else str(exc)
    where = f"{config.openai_base_url} (model {config.model})"
    if isinstance(exc, openai.AuthenticationError):
        return TranslatorConfigError(
            f"{where} refused the API key from ${config.openai_api_key_env} (HTTP {status}: {message})"
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return TranslatorConfigError(f"{where} denied access (HTTP {status}: {message})")
    if isinstance(exc, openai.NotFoundError):
        return TranslatorConfigError(
            f"{where}: not found (HTTP 404: {message}); check --openai_base_url (it ends in /v1) and --model"
        )
    if isinstance(exc, openai.BadRequestError) and config.model and config.model in message:
        if re.search(r"model|pinned|does not exist|not found|unknown", message, re.IGNORECASE):
            return TranslatorConfigError(
                f"{where} does not serve this model (HTTP {status}: {message})"
            )
    return None


class OpenAITranslator(Translator):
    """Translate through ``{openai_base_url}/chat/completions`` (see the module docstring).

    Args:
        config: the stage config (endpoint, model, sampling, client limits).
        client: an ``openai.OpenAI`` client; default ``make_client(config)``.
    """

    prompt_version = PROMPT_VERSION

    def __init__(self, config: TranslateConfig, client: Any = None) -> None:
        if not config.openai_base_url or not config.model:
            raise ValueError("the openai translator needs openai_base_url and model")
        self._config = config
        self._client = client if client is not None else make_client(config)
        self.name = f"openai:{config.model}"
        self._limit = _process_limit(
            config.openai_base_url, config.model, config.openai_concurrency
        )
        self._lock = threading.Lock()
        self._stats = {
            "requests": 0,
            "tokens_in": 0,
            "tokens_out": 0,
            "latency_ms": 0.0,
            "http_errors": 0,
        }
        self._pool = concurrent.futures.ThreadPoolExecutor(
            config.openai_concurrency, thread_name_prefix="openai"
        )

    def sampling_json(self) -> str:
        return self._config.sampling_json()

    def translate(
        self, requests: list[TranslationRequest]
    ) -> list[Translation | TranslationFailure]:
        """One result per request; raises ``TranslatorConfigError`` when the endpoint refuses the
        configuration (then nothing of this batch is returned, so nothing is cached)."""
        return list(self._pool.map(self._one, requests))

    def stats(self) -> dict[str, float]:
        with self._lock:
            return dict(self._stats)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()

    def _count(self, **deltas: float) -> None:
        with self._lock:
            for k, v in deltas.items():
                self._stats[k] += v

    def _failure(
        self, request: TranslationRequest, reason: str, detail: str, latency: float = 0.0
    ) -> TranslationFailure:
        return TranslationFailure(
            request,
            reason,
            detail[:500],
            None,
            self.name,
            PROMPT_VERSION,
            self.sampling_json(),
            round(latency, 4),
        )

    def _one(self, request: TranslationRequest) -> Translation | TranslationFailure:
        import openai

        c = self._config
        started = time.monotonic()
        try:
            with self._limit:
                completion = self._client.chat.completions.create(
                    model=c.model,
                    messages=request.messages(),
                    temperature=c.temperature,
                    top_p=c.top_p,
                    max_tokens=c.max_tokens,
                    seed=request.sample_seed(c.seed),
                    n=1,
                )
        except openai.APIStatusError as exc:
            self._count(http_errors=1)
            problem = config_error(exc, c)
            if problem is not None:
                raise problem from None
            status, message = exc.status_code, _error_message(exc)
            if (
                status in (408, 409, 429) or status >= 500
            ):  # still failing after the client's retries
                return self._failure(
                    request,
                    Reason.REQUEST_FAILED,
                    f"HTTP {status} after {c.openai_retries} retries: {message}",
                )
            reason = (
                Reason.PROMPT_TOO_LONG
                if _CONTEXT_ERROR.search(message)
                else Reason.TRANSLATOR_ERROR
            )
            return self._failure(request, reason, f"HTTP {status}: {message}")
        except openai.APITimeoutError:
            return self._failure(
                request,
                Reason.REQUEST_FAILED,
                f"timed out after {c.openai_timeout_s} s, {c.openai_retries + 1} attempts ({c.openai_base_url})",
            )
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            return self._failure(
                request,
                Reason.REQUEST_FAILED,
                f"connection failed {c.openai_retries + 1} times ({c.openai_base_url}): {type(cause).__name__}: {cause}",
            )
        except (
            openai.APIResponseValidationError,
            http.client.HTTPException,
            json.JSONDecodeError,
            OSError,
        ) as exc:
            # A body cut short (IncompleteRead), not JSON, or not a chat completion: transient.
            return self._failure(
                request,
                Reason.REQUEST_FAILED,
                f"bad response from {c.openai_base_url}: {type(exc).__name__}: {exc}",
            )
        except Exception as exc:
            # httpx transport errors that escaped the client's own handling are transient too.
            if type(exc).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore", "h11"):
                return self._failure(request, Reason.REQUEST_FAILED, f"{type(exc).__name__}: {exc}")
            raise
        latency = time.monotonic() - started
        choices = getattr(completion, "choices", None) or []
        if not choices:
            return self._failure(
                request,
                Reason.TRANSLATOR_ERROR,
                f"the server returned no choices: {completion!r}"[:500],
                latency,
            )
        choice = choices[0]
        usage = getattr(completion, "usage", None)
        self._count(
            requests=1,
            tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
            tokens_out=int(getattr(usage, "completion_tokens", 0) or 0),
            latency_ms=latency * 1000,
        )
        return build_result(
            request,
            choice.message.content or "",
            truncated=choice.finish_reason == "length",
            translator=self.name,
            prompt_version=PROMPT_VERSION,
            sampling=self.sampling_json(),
            latency_s=latency,
        )


def preflight(config: TranslateConfig) -> None:
    """One 1-token request before the run: a wrong key, endpoint or model stops the launch with
    one line (``TranslatorConfigError``) instead of failing every row. Other errors are left to
    the run, whose retries and rejections handle them."""
    import openai

    client = make_client(config)
    try:
        client.with_options(max_retries=1).chat.completions.create(
            model=config.model,
            messages=[{"role": "user", "content": "Say OK."}],
            max_tokens=1,
            temperature=0.0,
        )
    except openai.APIStatusError as exc:
        problem = config_error(exc, config)
        if problem is not None:
            raise problem from None
    except openai.APITimeoutError:
        pass  # reachable but slow (a model still loading): the run's own timeouts apply
    except openai.APIConnectionError as exc:
        cause = exc.__cause__ or exc
        raise TranslatorConfigError(
            f"cannot reach {config.openai_base_url}: {type(cause).__name__}: {cause}"
        ) from None
    finally:
        client.close()
