"""The ``vllm`` backend: Beam ``RunInference`` with Beam's ``VLLMChatModelHandler`` on GPU workers.

Beam's handler starts one vLLM OpenAI-compatible server per worker machine
(``python -m vllm.entrypoints.openai.api_server --model M --port P <server flags>``) and sends
each batch to it as concurrent chat completions, so vLLM's continuous batching sees many
prompts at once. This module adds what a paid GPU run needs around it:

* **Samples.** Each (pair, target) is one request with ``n = num_samples`` and the run's seed:
  vLLM draws the N samples from one seeded generator, so they differ from each other (one
  seed per request would need per-request arguments, which Beam's handler does not take),
  the prompt is processed once, and a re-run with the same seed asks the same question.
  Choice ``k`` of the reply is attempt ``k``. ``num_samples > 1`` needs ``temperature > 0``
  (vLLM refuses ``n > 1`` with greedy sampling; the config says so at launch).
* **Prompt length checked before sending.** ``_PrepareFn`` counts the prompt's tokens with
  the model's own tokenizer and chat template; prompt + ``max_tokens`` above the server's
  ``max-model-len`` (the flag, or what vLLM derives from the model's config) is rejected as
  ``prompt_too_long`` (permanent, cached) and never sent.
* **One bad request fails only itself.** Beam sends a batch with ``asyncio.gather``, so one
  HTTP 400 fails the whole batch. ``IsolatingVLLMChatModelHandler.run_inference`` splits a
  batch that failed with a request error (400/413/422) in halves and retries each, down to
  the single request, which is rejected with the server's message (``prompt_too_long`` or
  ``translator_error``, cached). Connection errors and 5xx fail the batch as before.
* **Failed batches.** ``RunInference(...).with_exception_handling()`` emits a failed batch as
  ``(batch, (exception type, repr, traceback lines))``; every request in it becomes
  ``inference_error`` (transient: not cached, a re-run retries it), with the exception's own
  last line as the detail. A 401/403/404 from the server is a configuration error
  (``TranslatorConfigError``): the run stops.
* **No server left behind.** Beam keeps the server object for the life of the process, so
  the server would outlive the pipeline. Each server this process starts is stopped at DoFn
  teardown, at interpreter exit, and, when the process dies without running Python code
  (SIGKILL, OOM killer), by a watchdog process (``reaper.py``). The server starts with the
  first batch, not when Beam loads the "model", so a re-run that finds everything cached
  starts no server at all.

Server flags come from ``TranslateConfig.vllm_server_kwargs`` (``--vllm_server_kwargs``;
``server_args.py`` parses bare flags, JSON values and YAML/JSON files). Importing Beam's vLLM
module needs the ``openai`` client package (a core dependency); it logs a warning that vLLM
itself is not importable where the pipeline is launched, which is expected: the server runs
in its own process on the workers.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult, RunInference
from apache_beam.ml.inference.vllm_inference import OpenAIChatMessage, VLLMChatModelHandler

from pipeline.stage import StageFn
from pipeline.translate.base import (
    Reason,
    TranslateConfig,
    TranslationFailure,
    TranslationRequest,
    Translator,
    TranslatorConfigError,
    targets_for,
)
from pipeline.translate.extract import build_result
from pipeline.translate.prompts import PROMPT_VERSION
from pipeline.translate.server_args import flag_value, max_model_len
from pipeline.translate.transform import count_repair_tokens
from schemas import SourcePair, Translation

LOG = logging.getLogger(__name__)
NAMESPACE = "translate"

#: Phrases of vLLM's context-length errors.
_CONTEXT_ERROR = re.compile(
    r"maximum context length|max_model_len|too long|context length", re.IGNORECASE
)
#: HTTP statuses that are one request's fault: the batch is split to find it.
REQUEST_ERROR_STATUSES = frozenset({400, 413, 422})
#: HTTP statuses that mean the server refuses the configuration: the run stops.
CONFIG_ERROR_STATUSES = frozenset({401, 403, 404})


def vllm_name(config: TranslateConfig) -> str:
    return f"vllm:{config.model}"


@dataclasses.dataclass(frozen=True, slots=True)
class SampleGroup:
    """The attempts of one (pair, target) still to generate: one vLLM request with ``n`` samples."""

    pair: SourcePair
    target_language: str
    attempts: tuple[int, ...]
    #: A repair request (``pipeline/repair.py``): its own conversation, sent alone with ``n=1``.
    repair: TranslationRequest | None = None

    def requests(self) -> list[TranslationRequest]:
        if self.repair is not None:
            return [self.repair]
        return [TranslationRequest(self.pair, self.target_language, a) for a in self.attempts]

    def choice_index(self, request: TranslationRequest) -> int:
        """Which choice of the reply answers ``request``: choice ``k`` is attempt ``k`` of a
        first request (``n = num_samples``); a repair is the only choice of its reply."""
        return 0 if self.repair is not None else request.attempt

    def messages(self) -> list[dict[str, str]]:
        """The chat all attempts share: ``TranslationRequest.messages()``, the one place prompts are built."""
        return self.requests()[0].messages()


def repair_group(request: TranslationRequest) -> SampleGroup:
    """The group of one repair request (a repair pass runs with ``num_samples=1``: ``n=1``)."""
    return SampleGroup(request.pair, request.target_language, (request.attempt,), repair=request)


def groups_for(pair: SourcePair, config: TranslateConfig) -> list[SampleGroup]:
    """One group per target, holding every attempt (the cache lookup drops the finished ones)."""
    attempts = tuple(range(config.num_samples))
    return [SampleGroup(pair, target, attempts) for target in targets_for(pair, config)]


def inference_args(config: TranslateConfig) -> dict[str, Any]:
    """The OpenAI parameters of every request (Beam passes the same ones for every batch)."""
    return {
        "max_tokens": config.max_tokens,
        "temperature": config.temperature,
        "top_p": config.top_p,
        "seed": config.seed,
        "n": config.num_samples,
    }


@dataclasses.dataclass(frozen=True, slots=True)
class ServerRejection:
    """A request the server refused on its own (after the batch was split down to it)."""

    status: int
    message: str


# --- servers started by this process ------------------------------------------------------

#: What every vLLM server's command line holds (Beam starts it as ``python -m`` this module).
SERVER_MODULE = "vllm.entrypoints.openai.api_server"

_SERVERS_LOCK = threading.Lock()
_SERVERS: list[LazyVLLMServer] = []
_WATCHDOG: Any = None  # reaper.Watchdog of this process, started with its first server


def _track(server: LazyVLLMServer) -> None:
    """Before a server starts: remember it, and make sure every exit path stops it."""
    global _WATCHDOG
    from pipeline.translate.reaper import Watchdog

    with _SERVERS_LOCK:
        if server not in _SERVERS:
            _SERVERS.append(server)
        if _WATCHDOG is None:
            _WATCHDOG = Watchdog(SERVER_MODULE)
            atexit.register(stop_vllm_servers)


class LazyVLLMServer:
    """What the handler's ``load_model`` returns: Beam's server object, started on first use.

    RunInference loads its model in ``DoFn.setup``, even for a stage with nothing to do (a
    re-run whose translations are all cached); starting vLLM there would hold a GPU for minutes
    for nothing. Beam's handler only calls ``get_server_port()`` (before each batch) and
    ``check_connectivity()`` (after a failed one), so this starts the server in the first.
    ``stop()`` stops it with its worker processes; a later batch starts it again.
    """

    def __init__(self, start: Callable[[], Any], model_name: str) -> None:
        self._start = start
        self._model_name = model_name
        self._server: Any = None
        self._lock = threading.Lock()

    def _running(self) -> Any:
        with self._lock:
            if self._server is None or self.pid() is None:
                _track(self)  # before the process exists: a start that hangs is covered too
                try:
                    if self._server is None:
                        self._server = self._start()
                    else:
                        self._server.start_server()  # stopped by stop(): start it again
                except Exception as exc:
                    raise TranslatorConfigError(
                        f"the vLLM server for {self._model_name} did not start ({' '.join(str(exc).split())[:300]}); "
                        "its own output is in the log above (bad --vllm_server_kwargs, model or GPU memory?)"
                    ) from None
            return self._server

    def get_server_port(self) -> int:
        """The server's port, starting the server first if needed (Beam calls this per batch)."""
        return self._running().get_server_port()

    def check_connectivity(self, retries: int = 3) -> None:
        """Beam's check after a failed batch: wait for the server, restart it if it died."""
        self._running().check_connectivity(retries)

    def pid(self) -> int | None:
        """The running server's pid, or None."""
        process = getattr(self._server, "_server_process", None)
        return process.pid if process is not None and process.poll() is None else None

    def stop(self) -> bool:
        """Stop the server and its worker processes; True if it was running."""
        from pipeline.translate.reaper import descendants, kill_tree

        process = getattr(self._server, "_server_process", None)
        if process is None or process.poll() is not None:
            return False
        children = descendants(process.pid)
        try:
            self._server._stop_processes()  # Beam's own: SIGTERM, up to 10 s, SIGKILL, wait
        except Exception:  # noqa: BLE001 - make sure below
            LOG.exception("stopping the vLLM server failed; killing it")
        kill_tree(process.pid, grace_s=5.0)
        for pid in children:  # vLLM's engine and worker processes
            kill_tree(pid, grace_s=0.0)
        if process.poll() is None:
            process.wait(timeout=30)
        LOG.info("vLLM server (pid %d) stopped", process.pid)
        return True


