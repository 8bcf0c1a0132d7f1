"""The translator interface, its requests and failures, the stage config and target choice.

Every backend (``py2many``, ``hf``, ``openai``, ``vllm``) implements ``Translator``: a batch
of ``TranslationRequest`` in, one ``Translation`` or ``TranslationFailure`` out per request,
in the same order. The ``Translate`` PTransform (``transform.py``) adds caching, metrics and
the Beam plumbing around it, so backends stay small and testable without Beam.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import os
import random
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from languages import NAMES
from pipeline.settings import DEFAULT_SEED, csv, setting
from pipeline.translate.prompts import render_messages
from pipeline.translate.server_args import parse_server_kwargs
from schemas import Candidate, RejectedRow, SourcePair, Translation, dumps

#: The stage name in ``RejectedRow.stage`` (docs/contracts.md).
STAGE = "translate"

#: Languages the pipeline knows: the language registry's (SynthCoNL's eight, Rust and TypeScript).
LANGUAGES: tuple[str, ...] = NAMES

#: Backends accepted by ``TranslateConfig.translator``.
TRANSLATORS: tuple[str, ...] = ("auto", "vllm", "openai", "hf", "py2many")

#: Every target (``--target_languages=auto`` with a model backend), in registry order.
ALL_TARGETS: tuple[str, ...] = NAMES


def parse_targets(value: str) -> tuple[tuple[str, ...], bool]:
    """``--target_languages``: (targets, whether it was ``auto``); an empty list is an error."""
    if value.strip() == "auto":
        return ALL_TARGETS, True
    targets = tuple(t.lower() for t in csv(value))
    if not targets:
        raise ValueError("--target_languages is empty")
    return targets, False


class Reason:
    """Rejection reasons of the translate stage (the ``reason`` column)."""

    TRANSLATOR_ERROR = "translator_error"  # the backend raised / py2many reported an error
    UNSUPPORTED_SOURCE_LANGUAGE = "unsupported_source_language"
    UNSUPPORTED_TARGET_LANGUAGE = "unsupported_target_language"
    EMPTY_OUTPUT = "empty_output"  # a rule-based backend produced no code
    EMPTY_REPLY = "empty_reply"  # a model replied with nothing usable
    TRUNCATED = "truncated"  # the reply hit the max-token limit
    PROMPT_TOO_LONG = "prompt_too_long"  # prompt + max_tokens exceed the model's context
    REQUEST_FAILED = "request_failed"  # an endpoint kept failing after retries (transient)
    INFERENCE_ERROR = "inference_error"  # a failed inference batch or device error (transient)


#: Failures that may succeed on a re-run: never cached, so a resume retries them.
TRANSIENT_REASONS: frozenset[str] = frozenset({Reason.REQUEST_FAILED, Reason.INFERENCE_ERROR})

#: Backends that sample from a model (``num_samples > 1`` needs ``temperature > 0`` there).
MODEL_BACKENDS: tuple[str, ...] = ("vllm", "openai", "hf")


class TranslatorConfigError(RuntimeError):
    """The backend itself is misconfigured: a rejected API key, an unknown model or endpoint, a
    server that will not start. Raised instead of rejecting rows, so the run stops with this
    one-line message and nothing is cached: every request would fail the same way, and a
    re-run after the fix must generate everything fresh.
    """


@dataclasses.dataclass(frozen=True)
class TranslateConfig:
    """Configuration of the translate stage (one per run; picklable, shipped to workers).

    Attributes:
        translator: ``auto`` (vllm where CUDA, vLLM and a model are present, else py2many),
            ``vllm``, ``openai``, ``hf`` or ``py2many``.
        model: model name (vllm, openai) or local path (hf). Not used by py2many.
        target_languages: languages to translate into; the pair's own language is skipped.
        targets_per_pair: 0 = every target; K > 0 = a seeded random subset of K per pair
            (SynthCoNL drew one secondary language per triplet).
        num_samples: samples per (pair, target); each gets its ``attempt`` index 0..N-1.
        temperature, max_tokens, top_p: sampling of model backends.
        seed: seeds target choice and per-sample generation seeds.
        cache_dir: directory of the translation cache (sqlite); None disables caching.
        openai_base_url: ``http://host:port/v1`` of an OpenAI-compatible server.
        openai_api_key_env: name of the environment variable holding the API key.
        openai_concurrency: requests in flight per worker process (all threads together).
        openai_timeout_s: seconds per HTTP attempt; openai_retries: retries of the official
            ``openai`` client (its backoff, honouring ``Retry-After``).
        vllm_server_kwargs: extra vLLM server flags (``max-num-seqs``, ``max-model-len``,
            ``gpu-memory-utilization`` ...) for Beam's ``VLLMChatModelHandler``; a value of None
            is a bare flag (``enable-prefix-caching``). See ``server_args.parse_server_kwargs``.
        vllm_chat_template_path: optional chat template file for the vLLM server.
        hf_device: ``auto`` (cuda if available), ``cpu`` or ``cuda[:N]``.
        hf_batch_size: prompts per ``generate`` call (halved on an out-of-memory or device error).
        batch_size: requests per translator call (bounds memory and cache transactions).
        py2many_timeout_s: wall-clock limit of one py2many subprocess.
    """

    translator: str = setting(
        "auto",
        choices=TRANSLATORS,
        help="translation backend: vllm where CUDA, vLLM and a model are present, else py2many",
    )
    model: str | None = setting(None, help="model name or path for vllm/openai/hf translators")
    target_languages: tuple[str, ...] = setting(
        ALL_TARGETS,
        cli_default="auto",
        parse=lambda v: parse_targets(v)[0],
        help="comma-separated target languages (the source language itself is skipped); 'auto' = all of the "
        "registry's, or the translator's own targets when it is rule-based (py2many: cpp,go,rust)",
    )
    targets_per_pair: int = setting(
        0, type=int, help="translate each pair into a seeded random subset of K targets (0 = all)"
    )
    num_samples: int = setting(1, type=int, help="samples per (pair, target); best passing kept")
    temperature: float = setting(0.0, type=float, help="sampling temperature of model backends")
    max_tokens: int = setting(1024, type=int, help="most tokens per reply")
    top_p: float = 1.0
    seed: int = DEFAULT_SEED
    cache_dir: str | None = None
    openai_base_url: str | None = setting(
        None,
        parse=lambda v: v or os.environ.get("OPENAI_BASE_URL"),
        help="OpenAI-compatible endpoint, e.g. http://host:8000/v1 (unset: $OPENAI_BASE_URL)",
    )
    openai_api_key_env: str = setting(
        "OPENAI_API_KEY", help="environment variable holding the endpoint's API key (unset: no key)"
    )
    openai_concurrency: int = setting(8, type=int, help="requests in flight per worker process")
    openai_timeout_s: float = setting(120.0, type=float, help="seconds per HTTP attempt")
    openai_retries: int = setting(
        4, type=int, help="retries of the openai client (exponential backoff, honours Retry-After)"
    )
    vllm_server_kwargs: Mapping[str, str | None] = setting(
        default_factory=lambda: MappingProxyType({}),
        cli_default="",
        parse=lambda v: parse_server_kwargs(v),
        help="extra vLLM server flags: k=v,flag,k={json} (a bare flag has no value), a JSON object, or @FILE / "
        "FILE.yaml|.json; e.g. max-model-len=8192,enable-prefix-caching,max-num-seqs=256",
    )
    vllm_chat_template_path: str | None = setting(
        None, help="chat template file for the vLLM server"
    )
    hf_device: str = setting("auto", help="hf translator device: auto | cpu | cuda[:N]")
    hf_batch_size: int = setting(
        8,
        type=int,
        help="prompts per generate call of the hf translator (halved on an out-of-memory error)",
    )
    batch_size: int = 16
    py2many_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.translator not in TRANSLATORS:
            raise ValueError(
                f"unknown translator {self.translator!r}; valid: {', '.join(TRANSLATORS)}"
            )
        targets = tuple(t.lower() for t in self.target_languages)
        unknown = sorted(set(targets) - set(LANGUAGES))
        if unknown:
            raise ValueError(
                f"unknown target language(s) {', '.join(unknown)}; valid: {', '.join(LANGUAGES)}"
            )
        object.__setattr__(self, "target_languages", targets)
        object.__setattr__(
            self, "vllm_server_kwargs", MappingProxyType(dict(self.vllm_server_kwargs))
        )
        for name in (
            "num_samples",
            "max_tokens",
            "openai_concurrency",
            "hf_batch_size",
            "batch_size",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.targets_per_pair < 0:
            raise ValueError(f"targets_per_pair must be >= 0, got {self.targets_per_pair}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.openai_retries < 0:
            raise ValueError(f"openai_retries must be >= 0, got {self.openai_retries}")
        if self.openai_timeout_s <= 0:
            raise ValueError(f"openai_timeout_s must be > 0, got {self.openai_timeout_s}")
        if self.translator in MODEL_BACKENDS and self.num_samples > 1 and self.temperature == 0:
            raise ValueError(
                f"--num_samples={self.num_samples} with --temperature=0 would draw {self.num_samples} identical "
                "greedy samples at N times the cost (vLLM refuses n > 1 with greedy sampling); "
                "set --temperature above 0 or --num_samples=1"
            )
        if self.translator in ("vllm", "hf") and not self.model:
            raise ValueError(f"--translator={self.translator} needs --model (a model name or path)")
        if self.translator == "vllm" and ({"api-key", "api_key"} & set(self.vllm_server_kwargs)):
            raise ValueError(
                "--vllm_server_kwargs must not set api-key: Beam's vLLM handler sends no key, so it could "
                "never reach a server started with one (it would wait 10 minutes per start attempt)"
            )
        if self.translator == "openai" and not (self.openai_base_url and self.model):
            raise ValueError("--translator=openai needs --openai_base_url and --model")

    def __reduce__(self):  # MappingProxyType does not pickle; rebuild from a plain dict
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["vllm_server_kwargs"] = dict(self.vllm_server_kwargs)
        return (_rebuild_config, (fields,))

    def sampling(self) -> dict[str, Any]:
        """The sampling parameters that change a model's output (the cache keys on them)."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }

    def sampling_json(self) -> str:
        return dumps(self.sampling())


