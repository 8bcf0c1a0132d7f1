"""The translate stage: source functions into other languages (docs/design.md, "Data flow").

Backends behind one interface (``Translator``): ``py2many`` (rule-based, CPU), ``hf`` (a
local transformers model), ``openai`` (any OpenAI-compatible server) and ``vllm`` (Beam
RunInference on GPU workers). ``Translate(config)`` is the pipeline stage; see
docs/translation.md.
"""

from pipeline.translate.base import (
    LANGUAGES,
    STAGE,
    TRANSLATORS,
    Reason,
    TranslateConfig,
    TranslationFailure,
    TranslationRequest,
    Translator,
    TranslatorConfigError,
    reject_request,
    requests_for,
    targets_for,
)
from pipeline.translate.cache import TranslationCache, cache_key
from pipeline.translate.extract import Extraction, build_result, extract_code
from pipeline.translate.prompts import PROMPT_VERSION, render_messages, render_plain, render_prompt
from pipeline.translate.transform import (
    Translate,
    TranslateRequests,
    make_translator,
    preflight,
    resolve_translator,
    throughput_from_metrics,
    translator_identity,
)

__all__ = [
    "LANGUAGES",
    "PROMPT_VERSION",
    "STAGE",
    "TRANSLATORS",
    "Extraction",
    "Reason",
    "Translate",
    "TranslateConfig",
    "TranslateRequests",
    "TranslationCache",
    "TranslationFailure",
    "TranslationRequest",
    "Translator",
    "TranslatorConfigError",
    "build_result",
    "cache_key",
    "extract_code",
    "make_translator",
    "preflight",
    "reject_request",
    "render_messages",
    "render_plain",
    "render_prompt",
    "requests_for",
    "resolve_translator",
    "targets_for",
    "throughput_from_metrics",
    "translator_identity",
]
