"""Versioned prompt templates for model translators.

A prompt is a short chat: a system message fixing the task and a user message with the
source function, its documentation and the instruction to keep the function's name,
signature semantics and behaviour and to answer with one fenced code block. The template
can differ per (source, target) pair (``TARGET_NOTES`` adds target-specific hints). The
version string goes into every ``Translation.prompt_version`` and into the cache key, so
changing any text here means bumping ``PROMPT_VERSION``.

The instruction follows the task SynthCoNL (the MoSE paper's dataset) gave its translator
(translate a CodeSearchNet function, keep what it does) and MultiPL-E's habit of per-language
notes on what a program in that language should look like.
"""

from __future__ import annotations

import logging
from typing import Any

from schemas import SourcePair

LOG = logging.getLogger(__name__)

#: Bump on any change to the texts below (it is part of the translation cache key).
PROMPT_VERSION = "v1"

#: Display names used in prompts, and the fence tags a model is asked to use.
DISPLAY_NAMES: dict[str, str] = {
    "python": "Python",
    "javascript": "JavaScript",
    "java": "Java",
    "cpp": "C++",
    "c": "C",
    "go": "Go",
    "rust": "Rust",
    "php": "PHP",
    "ruby": "Ruby",
}

FENCE_TAGS: dict[str, str] = {
    "python": "python",
    "javascript": "javascript",
    "java": "java",
    "cpp": "cpp",
    "c": "c",
    "go": "go",
    "rust": "rust",
    "php": "php",
    "ruby": "ruby",
}

SYSTEM_PROMPT = (
    "You are an expert programmer who translates functions between programming languages "
    "faithfully. You answer with code only."
)

#: What a translated function should look like in each target (only the function(s) and the
#: imports/includes they need, no main, no tests), so the sandbox harness can call it.
TARGET_NOTES: dict[str, str] = {
    "python": "Write a top-level Python 3 function with type hints; put imports above it.",
    "javascript": "Write a top-level JavaScript function declaration (no module exports, no classes).",
    "java": "Write a public static method inside `public class Solution`, with the imports it needs.",
    "cpp": "Write a free C++17 function with the #include lines it needs; no main().",
    "c": "Write a C99 function with the #include lines it needs; no main().",
    "go": "Write a Go function with the import block it needs; no package clause, no main().",
    "rust": "Write a Rust `fn` using only the standard library (no crates); no main().",
    "php": "Write a PHP function starting with `<?php`; no class unless the source is a method.",
    "ruby": "Write a top-level Ruby method (def ... end).",
}

#: Per (source, target) overrides of ``TARGET_NOTES``: type hints matter most when leaving a
#: dynamically typed language for a statically typed one.
PAIR_NOTES: dict[tuple[str, str], str] = {
    (src, dst): "Infer precise static types from the code, the docstring and its examples."
    for src in ("python", "javascript", "php", "ruby")
    for dst in ("java", "cpp", "c", "go", "rust")
}

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
    if target_language not in DISPLAY_NAMES:
        raise ValueError(f"no prompt template for target {target_language!r}; valid: {', '.join(DISPLAY_NAMES)}")
    notes = TARGET_NOTES[target_language]
    extra = PAIR_NOTES.get((source, target_language))
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
