"""``Translate(config)``: SourcePair -> ``candidates`` (Candidate with translation) + ``rejected``.

Each pair becomes one request per (target, attempt) (``base.requests_for``), and every
request leaves as exactly one candidate or one rejected row, so the accounting in
``stats.json`` (requests = released + rejected after the source) holds.

Graph:
* ``py2many``, ``hf``, ``openai``: batches of requests -> ``_TranslateFn`` (cache lookup,
  the backend's ``translate`` for the misses, cache store) -> ``_RouteFn``.
* ``vllm``: one ``SampleGroup`` per (pair, target) holding its attempts -> batches ->
  ``_GroupCacheLookupFn`` (cached attempts out, a group of the missing ones on) ->
  ``VLLMTranslate`` (prompt-length check, RunInference with ``n`` samples per request) ->
  ``_StoreFn`` (cache store) -> ``_RouteFn``.

A ``TranslatorConfigError`` (rejected key, unknown model, a server that will not start) is
not a row's fault: it is raised, the run stops with its message, and nothing of the failing
batch is cached. ``preflight(config)`` finds the common ones before the pipeline starts.

Metrics (namespace ``translate``): ``total``, ``kept``, ``dropped``, ``dropped_<reason>``,
``latency_ms`` (distribution, generated requests only), ``cache_hits`` (generations avoided),
``cache_misses`` (generations done), and per backend ``<backend>_requests``,
``<backend>_tokens_in``, ``<backend>_tokens_out``, ``<backend>_latency_ms``.
``throughput_from_metrics`` turns them into the per-backend summary for ``stats.json``.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import apache_beam as beam

from pipeline.stage import StageFn
from pipeline.translate.base import (
    TranslateConfig,
    TranslationFailure,
    TranslationRequest,
    Translator,
    TranslatorConfigError,
    requests_for,
)
from pipeline.translate.prompts import PROMPT_VERSION
from schemas import Candidate, Translation

LOG = logging.getLogger(__name__)
NAMESPACE = "translate"
BACKENDS = ("py2many", "hf", "openai", "vllm")
#: Namespace of the repair loop's counters (``pipeline/repair.py`` reads them back).
REPAIR_NAMESPACE = "repair"


def count_repair_tokens(repair_round: int, tokens_in: int, tokens_out: int) -> None:
    """Tokens a repair round spent (``repair/round<r>_tokens_in``, ``..._tokens_out``)."""
    for name, n in (("tokens_in", tokens_in), ("tokens_out", tokens_out)):
        if n:
            beam.metrics.Metrics.counter(REPAIR_NAMESPACE, f"round{repair_round}_{name}").inc(n)


def count_repair_cache(repair_round: int, hits: int, misses: int) -> None:
    """Repair requests of a round answered by the cache and generated
    (``repair/round<r>_cache_hits``, ``..._generated``)."""
    for name, n in (("cache_hits", hits), ("generated", misses)):
        if n:
            beam.metrics.Metrics.counter(REPAIR_NAMESPACE, f"round{repair_round}_{name}").inc(n)


def resolve_translator(config: TranslateConfig) -> str:
    """The concrete backend for ``config.translator``; ``auto`` is decided here and logged.

    ``auto`` takes ``vllm`` when a model is named, vLLM is installed and torch sees a CUDA
    device; otherwise ``py2many`` (CPU, no model). On Dataflow the launcher usually has no GPU:
    name ``--translator=vllm`` there.
    """
    if config.translator != "auto":
        return config.translator
    reasons = []
    if not config.model:
        reasons.append("no --model")
    if importlib.util.find_spec("vllm") is None:
        reasons.append("vllm not installed")
    try:
        import torch

        if not torch.cuda.is_available():
            reasons.append("no CUDA device")
    except ImportError:
        reasons.append("torch not installed")
    if reasons:
        LOG.info("--translator=auto picked py2many (%s)", ", ".join(reasons))
        return "py2many"
    LOG.info("--translator=auto picked vllm with model %s", config.model)
    return "vllm"


def make_translator(config: TranslateConfig) -> Translator:
    """Build the backend ``config`` names (``auto`` resolved). Heavy: call in ``setup()``."""
    backend = resolve_translator(config)
    if backend == "py2many":
        from pipeline.translate.py2many import Py2ManyTranslator

        return Py2ManyTranslator(config)
    if backend == "hf":
        from pipeline.translate.hf import HFTranslator

        return HFTranslator(config)
    if backend == "openai":
        from pipeline.translate.openai import OpenAITranslator

        return OpenAITranslator(config)
    from pipeline.translate.vllm import VLLMTranslator

    return VLLMTranslator(config)


def preflight(config: TranslateConfig) -> None:
    """Check before the run what would make every request fail; raise ``TranslatorConfigError``.

    ``openai``: one 1-token request (a wrong key, base URL or model name stops the launch).
    ``hf``: the model's config loads from ``--model``. ``vllm`` and ``py2many``: nothing here
    (the vLLM server starts on the workers; a server that does not start stops the run there).
    """
    backend = resolve_translator(config)
    if backend == "openai":
        from pipeline.translate.openai import preflight as openai_preflight

        openai_preflight(config)
    elif backend == "hf":
        from transformers import AutoConfig

        try:
            AutoConfig.from_pretrained(config.model)
        except (OSError, ValueError) as exc:
            raise TranslatorConfigError(
                f"--model={config.model} cannot be loaded: {' '.join(str(exc).split())[:300]}"
            ) from None


def translator_identity(config: TranslateConfig, backend: str) -> tuple[str, str, str]:
    """(translator name, prompt version, sampling JSON) of a backend: the cache's key parts."""
    if backend == "py2many":
        from pipeline.translate.py2many import py2many_version

        return f"py2many:{py2many_version()}", "none", "{}"
    return f"{backend}:{config.model}", PROMPT_VERSION, config.sampling_json()