def live_server_pids() -> list[int]:
    """Pids of the vLLM servers this process started that are still running (or starting)."""
    from pipeline.translate.reaper import matching_descendants

    return matching_descendants(os.getpid(), SERVER_MODULE)


def stop_vllm_servers() -> int:
    """Stop every vLLM server this process started, also one still starting (at DoFn teardown
    and interpreter exit), and end the watchdog. Returns how many were running. Idempotent."""
    global _WATCHDOG
    from pipeline.translate.reaper import kill_tree, matching_descendants

    with _SERVERS_LOCK:
        servers = list(_SERVERS)
        _SERVERS.clear()
        watchdog, _WATCHDOG = _WATCHDOG, None
    stopped = sum(server.stop() for server in servers)
    for pid in matching_descendants(os.getpid(), SERVER_MODULE):  # started, not yet answering
        kill_tree(pid, grace_s=5.0)
        stopped += 1
    if watchdog is not None:
        watchdog.release()
    return stopped


# --- the model handler ----------------------------------------------------------------------


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _message_of(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        text = inner.get("message") if isinstance(inner, dict) else inner
        if text:
            return " ".join(str(text).split())[:400]
    elif isinstance(body, str) and body:
        return " ".join(body.split())[:400]
    return " ".join(str(getattr(exc, "message", None) or exc).split())[:400]


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


class IsolatingVLLMChatModelHandler(VLLMChatModelHandler):
    """Beam's ``VLLMChatModelHandler`` that tracks the servers it starts (``load_model``) and
    fails only the request a server refuses, not its whole batch (``run_inference``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Beam copies --vllm_chat_template_path to ``template-<uuid>.jinja`` in the current
        # directory (os.path.join(os.getcwd(), name)) and never removes it: users found stray
        # templates in their checkout. An absolute name in the temp directory keeps the copy
        # out of it (os.path.join keeps an absolute second part); the process that writes it
        # (the worker, in ``load_model``) removes it at exit.
        self._chat_file = os.path.join(tempfile.gettempdir(), f"codetrans-{self._chat_file}")

    def load_model(self) -> LazyVLLMServer:
        """Beam's server, started when the first batch needs it (see ``LazyVLLMServer``)."""
        if self._chat_template_path is not None:
            atexit.register(_remove_quietly, self._chat_file)
        return LazyVLLMServer(
            functools.partial(VLLMChatModelHandler.load_model, self), self._model_name
        )

    def run_inference(self, batch, model, inference_args=None):
        try:
            return list(super().run_inference(batch, model, inference_args))
        except Exception as exc:
            status = _status_of(exc)
            if status in CONFIG_ERROR_STATUSES:
                raise TranslatorConfigError(
                    f"the vLLM server refused the request (HTTP {status}: {_message_of(exc)}); "
                    "check --model and --vllm_server_kwargs (api-key, served-model-name)"
                ) from None
            if status not in REQUEST_ERROR_STATUSES:
                raise  # the server or the connection: the whole batch is transient
            if len(batch) == 1:
                return [PredictionResult(batch[0], ServerRejection(status, _message_of(exc)))]
            beam.metrics.Metrics.counter(NAMESPACE, "vllm_batch_splits").inc()
            half = (len(batch) + 1) // 2
            return self.run_inference(batch[:half], model, inference_args) + self.run_inference(
                batch[half:], model, inference_args
            )


def make_vllm_handler(config: TranslateConfig) -> KeyedModelHandler:
    """The keyed handler: ``(SampleGroup, messages)`` in, ``(SampleGroup, PredictionResult)`` out."""
    handler = IsolatingVLLMChatModelHandler(
        model_name=config.model,
        chat_template_path=config.vllm_chat_template_path,
        vllm_server_kwargs=dict(config.vllm_server_kwargs),
        max_batch_size=config.batch_size * 4,
    )
    return KeyedModelHandler(handler)


def openai_messages(messages: list[dict[str, str]]) -> list[OpenAIChatMessage]:
    """Chat messages in the form Beam's vLLM handler takes (``OpenAIChatMessage``)."""
    return [OpenAIChatMessage(role=m["role"], content=m["content"]) for m in messages]


# --- before and after RunInference ------------------------------------------------------


def derived_max_model_len(model_config: Any) -> int | None:
    """What vLLM derives as ``max_model_len`` from a Hugging Face model config: the smallest of
    the length keys present, times a linear/dynamic/YaRN rope scaling factor."""
    keys = (
        "max_position_embeddings",
        "n_positions",
        "max_seq_len",
        "seq_length",
        "max_sequence_length",
        "model_max_length",
    )
    values = [
        int(v) for k in keys if isinstance(v := getattr(model_config, k, None), int) and v > 0
    ]
    if not values:
        return None
    length = min(values)
    scaling = getattr(model_config, "rope_scaling", None) or {}
    if isinstance(scaling, Mapping) and scaling.get("factor"):
        kind = scaling.get("rope_type") or scaling.get("type")
        if kind in ("linear", "dynamic", "yarn"):
            length = int(length * float(scaling["factor"]))
    return length


class PromptLength:
    """Counts a chat prompt's tokens as the vLLM server will (the model's tokenizer and chat
    template, generation prompt added) and knows the server's ``max-model-len``."""

    def __init__(self, config: TranslateConfig) -> None:
        from transformers import AutoConfig, AutoTokenizer

        kwargs = config.vllm_server_kwargs
        name = flag_value(kwargs, "tokenizer") or config.model
        revision = flag_value(kwargs, "revision")
        trust = "trust-remote-code" in kwargs or "trust_remote_code" in kwargs
        self.tokenizer = AutoTokenizer.from_pretrained(
            name, revision=revision, trust_remote_code=trust
        )
        self.template: str | None = None
        if config.vllm_chat_template_path:
            from apache_beam.io.filesystems import FileSystems

            with FileSystems.open(config.vllm_chat_template_path) as f:
                self.template = f.read().decode("utf-8")
        self.max_model_len = max_model_len(kwargs) or derived_max_model_len(
            AutoConfig.from_pretrained(config.model, revision=revision, trust_remote_code=trust)
        )

    def count(self, messages: list[dict[str, str]]) -> int:
        ids = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, chat_template=self.template
        )
        if isinstance(ids, Mapping) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return len(ids)