def _rebuild_config(fields: dict[str, Any]) -> TranslateConfig:
    return TranslateConfig(**fields)


@dataclasses.dataclass(frozen=True, slots=True)
class TranslationRequest:
    """Translate ``pair`` into ``target_language``; ``attempt`` is the sample index.

    A repair request (``repair_round`` r > 0, ``pipeline/repair.py``) continues the
    conversation of attempt ``attempt``: the first request's messages, the model's previous
    ``reply`` and a ``feedback`` turn saying why that reply was rejected, written with the
    feedback template of version ``feedback_version``. ``repair_of`` is the first attempt's
    rejection reason (for the statistics; it does not change the question).
    """

    pair: SourcePair
    target_language: str
    attempt: int = 0
    repair_round: int = 0
    reply: str | None = None
    feedback: str | None = None
    feedback_version: str | None = None
    repair_of: str | None = None

    def __post_init__(self) -> None:
        if self.repair_round and not (
            self.reply is not None and self.feedback and self.feedback_version
        ):
            raise ValueError(
                "a repair request needs the previous reply, a feedback turn and its template version"
            )

    @property
    def key(self) -> str:
        base = f"{self.pair.pair_id}/{self.target_language}/{self.attempt}"
        return f"{base}/repair{self.repair_round}" if self.repair_round else base

    def prompt_version(self, base: str) -> str:
        """The prompt version of this request's conversation: a repair's also names the
        feedback template (``v1+f1``), so a changed template never reuses a cached repair."""
        return f"{base}+{self.feedback_version}" if self.repair_round else base

    def conversation_digest(self) -> str | None:
        """A digest of what a repair adds to the first request (the reply and the feedback):
        part of its cache key, since both come from earlier stages, not from the pair."""
        if not self.repair_round:
            return None
        return hashlib.sha256(dumps([self.reply, self.feedback]).encode()).hexdigest()[:24]

    def sample_seed(self, seed: int) -> int:
        """A per-request seed: the same request gets the same seed on every worker and re-run."""
        digest = hashlib.sha256(f"{seed}/{self.key}".encode()).digest()
        return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF

    def messages(self) -> list[dict[str, str]]:
        """The chat messages every model backend sends for this request (the one place they
        are built, so all backends ask the same question)."""
        messages = render_messages(self.pair, self.target_language)
        if self.repair_round:
            messages += [
                {"role": "assistant", "content": self.reply or ""},
                {"role": "user", "content": self.feedback or ""},
            ]
        return messages


