"""Versioned prompt templates for model translators.

A prompt is a short chat: a system message fixing the task and a user message with the
source function, its documentation and the instruction to keep the function's name,
signature semantics and behaviour and to answer with one fenced code block. The template
can differ per (source, target) pair: the target's notes and fence tag come from the language
registry (``languages/<name>.py``, ``Prompt``), plus ``STATIC_TYPES_NOTE`` from a dynamically
to a statically typed language. The
version string goes into every ``Translation.prompt_version`` and into the cache key, so
changing any text here means bumping ``PROMPT_VERSION``.

The instruction follows the task SynthCoNL (the MoSE paper's dataset) gave its translator
(translate a CodeSearchNet function, keep what it does) and MultiPL-E's habit of per-language
notes on what a program in that language should look like.
"""

from __future__ import annotations

import logging
from typing import Any

from languages import REGISTRY
from schemas import SourcePair

LOG = logging.getLogger(__name__)

#: Bump on any change to the texts below (it is part of the translation cache key).
PROMPT_VERSION = "v1"

#: Display names used in prompts, and the fence tags a model is asked to use (the registry's).
DISPLAY_NAMES: dict[str, str] = {name: spec.display_name for name, spec in REGISTRY.items()}
FENCE_TAGS: dict[str, str] = {name: spec.fence_tag for name, spec in REGISTRY.items()}

SYSTEM_PROMPT = (
    "You are an expert programmer who translates functions between programming languages "
    "faithfully. You answer with code only."
)

#: What a translated function should look like in each target (only the function(s) and the
#: imports/includes they need, no main, no tests), so the sandbox harness can call it.
TARGET_NOTES: dict[str, str] = {name: spec.prompt.notes for name, spec in REGISTRY.items()}

#: Added to the target's notes when a dynamically typed language is translated into a
#: statically typed one (``Prompt.static_types``): type hints matter most there.
STATIC_TYPES_NOTE = "Infer precise static types from the code, the docstring and its examples."


def pair_notes(source: str, target: str) -> str | None:
    """The extra instruction for a (source, target) pair, or None."""
    src, dst = REGISTRY.get(source), REGISTRY.get(target)
    if (
        src is not None
        and dst is not None
        and not src.prompt.static_types
        and dst.prompt.static_types
    ):
        return STATIC_TYPES_NOTE
    return None


USER_TEMPLATE = """Translate the following {source} function into {target}.

Keep the function's name (adapted only to {target} naming rules if required), the meaning of \
its parameters and return value, and its behaviour on every input, including edge cases. \
{notes}

Documentation of the function:
{docstring}

{source} source:
```{source_tag}
{code}
```

Answer with exactly one fenced code block tagged `{target_tag}` containing the complete \
{target} translation, and nothing else."""


def render_messages(pair: SourcePair, target_language: str) -> list[dict[str, str]]:
    """The chat messages (OpenAI format) asking to translate ``pair`` into the target."""
    source = pair.language.lower()
    if target_language not in REGISTRY:
        raise ValueError(
            f"no prompt template for target {target_language!r}; valid: {', '.join(REGISTRY)}"
        )
    notes = TARGET_NOTES[target_language]
    extra = pair_notes(source, target_language)
    if extra:
        notes = f"{notes} {extra}"
    user = USER_TEMPLATE.format(
        source=DISPLAY_NAMES.get(source, pair.language),
        target=DISPLAY_NAMES[target_language],
        source_tag=FENCE_TAGS.get(source, source),
        target_tag=FENCE_TAGS[target_language],
        notes=notes,
        docstring=(pair.docstring or "").strip() or "(none)",
        code=pair.code.rstrip("\n"),
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def render_plain(messages: list[dict[str, str]]) -> str:
    """A plain-text rendering for tokenizers without a chat template (base models)."""
    parts = [f"### {m['role'].capitalize()}:\n{m['content']}" for m in messages]
    return "\n\n".join(parts) + "\n\n### Assistant:\n"


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[str, bool]:
    """The prompt text for a local model: its own chat template when it has one.

    Returns (text, used_chat_template). Without a chat template the plain rendering is used
    (the caller logs that once).
    """
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return str(text), True
    return render_plain(messages), False