def _failures(group: SampleGroup, reason: str, detail: str, config: TranslateConfig) -> list:
    return [
        (
            request,
            TranslationFailure(
                request,
                reason,
                detail[:500],
                None,
                vllm_name(config),
                PROMPT_VERSION,
                config.sampling_json(),
            ),
        )
        for request in group.requests()
    ]


class _PrepareFn(StageFn):
    """SampleGroup -> (group, chat messages) for RunInference, or its ``prompt_too_long``
    failures (tagged ``rejected``) when the prompt does not fit ``max-model-len``."""

    NAMESPACE = NAMESPACE

    def __init__(self, config: TranslateConfig, message_factory: Any = None) -> None:
        self._config = config
        self._factory = message_factory

    def setup(self) -> None:
        self._length = PromptLength(self._config)

    def process(self, group: SampleGroup):
        messages = group.messages()
        limit = self._length.max_model_len
        if limit is not None:
            tokens = self._length.count(messages)
            if tokens + self._config.max_tokens > limit:
                self.count("vllm_prompt_too_long")
                detail = (
                    f"prompt of {tokens} tokens + max_tokens {self._config.max_tokens} exceeds the vLLM server's "
                    f"max-model-len {limit} (counted with the model's tokenizer; not sent)"
                )
                for item in _failures(group, Reason.PROMPT_TOO_LONG, detail, self._config):
                    yield beam.pvalue.TaggedOutput("rejected", item)
                return
        factory = self._factory or openai_messages
        yield group, factory(messages)


