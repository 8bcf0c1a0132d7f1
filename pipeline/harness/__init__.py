"""Per-language test harnesses (MultiPL-E style): one module per target language.

Each module offers ``defined_functions(code)``, ``render(request) -> str`` (the whole program:
translation plus a main that prints each case's result in the canonical form of
:mod:`pipeline.harness.protocol`; raises ``Unrenderable`` when a case or type cannot be
written in that language) and ``library_unit(code) -> str`` (the translation with a trivial
main, for pairs without tests). The host judges the output with
``protocol.read_block`` and ``protocol.case_outcomes``; expected values never enter a program.
"""

from __future__ import annotations

from types import ModuleType

from pipeline.harness import c, cpp, go, java, javascript, php, python, ruby, rust
from pipeline.harness.base import Case, HarnessRequest, Unrenderable
from pipeline.harness.protocol import (
    MARK,
    PROTOCOL_VERSION,
    Block,
    case_outcomes,
    new_nonce,
    read_block,
    stdin_for,
)

HARNESSES: dict[str, ModuleType] = {
    m.LANGUAGE: m for m in (c, cpp, go, java, javascript, php, python, ruby, rust)
}
_ALIASES = {"c++": "cpp", "js": "javascript", "node": "javascript", "rs": "rust", "golang": "go", "py": "python",
            "rb": "ruby"}


def harness_for(language: str) -> ModuleType:
    """The harness module of ``language`` (aliases such as ``c++``, ``js`` accepted)."""
    key = _ALIASES.get(language.lower(), language.lower())
    if key not in HARNESSES:
        raise ValueError(f"no test harness for {language!r}; known: {', '.join(sorted(HARNESSES))}")
    return HARNESSES[key]


__all__ = [
    "HARNESSES",
    "MARK",
    "PROTOCOL_VERSION",
    "Block",
    "Case",
    "HarnessRequest",
    "Unrenderable",
    "case_outcomes",
    "harness_for",
    "new_nonce",
    "read_block",
    "stdin_for",
]