def _open_cache(config: TranslateConfig):
    if not config.cache_dir:
        return None
    from pipeline.translate.cache import TranslationCache

    return TranslationCache(config.cache_dir)


class _TranslateFn(StageFn):
    """A batch of requests -> (request, result) for each, through the cache and the backend."""

    NAMESPACE = NAMESPACE

    def __init__(self, config: TranslateConfig, backend: str) -> None:
        self._config = config
        self._backend = backend

    def setup(self) -> None:
        from dataclasses import replace

        self._translator = make_translator(replace(self._config, translator=self._backend))
        self._cache = _open_cache(self._config)

    def process(self, batch: list[TranslationRequest]):
        t = self._translator
        ident = (t.name, t.prompt_version, t.sampling_json())
        cached = (
            self._cache.get_many(batch, *ident) if self._cache is not None else [None] * len(batch)
        )
        todo = [r for r, c in zip(batch, cached, strict=True) if c is None]
        self.count("cache_hits", len(batch) - len(todo))
        repair_round = batch[0].repair_round if batch else 0  # a repair pass sends one round
        if repair_round:
            count_repair_cache(repair_round, len(batch) - len(todo), len(todo))
        fresh: dict[str, Translation | TranslationFailure] = {}
        if todo:
            self.count("cache_misses", len(todo))
            before = t.stats()
            results = t.translate(todo)
            if len(results) != len(todo):
                raise RuntimeError(
                    f"{t.name} returned {len(results)} results for {len(todo)} requests"
                )
            after = t.stats()
            deltas = {
                k: int(after.get(k, 0) - before.get(k, 0))
                for k in ("requests", "tokens_in", "tokens_out")
            }
            for k, n in deltas.items():
                self.count(f"{self._backend}_{k}", n)
            if repair_round:
                count_repair_tokens(repair_round, deltas["tokens_in"], deltas["tokens_out"])
            for r, res in zip(todo, results, strict=True):
                fresh[r.key] = res
                self.latency(res.latency_s * 1000, f"{self._backend}_latency_ms")
            if self._cache is not None:
                self._cache.put_many(zip(todo, results, strict=True), *ident)
        for r, c in zip(batch, cached, strict=True):
            yield r, (c if c is not None else fresh[r.key])

    def teardown(self) -> None:
        for obj in (getattr(self, "_translator", None), getattr(self, "_cache", None)):
            if obj is not None:
                obj.close()