def reply_choices(inference: Any) -> tuple[dict[int, tuple[str, bool]], int, int]:
    """({choice index: (text, truncated)}, prompt tokens, completion tokens) of a chat completion."""
    choices: dict[int, tuple[str, bool]] = {}
    for position, choice in enumerate(inference.choices):
        index = getattr(choice, "index", None)
        index = position if index is None else int(index)
        message = choice.message
        choices[index] = (message.content or "", choice.finish_reason == "length")
    usage = getattr(inference, "usage", None)
    return (
        choices,
        int(getattr(usage, "prompt_tokens", 0) or 0),
        int(getattr(usage, "completion_tokens", 0) or 0),
    )


def results_for(
    group: SampleGroup, inference: Any, config: TranslateConfig, latency_s: float = 0.0
) -> list:
    """(request, Translation | TranslationFailure) for each attempt of ``group`` from one reply."""
    name, sampling = vllm_name(config), config.sampling_json()
    if isinstance(inference, ServerRejection):
        reason = (
            Reason.PROMPT_TOO_LONG
            if _CONTEXT_ERROR.search(inference.message)
            else Reason.TRANSLATOR_ERROR
        )
        return _failures(
            group,
            reason,
            f"the vLLM server refused the request (HTTP {inference.status}): {inference.message}",
            config,
        )
    try:
        choices, _, _ = reply_choices(inference)
    except (AttributeError, TypeError, ValueError) as exc:
        return _failures(
            group,
            Reason.TRANSLATOR_ERROR,
            f"unexpected vLLM response: {type(exc).__name__}: {exc}",
            config,
        )
    out = []
    for request in group.requests():
        if group.choice_index(request) not in choices:
            failure = TranslationFailure(
                request,
                Reason.TRANSLATOR_ERROR,
                f"the server returned {len(choices)} choice(s) for n={config.num_samples}; attempt {request.attempt} is missing",
                None,
                name,
                PROMPT_VERSION,
                sampling,
            )
            out.append((request, failure))
            continue
        text, truncated = choices[group.choice_index(request)]
        out.append(
            (
                request,
                build_result(
                    request,
                    text,
                    truncated=truncated,
                    translator=name,
                    prompt_version=PROMPT_VERSION,
                    sampling=sampling,
                    latency_s=latency_s,
                ),
            )
        )
    return out


