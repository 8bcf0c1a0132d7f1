"""The language registry: one module per language, holding everything the project knows of it.

Each ``languages/<name>.py`` defines ``LANGUAGE``, a :class:`~languages.spec.LanguageSpec`:
the sandbox's toolchain entry and self-test programs, how the toolchain is installed, the
prompt notes and fence tag, how code is found in a model's reply, parse-check wrappers, the
source-mining rules (definition node types, doc comments, file extensions, test files) and the
display name; ``harness`` names the module under ``pipeline/harness/`` that renders its test
programs. Every other part of the project reads the language facts from here.

This package imports nothing else of the project (like ``schemas/``), so every package may
import it, the sandbox included. Adding a language: a module here, its name in ``_MODULES``
below, its harness module, its sandbox fixtures and image (docs/design.md, "Adding a
language").
"""

from __future__ import annotations

from languages import c, cpp, go, java, javascript, php, python, ruby, rust, typescript
from languages.spec import (
    BASE_PATH,
    Install,
    LanguageSpec,
    Mining,
    Parsing,
    Prompt,
    Replies,
    Toolchain,
    expand,
)

_MODULES = (python, javascript, java, cpp, c, go, rust, php, ruby, typescript)

#: Every language, by canonical name, in one fixed order (the default target order).
REGISTRY: dict[str, LanguageSpec] = {m.LANGUAGE.name: m.LANGUAGE for m in _MODULES}

#: Canonical names in registry order.
NAMES: tuple[str, ...] = tuple(REGISTRY)

_ALIASES: dict[str, str] = {
    key: spec.name for spec in REGISTRY.values() for key in (spec.name, *spec.aliases)
}


def canonical(name: str) -> str | None:
    """The canonical name of ``name`` or one of its aliases (case-insensitive), or None."""
    return _ALIASES.get(name.strip().lower()) if isinstance(name, str) else None


def get(name: str) -> LanguageSpec:
    """The entry of ``name`` or one of its aliases; ValueError naming the valid ones."""
    key = canonical(name)
    if key is None:
        raise ValueError(
            f"unknown language {name!r}; valid: {', '.join(sorted(REGISTRY))} (or their aliases)"
        )
    return REGISTRY[key]


__all__ = [
    "BASE_PATH",
    "NAMES",
    "REGISTRY",
    "Install",
    "LanguageSpec",
    "Mining",
    "Parsing",
    "Prompt",
    "Replies",
    "Toolchain",
    "canonical",
    "expand",
    "get",
]