@dataclasses.dataclass(frozen=True, slots=True)
class TranslationFailure:
    """Why ``request`` produced no usable translation.

    ``raw_reply`` keeps a model's reply (or a rule-based tool's output) for the rejected row.
    ``translator``/``prompt_version``/``sampling`` identify what was tried, for the cache.
    """

    request: TranslationRequest
    reason: str
    detail: str | None = None
    raw_reply: str | None = None
    translator: str = ""
    prompt_version: str = "none"
    sampling: str = "{}"
    latency_s: float = 0.0

    @property
    def transient(self) -> bool:
        """True for failures a re-run may not repeat (never cached)."""
        return self.reason in TRANSIENT_REASONS

    def to_rejected(self) -> RejectedRow:
        """The rejected row, keeping the raw reply (as a Translation when there is one)."""
        if self.raw_reply is None:
            return reject_request(self.request, self.reason, self.detail)
        translation = Translation(
            pair_id=self.request.pair.pair_id,
            target_language=self.request.target_language,
            code="",
            translator=self.translator,
            prompt_version=self.request.prompt_version(self.prompt_version),
            sampling=self.sampling,
            attempt=self.request.attempt,
            latency_s=self.latency_s,
            raw_reply=self.raw_reply,
            repair_round=self.request.repair_round,
            repair_of=self.request.repair_of,
        )
        return Candidate(self.request.pair, translation).reject(STAGE, self.reason, self.detail)