class _PostprocessFn(StageFn):
    """(group, PredictionResult) -> (request, result) per attempt; stops this process's vLLM
    servers at teardown."""

    NAMESPACE = NAMESPACE

    def __init__(self, config: TranslateConfig) -> None:
        self._config = config

    def process(self, element):
        group, prediction = element
        inference = prediction.inference
        if isinstance(inference, ServerRejection):
            self.count("vllm_rejected_by_server")
        else:
            try:
                _, tokens_in, tokens_out = reply_choices(inference)
                self.count("vllm_requests")
                self.count("vllm_tokens_in", tokens_in)
                self.count("vllm_tokens_out", tokens_out)
                if group.repair is not None:  # what the repair loop spends, per round
                    count_repair_tokens(group.repair.repair_round, tokens_in, tokens_out)
            except (AttributeError, TypeError, ValueError):
                pass  # results_for rejects the reply with the reason
        yield from results_for(group, inference, self._config)

    def teardown(self) -> None:
        stop_vllm_servers()


def dead_letter_detail(error: Any) -> tuple[str, type | None]:
    """(one-line detail, exception type) of a failed batch's error as Beam 2.77 emits it:
    ``(exc_type, repr(exc), traceback lines)``; an exception object is read too."""
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}", type(error)
    if isinstance(error, Sequence) and not isinstance(error, str) and len(error) == 3:
        exc_type, text, lines = error
        last = next((line.strip() for line in reversed(list(lines or [])) if line.strip()), "")
        name = getattr(exc_type, "__name__", str(exc_type))
        return (last or f"{name}: {text}"), exc_type if isinstance(exc_type, type) else None
    return str(error), None


