"""Reply handling: get the code out of a model's reply, or say why there is none.

Real replies wrap the code in many ways (Qwen2.5-Coder and DeepSeek-Coder add prose and
explanations, reasoning models think aloud first, chatty models split the answer over
several blocks). The rules, in order:

1. a reply that hit the token limit is ``truncated`` (its code is incomplete);
2. reasoning is dropped: everything up to the last ``</think>`` (also ``</thinking>``,
   ``</reasoning>``; the opening tag may be missing when the chat template sent it); a reply
   that is only an unfinished reasoning block has no answer (``empty_reply``);
3. fenced blocks are read line by line: a fence indented under a list item is dedented; a
   closing fence glued to the last code line (``}```) closes the block when no proper
   closing fence follows; a block that is the source function quoted back is ignored;
4. the block to keep is ranked by: not tagged with another language (a dialect of the target
   such as ``typescript`` for JavaScript, or ``c`` for C++, counts as the target's), defines the
   requested function (under any name variant the test harness accepts: ``foo_bar``,
   ``fooBar``, ``FooBar``), tagged with the target, then first (tagged) or longest (untagged);
   a single block is kept whatever its tag;
5. blocks of the same language before it that hold only imports/includes (and, for C and C++,
   prototypes the kept block calls before defining) are joined in front of it, since the code
   does not compile without them; a prototype the code does not need is left out;
6. no complete block but an opening fence that never closes: ``truncated``;
7. no fences at all: the reply minus leading and trailing prose lines;
8. nothing left: ``empty_reply``.

The raw reply is always kept by the caller so rejected rows show it.
"""

from __future__ import annotations

import dataclasses
import re

from languages import REGISTRY
from pipeline.translate.base import Reason, TranslationFailure, TranslationRequest
from schemas import Translation

#: Fence tags models use for each language (lowercase, compared after stripping).
TAG_ALIASES: dict[str, frozenset[str]] = {
    name: frozenset(spec.replies.tags) for name, spec in REGISTRY.items()
}

#: Tags of a neighbouring dialect that models use for the target's code.
DIALECT_TAGS: dict[str, frozenset[str]] = {
    name: frozenset(spec.replies.dialect_tags)
    for name, spec in REGISTRY.items()
    if spec.replies.dialect_tags
}

#: Tags that mark a block as not code at all (program output, shell sessions, plain text).
NON_CODE_TAGS: frozenset[str] = frozenset(
    {
        "text",
        "txt",
        "plaintext",
        "output",
        "console",
        "shell",
        "sh",
        "bash",
        "zsh",
        "json",
        "yaml",
        "diff",
        "log",
    }
)

# Opening fence: indent, ``` or ~~~ (3+), an optional info string without backticks.
_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*?)[ \t]*$")
# Reasoning blocks; the closing tag alone suffices (the template may have sent the opening one).
_THINK_CLOSE = re.compile(r"</(think|thinking|reasoning|reason)>", re.IGNORECASE)
_THINK_OPEN = re.compile(r"^\s*<(think|thinking|reasoning|reason)>", re.IGNORECASE)

# Lines that are prose, not code, when a reply has no fences.
_PROSE_START = re.compile(
    r"^(here is|here's|here are|sure|certainly|of course|below is|the following|this (function|code|translation|version|implementation)|"
    r"note|explanation|i have|i've|i'll|in this|this is|to translate|the translated|translation|output|"
    r"okay|ok,|alright|we |let's|let me)\b",
    re.IGNORECASE,
)
_WORDS = re.compile(r"[A-Za-z][A-Za-z'’-]*")

# Definitions of a function called NAME, per language ({name} is a regex of name variants).
_DEFINES: dict[str, str] = {
    name: spec.replies.defines for name, spec in REGISTRY.items() if spec.replies.defines
}

