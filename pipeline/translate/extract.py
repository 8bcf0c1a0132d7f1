"""Reply handling: get the code out of a model's reply, or say why there is none.

Rules, in order (issue 5):
1. a reply that hit the token limit is ``truncated`` (its code is incomplete);
2. a fenced block tagged with the target language (first one wins);
3. else the only fenced block, whatever its tag (models often tag C++ as ``c++``/``cc``);
4. else, with several untagged/other-tagged blocks, the longest one;
5. else, no fences at all: the whole reply minus leading/trailing prose lines;
6. nothing left: ``empty_reply``.
The raw reply is always kept by the caller so rejected rows show it.
"""

from __future__ import annotations

import dataclasses
import re

from pipeline.translate.base import Reason, TranslationFailure, TranslationRequest
from schemas import Translation

#: Fence tags models use for each language (lowercase, compared after stripping).
TAG_ALIASES: dict[str, frozenset[str]] = {
    "python": frozenset({"python", "py", "python3"}),
    "javascript": frozenset({"javascript", "js", "node", "jsx", "mjs"}),
    "java": frozenset({"java"}),
    "cpp": frozenset({"cpp", "c++", "cc", "cxx", "hpp"}),
    "c": frozenset({"c", "h"}),
    "go": frozenset({"go", "golang"}),
    "rust": frozenset({"rust", "rs"}),
    "php": frozenset({"php"}),
    "ruby": frozenset({"ruby", "rb"}),
}

# An opening fence (``` or ~~~, optional info string), the body, and the closing fence.
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)[ \t]*(?P<tag>[^\n`]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.DOTALL | re.MULTILINE,
)
# An opening fence that is never closed (the model stopped mid-block).
_OPEN_FENCE = re.compile(r"^[ \t]*(```+|~~~+)[ \t]*(?P<tag>[^\n`]*)\n(?P<body>.*)\Z", re.DOTALL | re.MULTILINE)

# Lines that are prose, not code, when a reply has no fences.
_PROSE = re.compile(
    r"^(here is|here's|sure|certainly|below is|the following|this (function|code|translation)|"
    r"note:|explanation|i have|i've|in this|this is)\b",
    re.IGNORECASE,
)


@dataclasses.dataclass(frozen=True, slots=True)
class Extraction:
    """Code taken from a reply, or the reason there is none (``code`` is None then)."""

    code: str | None
    reason: str | None = None
    detail: str | None = None
    how: str = ""  # tagged | only_block | longest_block | unfenced


def _tag_language(tag: str) -> str | None:
    word = tag.strip().split()[0].lower() if tag.strip() else ""
    word = word.lstrip("{.").rstrip("}")
    for lang, aliases in TAG_ALIASES.items():
        if word in aliases:
            return lang
    return None


def _strip_prose(text: str) -> str:
    lines = text.strip("\n").splitlines()
    while lines and (not lines[0].strip() or _PROSE.match(lines[0].strip())):
        lines.pop(0)
    while lines and (not lines[-1].strip() or _PROSE.match(lines[-1].strip())):
        lines.pop()
    return "\n".join(lines)


def extract_code(reply: str | None, target_language: str, truncated: bool = False) -> Extraction:
    """Extract the ``target_language`` code from ``reply`` (see the module docstring).

    ``truncated`` is the backend's "stopped at max tokens" flag (OpenAI ``finish_reason ==
    "length"``; for local models, the generation used every new token without an EOS).
    """
    text = (reply or "").replace("\r\n", "\n")
    if truncated:
        return Extraction(None, Reason.TRUNCATED, f"reply hit the token limit after {len(text)} characters")
    if not text.strip():
        return Extraction(None, Reason.EMPTY_REPLY, "the model returned an empty reply")
    blocks = [(m.group("tag"), m.group("body")) for m in _FENCE.finditer(text)]
    if not blocks:
        dangling = _OPEN_FENCE.search(text)
        if dangling:  # an unclosed fence the model did not finish: incomplete code
            return Extraction(None, Reason.TRUNCATED, "the reply opens a code block it never closes")
    code: str | None = None
    how = ""
    tagged = [body for tag, body in blocks if _tag_language(tag) == target_language]
    if tagged:
        code, how = tagged[0], "tagged"
    elif len(blocks) == 1:
        code, how = blocks[0][1], "only_block"
    elif blocks:
        code, how = max((body for _, body in blocks), key=lambda b: len(b.strip())), "longest_block"
    else:
        code, how = _strip_prose(text), "unfenced"
    code = code.strip("\n")
    if not code.strip():
        return Extraction(None, Reason.EMPTY_REPLY, f"no code in the reply ({how})")
    return Extraction(code + "\n", how=how)


def build_result(
    request: TranslationRequest,
    reply: str | None,
    *,
    truncated: bool,
    translator: str,
    prompt_version: str,
    sampling: str,
    latency_s: float,
) -> Translation | TranslationFailure:
    """A model backend's result for one reply: a Translation, or a failure keeping the reply."""
    got = extract_code(reply, request.target_language, truncated=truncated)
    if got.code is None:
        return TranslationFailure(
            request, got.reason or Reason.EMPTY_REPLY, got.detail, reply or "", translator, prompt_version, sampling,
            round(latency_s, 4),
        )
    return Translation(
        pair_id=request.pair.pair_id,
        target_language=request.target_language,
        code=got.code,
        translator=translator,
        prompt_version=prompt_version,
        sampling=sampling,
        attempt=request.attempt,
        latency_s=round(latency_s, 4),
        raw_reply=reply,
    )