class _GroupCacheLookupFn(StageFn):
    """vLLM path: a batch of ``SampleGroup`` -> cached (request, result) out; for each group
    with attempts still to generate, a group of those (tagged ``misses``)."""

    NAMESPACE = NAMESPACE

    def __init__(self, config: TranslateConfig) -> None:
        self._config = config

    def setup(self) -> None:
        self._cache = _open_cache(self._config)
        self._ident = translator_identity(self._config, "vllm")

    def process(self, batch):
        from dataclasses import replace

        requests = [r for group in batch for r in group.requests()]
        cached = (
            self._cache.get_many(requests, *self._ident)
            if self._cache is not None
            else [None] * len(requests)
        )
        found = {r.key: c for r, c in zip(requests, cached, strict=True) if c is not None}
        if requests and requests[0].repair_round:  # a repair pass sends one round
            count_repair_cache(requests[0].repair_round, len(found), len(requests) - len(found))
        for group in batch:
            missing = []
            for request in group.requests():
                if request.key in found:
                    self.count("cache_hits")
                    yield request, found[request.key]
                else:
                    self.count("cache_misses")
                    missing.append(request.attempt)
            if missing:
                yield beam.pvalue.TaggedOutput("misses", replace(group, attempts=tuple(missing)))

    def teardown(self) -> None:
        if getattr(self, "_cache", None) is not None:
            self._cache.close()


class _StoreFn(beam.DoFn):
    """vLLM path: store fresh results in the cache (batched), pass them on."""

    def __init__(self, config: TranslateConfig) -> None:
        self._config = config

    def setup(self) -> None:
        self._cache = _open_cache(self._config)
        self._ident = translator_identity(self._config, "vllm")

    def process(self, batch):
        if self._cache is not None:
            self._cache.put_many(batch, *self._ident)
        yield from batch

    def teardown(self) -> None:
        if getattr(self, "_cache", None) is not None:
            self._cache.close()


class _RouteFn(StageFn):
    """(request, result) -> Candidate (main) or RejectedRow (``rejected``), with metrics."""

    NAMESPACE = NAMESPACE

    def process(self, element):
        request, result = element
        self.seen()
        self.latency(result.latency_s * 1000)
        if isinstance(result, Translation):
            yield self.keep(Candidate(request.pair, result))
        else:
            yield self.reject(result.to_rejected(), result.reason)


class Translate(beam.PTransform):
    """SourcePair -> outputs ``candidates`` (Candidate with translation) and ``rejected``.

    Args:
        config: the stage config.
        vllm_handler: optional keyed ModelHandler for the vllm path, taking
            ``(SampleGroup, [OpenAIChatMessage])``; default ``vllm.make_vllm_handler(config)``.
    """

    def __init__(self, config: TranslateConfig, vllm_handler: Any = None) -> None:
        super().__init__()
        self._config = config
        self._vllm_handler = vllm_handler

    def expand(self, pairs):
        config = self._config
        backend = resolve_translator(config)
        if backend == "vllm":
            from pipeline.translate.vllm import groups_for

            groups = pairs | "SampleGroups" >> beam.FlatMap(groups_for, config)
            results = _vllm_results(groups, config, self._vllm_handler)
        else:
            requests = pairs | "Requests" >> beam.FlatMap(requests_for, config)
            results = _backend_results(requests, config, backend)
        return results | "Route" >> beam.ParDo(_RouteFn()).with_outputs(
            "rejected", main="candidates"
        )


