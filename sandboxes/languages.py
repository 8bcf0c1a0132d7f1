"""The sandbox's language table: each language's toolchain entry, read from the registry.

The entries themselves live with everything else known of each language, in
``languages/<name>.py`` (a leaf package that imports nothing of this project, so the sandbox
still runs on its own); :class:`~languages.spec.Toolchain` documents the fields and the
placeholders of the commands. Both backends and the self-test read only this table.
"""

from __future__ import annotations

from languages import REGISTRY
from languages.spec import BASE_PATH, Toolchain, expand

#: One toolchain entry of the table (the sandbox's name for :class:`~languages.spec.Toolchain`).
Language = Toolchain

LANGUAGES: dict[str, Language] = {name: spec.toolchain for name, spec in REGISTRY.items()}

_ALIASES: dict[str, str] = {
    key: lang.name for lang in LANGUAGES.values() for key in (lang.name, *lang.aliases)
}


def resolve_language(name: str) -> Language:
    """The entry for ``name`` or one of its aliases (case-insensitive); ValueError otherwise."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in _ALIASES:
        valid = ", ".join(sorted(LANGUAGES))
        raise ValueError(f"unknown language {name!r}; valid: {valid} (or their aliases)")
    return LANGUAGES[_ALIASES[key]]


__all__ = ["BASE_PATH", "LANGUAGES", "Language", "expand", "resolve_language"]