def _dead_letters(config: TranslateConfig):
    """Failed batches from RunInference's dead-letter output -> one failure per request."""

    def expand(element):
        batch, error = element
        detail, exc_type = dead_letter_detail(error)
        if exc_type is not None and issubclass(exc_type, TranslatorConfigError):
            raise TranslatorConfigError(detail.split(": ", 1)[-1])
        for group, _ in batch:
            yield from _failures(
                group, Reason.INFERENCE_ERROR, f"RunInference failed: {detail}", config
            )

    return expand


class VLLMTranslate(beam.PTransform):
    """``SampleGroup`` -> ``(request, Translation | TranslationFailure)`` per attempt, through vLLM.

    Args:
        config: the stage config (model, sampling, server flags).
        handler: a keyed ``ModelHandler``; default ``make_vllm_handler(config)``.
        message_factory: turns chat dicts into what the handler takes; default
            ``openai_messages`` (Beam's ``OpenAIChatMessage``).
    """

    def __init__(
        self, config: TranslateConfig, handler: Any = None, message_factory: Any = None
    ) -> None:
        super().__init__()
        self._config = config
        self._handler = handler
        self._message_factory = message_factory

    def expand(self, groups):
        handler = self._handler if self._handler is not None else make_vllm_handler(self._config)
        prepared = groups | "Prepare" >> beam.ParDo(
            _PrepareFn(self._config, self._message_factory)
        ).with_outputs("rejected", main="ready")
        main, other = (
            prepared.ready
            | "RunInference"
            >> RunInference(
                handler, inference_args=inference_args(self._config)
            ).with_exception_handling()
        )
        ok = main | "Postprocess" >> beam.ParDo(_PostprocessFn(self._config))
        failed = other.failed_inferences | "DeadLetters" >> beam.FlatMap(
            _dead_letters(self._config)
        )
        return (ok, failed, prepared.rejected) | "MergeResults" >> beam.Flatten()