class TranslateRequests(beam.PTransform):
    """``TranslationRequest`` -> outputs ``candidates`` and ``rejected``, like ``Translate``, for
    requests made elsewhere: the repair loop's continued conversations (``pipeline/repair.py``).

    On vLLM each request is one group sent with ``n=1`` (``vllm.repair_group``): Beam's handler
    takes one ``n`` and one seed per RunInference, so a repair pass is a ``TranslateRequests``
    of its own with ``config.num_samples == 1``.
    """

    def __init__(self, config: TranslateConfig, vllm_handler: Any = None) -> None:
        super().__init__()
        if resolve_translator(config) == "vllm" and config.num_samples != 1:
            raise ValueError(
                "TranslateRequests on vLLM sends each request alone: use num_samples=1"
            )
        self._config = config
        self._vllm_handler = vllm_handler

    def expand(self, requests):
        config = self._config
        backend = resolve_translator(config)
        if backend == "vllm":
            from pipeline.translate.vllm import repair_group

            groups = requests | "Groups" >> beam.Map(repair_group)
            results = _vllm_results(groups, config, self._vllm_handler)
        else:
            results = _backend_results(requests, config, backend)
        return results | "Route" >> beam.ParDo(_RouteFn()).with_outputs(
            "rejected", main="candidates"
        )


def _backend_results(requests, config: TranslateConfig, backend: str):
    """py2many, hf, openai: batches of requests through the cache and the backend."""
    batches = requests | "Batch" >> beam.BatchElements(
        min_batch_size=1, max_batch_size=config.batch_size
    )
    return batches | "TranslateBatch" >> beam.ParDo(_TranslateFn(config, backend))


def _vllm_results(groups, config: TranslateConfig, handler: Any):
    """vLLM: batches of sample groups through the cache lookup, RunInference and the cache store."""
    from pipeline.translate.vllm import VLLMTranslate

    batches = groups | "Batch" >> beam.BatchElements(
        min_batch_size=1, max_batch_size=config.batch_size
    )
    looked = batches | "CacheLookup" >> beam.ParDo(_GroupCacheLookupFn(config)).with_outputs(
        "misses", main="hits"
    )
    generated = (
        looked.misses
        | "VLLM" >> VLLMTranslate(config, handler)
        | "BatchStore" >> beam.BatchElements(min_batch_size=1, max_batch_size=config.batch_size * 4)
        | "Store" >> beam.ParDo(_StoreFn(config))
    )
    return (looked.hits, generated) | "Merge" >> beam.Flatten()


def throughput_from_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Per-backend throughput and cache counts for ``stats.json``.

    ``metrics`` is ``{"counters": {"ns/name": n}, "distributions": {"ns/name": {...}}}`` as
    ``pipeline.stats.beam_metrics`` returns it. For vLLM, latency comes from RunInference's
    own ``inference_batch_latency_micro_secs`` distribution when present; ``requests`` counts
    HTTP requests (one per (pair, target), each with ``n`` samples).
    """
    counters = metrics.get("counters", {})
    dists = metrics.get("distributions", {})
    out: dict[str, Any] = {
        "cache_hits": int(counters.get(f"{NAMESPACE}/cache_hits", 0)),
        "cache_misses": int(counters.get(f"{NAMESPACE}/cache_misses", 0)),
        "backends": {},
    }
    for backend in BACKENDS:
        keys = {k: f"{NAMESPACE}/{backend}_{k}" for k in ("requests", "tokens_in", "tokens_out")}
        if not any(v in counters for v in keys.values()):
            continue
        row: dict[str, Any] = {k: int(counters.get(v, 0)) for k, v in keys.items()}
        lat = dists.get(f"{NAMESPACE}/{backend}_latency_ms")
        if backend == "vllm" and lat is None:
            lat_us = next(
                (d for k, d in dists.items() if k.endswith("inference_batch_latency_micro_secs")),
                None,
            )
            if lat_us:
                lat = {"mean": lat_us["mean"] / 1000, "sum": lat_us["sum"] / 1000}
        if lat:
            row["latency_ms_mean"] = round(lat["mean"], 2)
            busy_s = lat["sum"] / 1000
            if busy_s > 0:
                row["tokens_out_per_busy_s"] = round(row["tokens_out"] / busy_s, 2)
        out["backends"][backend] = row
    return out
