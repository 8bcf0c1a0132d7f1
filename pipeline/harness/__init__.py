"""Per-language test harnesses (MultiPL-E style): one module per target language.

The language registry names each language's module (``languages/<name>.py``: ``harness``);
``HARNESSES`` imports them from there, so a new language needs no line here.

Each module offers ``defined_functions(code)``, ``render(request) -> str`` (the whole program:
translation plus a main that prints each case's result in the canonical form of
:mod:`pipeline.harness.protocol`; raises ``Unrenderable`` when a case or type cannot be
written in that language) and ``library_unit(code) -> str`` (the translation with a trivial
main, for pairs without tests). The host judges the output with
``protocol.read_block`` and ``protocol.case_outcomes``; expected values never enter a program.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import languages
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

#: Every language's harness module, by canonical name: the module the registry entry names
#: (``languages/<name>.py``, ``harness``). Its ``LANGUAGE`` must be that name.
HARNESSES: dict[str, ModuleType] = {
    name: importlib.import_module(spec.harness) for name, spec in languages.REGISTRY.items()
}


def harness_for(language: str) -> ModuleType:
    """The harness module of ``language`` (aliases such as ``c++``, ``js`` accepted)."""
    key = languages.canonical(language)
    if key is None or key not in HARNESSES:
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
