"""Per-language test harnesses (MultiPL-E style): one module per target language.

Each module offers ``defined_functions(code)``, ``render(request) -> str`` (the whole program:
translation plus a main printing ``@@CASE i PASS|FAIL|ERROR`` per case; raises
``Unrenderable`` when a case or type cannot be written in that language) and
``library_unit(code) -> str`` (the translation with a trivial main, for pairs without tests).
"""

from __future__ import annotations

from types import ModuleType

from pipeline.harness import c, cpp, go, java, javascript, php, python, ruby, rust
from pipeline.harness.base import MARK, Case, HarnessRequest, Unrenderable, parse_case_lines

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


__all__ = ["HARNESSES", "MARK", "Case", "HarnessRequest", "Unrenderable", "harness_for", "parse_case_lines"]