class VLLMTranslator(Translator):
    """The vLLM backend outside Beam: Beam's handler driven directly, one server per instance.

    ``Translate`` uses ``VLLMTranslate`` (RunInference) instead; this is for notebooks and
    ``make_translator`` users who want the ``Translator`` interface. ``close()`` stops the server.
    """

    prompt_version = PROMPT_VERSION

    def __init__(self, config: TranslateConfig, handler: Any = None) -> None:
        self._config = config
        self._handler = handler if handler is not None else make_vllm_handler(config)
        self._length = PromptLength(config)
        self._model = self._handler.load_model()
        self.name = vllm_name(config)
        self._stats = {"requests": 0, "tokens_in": 0, "tokens_out": 0, "latency_ms": 0.0}

    def sampling_json(self) -> str:
        return self._config.sampling_json()

    def stats(self) -> dict[str, float]:
        return dict(self._stats)

    def close(self) -> None:
        stop_vllm_servers()

    def translate(
        self, requests: list[TranslationRequest]
    ) -> list[Translation | TranslationFailure]:
        """Requests of one (pair, target) share a vLLM request (``n`` samples); see the module docstring."""
        groups: dict[tuple[str, str], list[int]] = {}
        pairs: dict[tuple[str, str], SourcePair] = {}
        repairs = [r for r in requests if r.repair_round]
        if repairs and self._config.num_samples != 1:
            raise ValueError(
                "repair requests go through a vLLM translator of their own with num_samples=1 (n=1)"
            )
        for r in requests:
            if r.repair_round:
                continue
            key = (r.pair.pair_id, r.target_language)
            groups.setdefault(key, []).append(r.attempt)
            pairs[key] = r.pair
        results: dict[str, Translation | TranslationFailure] = {}
        batch = []
        limit = self._length.max_model_len
        all_groups = [
            SampleGroup(pairs[key], key[1], tuple(sorted(set(attempts))))
            for key, attempts in groups.items()
        ]
        for group in all_groups + [repair_group(r) for r in repairs]:
            messages = group.messages()
            tokens = self._length.count(messages) if limit is not None else 0
            if limit is not None and tokens + self._config.max_tokens > limit:
                detail = f"prompt of {tokens} tokens + max_tokens {self._config.max_tokens} exceeds max-model-len {limit}"
                results.update(
                    {
                        r.key: f
                        for r, f in _failures(group, Reason.PROMPT_TOO_LONG, detail, self._config)
                    }
                )
            else:
                batch.append((group, openai_messages(messages)))
        if batch:
            started = time.monotonic()
            try:
                predictions = list(
                    self._handler.run_inference(batch, self._model, inference_args(self._config))
                )
            except TranslatorConfigError:
                raise
            except Exception as exc:  # the whole batch failed: transient, retried on re-run
                detail = f"vLLM inference failed: {type(exc).__name__}: {exc}"
                for group, _ in batch:
                    results.update(
                        {
                            r.key: f
                            for r, f in _failures(
                                group, Reason.INFERENCE_ERROR, detail, self._config
                            )
                        }
                    )
                predictions = []
            latency = time.monotonic() - started
            self._stats["latency_ms"] += latency * 1000
            for group, prediction in predictions:
                inference = prediction.inference
                if not isinstance(inference, ServerRejection):
                    _, tokens_in, tokens_out = reply_choices(inference)
                    if group.repair is not None:
                        count_repair_tokens(group.repair.repair_round, tokens_in, tokens_out)
                    self._stats["requests"] += 1
                    self._stats["tokens_in"] += tokens_in
                    self._stats["tokens_out"] += tokens_out
                per = latency / max(1, len(requests))
                results.update(
                    {r.key: res for r, res in results_for(group, inference, self._config, per)}
                )
        return [results[r.key] for r in requests]


__all__ = [
    "SampleGroup",
    "ServerRejection",
    "VLLMTranslate",
    "VLLMTranslator",
    "dead_letter_detail",
    "groups_for",
    "live_server_pids",
    "make_vllm_handler",
    "openai_messages",
    "repair_group",
    "stop_vllm_servers",
]