# Lines a header-only block may hold (imports, includes, package clauses, comments).
_HEADER_LINE: dict[str, str] = {
    name: spec.replies.header_line for name, spec in REGISTRY.items() if spec.replies.header_line
}
#: Languages whose header blocks may hold prototypes (C, C++).
_PROTOTYPE_LANGUAGES: frozenset[str] = frozenset(
    name for name, spec in REGISTRY.items() if spec.replies.prototypes
)
# A C/C++ prototype: a declaration ending in ``;`` with a parameter list and no body.
_PROTOTYPE = re.compile(
    r"^[\w\s\*&:<>,\[\]]*?\b(?P<name>\w+)\s*\([^;{}()]*\)\s*(?:const\s*)?(?:noexcept\s*)?;\s*$"
)
_COMMENT_LINE = re.compile(
    r"^\s*(?://.*|#(?!\s*(?:include|define|pragma)\b).*|/\*.*\*/|\*.*|/\*.*|--.*)$"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Extraction:
    """Code taken from a reply, or the reason there is none (``code`` is None then)."""

    code: str | None
    reason: str | None = None
    detail: str | None = None
    how: str = ""  # tagged | dialect | only_block | defines_function | first_block | longest_block | unfenced (+header)


@dataclasses.dataclass(frozen=True, slots=True)
class _Block:
    index: int
    tag: str  # first word of the info string, lowercase
    body: str
    glued: bool = False


def _tag_word(info: str) -> str:
    word = info.strip().split()[0].lower() if info.strip() else ""
    return word.lstrip("{.").rstrip("}").split(",")[0]


def tag_language(tag: str) -> str | None:
    """The language a fence tag names (``c++`` -> ``cpp``), or None."""
    word = _tag_word(tag)
    for lang, aliases in TAG_ALIASES.items():
        if word in aliases:
            return lang
    return None


def block_language(tag: str, target: str) -> str | None:
    """The language of a block tagged ``tag`` when ``target`` was asked for: a dialect tag of
    the target (``typescript`` on a JavaScript answer) counts as the target's."""
    if _tag_word(tag) in DIALECT_TAGS.get(target, ()):
        return target
    return tag_language(tag)


def strip_reasoning(text: str) -> tuple[str, bool]:
    """(the reply after its reasoning, whether the reply is an unfinished reasoning block)."""
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        return text[closes[-1].end() :], False
    if _THINK_OPEN.match(text):
        return "", True
    return text, False


def _dedent(lines: list[str], indent: str) -> list[str]:
    """Remove up to ``len(indent)`` leading blanks from each line (a fence under a list item)."""
    if not indent:
        return lines
    out = []
    for line in lines:
        k = 0
        while k < len(indent) and k < len(line) and line[k] in " \t":
            k += 1
        out.append(line[k:])
    return out


def _is_close(line: str, fence: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= len(fence) and set(stripped) == {fence[0]}


def _glued_close(line: str, fence: str) -> str | None:
    """The code before a closing fence glued to the end of ``line`` (``return x}```), or None."""
    stripped = line.rstrip()
    if (
        stripped.strip()
        and not stripped.lstrip().startswith(fence[0] * 3)
        and stripped.endswith(fence[0] * 3)
    ):
        return stripped.rstrip(fence[0])
    return None


def _proper_close_ahead(lines: list[str], start: int, fence: str) -> bool:
    """Whether a proper closing fence follows before the next opening fence with a tag."""
    for line in lines[start:]:
        if _is_close(line, fence):
            return True
        m = _OPEN.match(line)
        if m and m.group("info").strip():
            return False
    return False


def fenced_blocks(text: str) -> tuple[list[_Block], bool]:
    """The complete fenced blocks of ``text``, and whether a block was left open at the end."""
    lines = text.split("\n")
    blocks: list[_Block] = []
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = m.group("indent"), m.group("fence"), m.group("info")
        body: list[str] = []
        glued = False
        j = i + 1
        closed = False
        while j < len(lines):
            line = lines[j]
            if _is_close(line, fence):
                closed = True
                break
            before = _glued_close(line, fence)
            if before is not None and not _proper_close_ahead(lines, j + 1, fence):
                body.append(before)
                closed = glued = True
                break
            body.append(line)
            j += 1
        if not closed:
            return blocks, True
        blocks.append(_Block(len(blocks), _tag_word(info), "\n".join(_dedent(body, indent)), glued))
        i = j + 1
    return blocks, False


def _normalise(code: str) -> str:
    return re.sub(r"\s+", "", code)


def _name_pattern(function_name: str) -> str:
    """A regex alternation of the names a translation may give ``function_name``: the harness's
    variants (``foo_bar``, ``fooBar``, ``FooBar``), then any case with or without underscores."""
    from pipeline.harness.base import name_variants

    short = function_name.rsplit(".", 1)[-1]
    letters = short.replace("_", "")
    fuzzy = "_?".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in letters)
    return "|".join([*(re.escape(v) for v in name_variants(short)), fuzzy])


def defines_function(code: str, language: str, function_name: str | None) -> bool:
    """Whether ``code`` defines ``function_name`` (under a name variant the harness accepts)."""
    if not function_name:
        return False
    template = _DEFINES.get(language)
    if not template:
        return False
    pattern = template.format(name=_name_pattern(function_name))
    return re.search(pattern, code, re.MULTILINE) is not None


def _header_only(code: str, language: str) -> bool:
    """Only imports/includes/package clauses/prototypes/comments (and at least one of the first four)."""
    rule = _HEADER_LINE.get(language)
    if rule is None:
        return False
    pattern = re.compile(rf"^\s*{rule}\s*$")
    useful = False
    for line in code.splitlines():
        if not line.strip() or _COMMENT_LINE.match(line):
            continue
        if pattern.match(line):
            useful = True
        elif language in _PROTOTYPE_LANGUAGES and _PROTOTYPE.match(line):
            useful = True
        else:
            return False
    return useful


_KEYWORDS = frozenset(
    {
        "if",
        "for",
        "while",
        "switch",
        "catch",
        "return",
        "sizeof",
        "elif",
        "else",
        "do",
        "new",
        "function",
    }
)


def defined_names(code: str, language: str) -> set[str]:
    """Names of the functions ``code`` defines (by the same per-language rules as above)."""
    template = _DEFINES.get(language)
    if not template:
        return set()
    pattern = template.replace("(?:{name})", r"([A-Za-z_$][\w$]*[?!]?)").format()
    names = set()
    for m in re.finditer(pattern, code, re.MULTILINE):
        name = next((g for g in m.groups() if g), None)
        if name and name not in _KEYWORDS:
            names.add(name)
    return names


def _helpers_called(helper: str, code: str, language: str) -> bool:
    """Whether ``helper`` defines a function that ``code`` calls but does not define itself."""
    needed = defined_names(helper, language) - defined_names(code, language)
    return any(re.search(rf"(?<![\w$.]){re.escape(n)}\s*\(", code) for n in needed)


def _needed_header(header: str, code: str, language: str) -> str:
    """The lines of a header-only block ``code`` needs: every import/include it does not already
    have; for C/C++ prototypes, only those of functions ``code`` calls before defining them."""
    kept = []
    present = {_normalise(line) for line in code.splitlines()}
    for line in header.splitlines():
        if _normalise(line) in present and line.strip():
            continue
        proto = _PROTOTYPE.match(line) if language in _PROTOTYPE_LANGUAGES else None
        if proto:
            name = proto.group("name")
            call = re.search(rf"\b{re.escape(name)}\s*\(", code)
            definition = re.search(rf"\b{re.escape(name)}\s*\([^;{{}}]*\)[^;{{}}]*\{{", code)
            if call is None or (definition is not None and definition.start() <= call.start()):
                continue  # not called, or defined before its first use: the prototype is not needed
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    while kept and not kept[0].strip():
        kept.pop(0)
    if not any(line.strip() and not _COMMENT_LINE.match(line) for line in kept):
        return ""
    return "\n".join(kept)


def _looks_like_prose(line: str) -> bool:
    text = line.strip()
    if not text:
        return True
    if _PROSE_START.match(text):
        return True
    if text.startswith(("#", "//", "/*", "*", "--")) or text[-1] in ";{}()[],=+":
        return False
    words = _WORDS.findall(text)
    code_marks = sum(text.count(c) for c in "(){}[];=<>:$")
    return len(words) >= 5 and code_marks <= 1 and text[0].isalpha() and text[-1] in ".!?:"


def strip_prose(text: str) -> str:
    """The reply minus leading and trailing prose lines (for replies without fences)."""
    lines = text.strip("\n").splitlines()
    while lines and _looks_like_prose(lines[0]):
        lines.pop(0)
    while lines and _looks_like_prose(lines[-1]):
        lines.pop()
    return "\n".join(lines)


def _rank(block: _Block, target: str, function_name: str | None) -> tuple:
    """Sort key (higher is better) of a candidate block; see rule 4 of the module docstring."""
    language = tag_language(block.tag)
    if block.tag in TAG_ALIASES.get(target, ()) or language == target:
        tag_rank = 3
    elif block.tag in DIALECT_TAGS.get(target, ()):
        tag_rank = 2
    elif not block.tag:
        tag_rank = 1
    else:
        tag_rank = 0  # another language, or not code (text, output, shell)
    defines = defines_function(block.body, target, function_name)
    size = len(block.body.strip()) if tag_rank <= 1 else 0
    return (tag_rank >= 1, defines, tag_rank, size, -block.index)


def extract_code(
    reply: str | None,
    target_language: str,
    truncated: bool = False,
    *,
    function_name: str | None = None,
    source_code: str | None = None,
) -> Extraction:
    """Extract the ``target_language`` code from ``reply`` (see the module docstring).

    Args:
        reply: the model's reply text.
        target_language: the language asked for.
        truncated: the backend's "stopped at max tokens" flag (OpenAI ``finish_reason ==
            "length"``; for local models, the generation used every new token without an EOS).
        function_name: the source function's name; a block defining it (under any name
            variant the harness accepts) is preferred.
        source_code: the source function; a block quoting it back is never taken.
    """
    text = (reply or "").replace("\r\n", "\n")
    if truncated:
        return Extraction(
            None, Reason.TRUNCATED, f"reply hit the token limit after {len(text)} characters"
        )
    if not text.strip():
        return Extraction(None, Reason.EMPTY_REPLY, "the model returned an empty reply")
    text, only_reasoning = strip_reasoning(text)
    if only_reasoning:
        return Extraction(
            None, Reason.EMPTY_REPLY, "the reply is an unfinished reasoning block with no answer"
        )
    blocks, dangling = fenced_blocks(text)
    source = _normalise(source_code) if source_code else None
    candidates = [
        b for b in blocks if b.body.strip() and (source is None or _normalise(b.body) != source)
    ]
    if not candidates:
        if dangling:  # an unclosed fence the model did not finish: incomplete code
            return Extraction(
                None, Reason.TRUNCATED, "the reply opens a code block it never closes"
            )
        if blocks:
            what = (
                "quotes the source back"
                if any(b.body.strip() for b in blocks)
                else "holds only empty code blocks"
            )
            return Extraction(None, Reason.EMPTY_REPLY, f"the reply {what}")
        code = strip_prose(text)
        if not code.strip():
            return Extraction(None, Reason.EMPTY_REPLY, "no code in the reply")
        return Extraction(code.strip("\n") + "\n", how="unfenced")
    best = max(candidates, key=lambda b: _rank(b, target_language, function_name))
    how = _how(best, candidates, target_language, function_name)
    code = best.body.strip("\n")
    joined: list[str] = []
    best_language = block_language(best.tag, target_language) or target_language
    for block in candidates[: candidates.index(best)]:
        if (
            block.tag
            and (block_language(block.tag, target_language) or target_language) != best_language
        ):
            continue  # another language: never part of the answer
        body = block.body.strip("\n")
        if _header_only(body, target_language):
            needed = _needed_header(body, code, target_language)
            if needed:
                joined.append(needed)
                how += "+header"
        elif _helpers_called(body, code, target_language):
            joined.append(body)
            how += "+helper"
    if joined:
        code = "\n\n".join([*joined, code])
    if not code.strip():
        return Extraction(None, Reason.EMPTY_REPLY, f"no code in the reply ({how})")
    return Extraction(code + "\n", how=how)


def _how(best: _Block, candidates: list[_Block], target: str, function_name: str | None) -> str:
    """How the kept block was chosen (``Extraction.how``), for tests and debugging."""
    rank = _rank(best, target, function_name)
    if len(candidates) > 1 and rank[1]:
        return "defines_function"
    if rank[2] == 3:
        return "tagged"
    if len(candidates) == 1:
        return "only_block"
    if rank[2] == 2:
        return "dialect"
    return "longest_block"


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
    got = extract_code(
        reply,
        request.target_language,
        truncated=truncated,
        function_name=request.pair.func_name,
        source_code=request.pair.code,
    )
    if got.code is None:
        return TranslationFailure(
            request,
            got.reason or Reason.EMPTY_REPLY,
            got.detail,
            reply or "",
            translator,
            prompt_version,
            sampling,
            round(latency_s, 4),
        )
    return Translation(
        pair_id=request.pair.pair_id,
        target_language=request.target_language,
        code=got.code,
        translator=translator,
        prompt_version=request.prompt_version(prompt_version),
        sampling=sampling,
        attempt=request.attempt,
        latency_s=round(latency_s, 4),
        raw_reply=reply,
        repair_round=request.repair_round,
        repair_of=request.repair_of,
    )