def reject_request(
    request: TranslationRequest, reason: str, detail: str | None = None
) -> RejectedRow:
    """A translate-stage rejected row for a request that got no translation at all."""
    row = Candidate(request.pair).reject(STAGE, reason, detail)
    return dataclasses.replace(
        row,
        target_language=request.target_language,
        attempt=request.attempt,
        repair_round=request.repair_round,
    )


class Translator(abc.ABC):
    """A translation backend. ``name`` is ``backend:model`` (the ``Translation.translator``).

    ``translate`` must return exactly one result per request, in order, and must not raise
    for a bad request (return a ``TranslationFailure``); it may raise when the backend itself
    is unusable (no server, no model), which fails the pipeline loudly.
    """

    name: str
    #: ``prompts.PROMPT_VERSION`` for model backends, ``none`` for rule-based ones.
    prompt_version: str = "none"

    @abc.abstractmethod
    def translate(
        self, requests: list[TranslationRequest]
    ) -> list[Translation | TranslationFailure]:
        """Translate a batch."""

    def sampling_json(self) -> str:
        """Canonical JSON of the sampling parameters this backend uses (cache key part)."""
        return "{}"

    def supports(self, source_language: str, target_language: str) -> bool:  # noqa: ARG002
        """Whether this backend can translate between the two languages at all."""
        return True

    def stats(self) -> dict[str, float]:
        """Throughput counters since setup: requests, tokens_in, tokens_out, latency_ms sum."""
        return {}

    def close(self) -> None:
        """Release processes, models, connections (nothing to release by default)."""
        return None


def targets_for(pair: SourcePair, config: TranslateConfig) -> tuple[str, ...]:
    """The target languages ``pair`` is translated into.

    All configured targets except the pair's own language, or, with ``targets_per_pair=K``,
    a random subset of K drawn with a generator seeded by (seed, pair_id): the same pair gets
    the same targets on every worker and every re-run (SynthCoNL paired each function with
    one secondary language per triplet).
    """
    source = pair.language.lower()
    targets = tuple(t for t in config.target_languages if t != source)
    k = config.targets_per_pair
    if k == 0 or k >= len(targets):
        return targets
    rng = random.Random(f"{config.seed}/{pair.pair_id}")
    chosen = set(rng.sample(targets, k))
    return tuple(t for t in targets if t in chosen)


def requests_for(pair: SourcePair, config: TranslateConfig) -> list[TranslationRequest]:
    """One request per (target, attempt): ``len(targets_for) * num_samples`` requests."""
    return [
        TranslationRequest(pair, target, attempt)
        for target in targets_for(pair, config)
        for attempt in range(config.num_samples)
    ]
