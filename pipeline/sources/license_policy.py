"""SPDX license expressions and the ``--licenses`` policy: parse, normalise, decide.

Expressions are parsed, validated and normalised by ``license-expression`` (nexB), and
whether a license is permissive comes from the category ScanCode gives it in the license
index that ``license-expression`` ships ("Permissive" or "Public Domain"). Ids are written in
lower case; GNU ids keep their short form (``gpl-3.0``, not ``gpl-3.0-only``), the Hugging
Face Hub's license ids and the ids of the SPDX texts in the ``spdx`` package. This module is
the pure policy half of ``pipeline.sources.licenses`` (which finds a repository's license);
the source stage's config imports it without the text matcher.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

#: ScanCode categories (license-expression's index) that count as permissive.
PERMISSIVE_CATEGORIES = frozenset({"Permissive", "Public Domain"})


# --- SPDX expressions (license-expression) --------------------------------------------------


@functools.cache
def _licensing() -> Any:
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


@functools.cache
def _categories() -> dict[str, str]:
    """Lower-case SPDX id (current and deprecated ones) -> ScanCode category."""
    from license_expression import get_license_index

    out: dict[str, str] = {}
    for entry in get_license_index():
        for key in (entry.get("spdx_license_key"), *(entry.get("other_spdx_license_keys") or ())):
            if key and entry.get("category"):
                out.setdefault(key.lower(), entry["category"])
    return out


@functools.cache
def _short_ids() -> frozenset[str]:
    """Lower-case ids of the bundled SPDX texts (``gpl-3.0``): the short forms we write."""
    import spdx

    return frozenset(record["id"].lower() for record in spdx._licenses)


def _parse(text: str) -> Any:
    """A license-expression object, or None when ``text`` is not an expression of known ids."""
    from license_expression import ExpressionError

    cleaned = " ".join(text.replace("/", " OR ").split())
    if not cleaned:
        return None
    licensing = _licensing()
    try:
        parsed = licensing.parse(cleaned, validate=False)
    except (ExpressionError, TypeError, ValueError):
        return None
    if parsed is None:
        return None
    unknown = [
        key
        for key in licensing.unknown_license_keys(parsed)
        if not key.lower().startswith("licenseref-")
    ]
    return None if unknown else parsed


def _render_key(key: str) -> str:
    low = key.lower()
    if low.endswith("-only") and low[: -len("-only")] in _short_ids():
        return low[: -len("-only")]
    return low


def _render(node: Any) -> str:
    from license_expression import LicenseWithExceptionSymbol

    if isinstance(node, LicenseWithExceptionSymbol):
        return f"{_render_key(node.license_symbol.key)} with {node.exception_symbol.key.lower()}"
    if not hasattr(node, "args") or not node.args:
        return _render_key(node.key)
    op = " or " if _is_or(node) else " and "
    parts = [
        _render(arg)
        if not _is_compound(arg) or _is_or(arg) == _is_or(node)
        else f"({_render(arg)})"
        for arg in node.args
    ]
    return op.join(parts)


def _is_compound(node: Any) -> bool:
    return bool(getattr(node, "args", None)) and not hasattr(node, "key")


def _is_or(node: Any) -> bool:
    return type(node).__name__ == "OR"


@functools.lru_cache(maxsize=4096)
def normalize_expression(text: str | None) -> str | None:
    """``text`` as a lower-case SPDX expression, or None when it is not one.

    ``"MIT OR Apache-2.0"`` -> ``"mit or apache-2.0"``, ``"GPL-3.0-only"`` -> ``"gpl-3.0"``,
    ``"MIT/Apache-2.0"`` (Cargo's old form) -> ``"mit or apache-2.0"``; ``"BSD"`` -> None.
    """
    if not isinstance(text, str):
        return None
    parsed = _parse(text)
    return None if parsed is None else _render(parsed)


def license_keys(expression: str | None) -> tuple[str, ...]:
    """The lower-case license ids in an expression (exceptions left out), sorted."""
    parsed = _parse(expression) if isinstance(expression, str) else None
    if parsed is None:
        return ()
    return tuple(
        sorted({_render_key(s.key) for s in _licensing().license_symbols(parsed, decompose=True)})
    )


def _evaluate(node: Any, allowed: Any) -> bool:
    """Whether a parsed expression passes: OR needs one alternative, AND needs all."""
    from license_expression import LicenseWithExceptionSymbol

    if isinstance(node, LicenseWithExceptionSymbol):
        return allowed(_render_key(node.license_symbol.key))
    if _is_compound(node):
        results = (_evaluate(arg, allowed) for arg in node.args)
        return any(results) if _is_or(node) else all(results)
    return allowed(_render_key(node.key))


def category(license_id: str) -> str | None:
    """ScanCode's category of one SPDX id (``Permissive``, ``Copyleft``, ``Public Domain`` ...)."""
    low = license_id.lower()
    found = _categories().get(low)
    if found is None and low in _short_ids():
        found = _categories().get(low + "-only")
    return found


@functools.lru_cache(maxsize=4096)
def is_permissive(expression: str | None) -> bool:
    """Whether code under ``expression`` may be used permissively.

    A license is permissive when ScanCode's category for it is "Permissive" or "Public
    Domain"; ``a or b`` is permissive when one alternative is, ``a and b`` when all are;
    ``x with exception`` follows ``x``. Unknown or unparseable -> False.
    """
    if not isinstance(expression, str):
        return False
    parsed = _parse(expression)
    if parsed is None:
        return False
    return _evaluate(parsed, lambda key: category(key) in PERMISSIVE_CATEGORIES)


# --- policies ------------------------------------------------------------------------------

LICENSE_UNKNOWN = "license_unknown"
LICENSE_NOT_ALLOWED = "license_not_allowed"
POLICY_MODES = ("any", "permissive", "list")


@dataclasses.dataclass(frozen=True)
class LicensePolicy:
    """Which licenses the source stage lets through (``--licenses``).

    Attributes:
        mode: ``any`` (everything, unknown licenses included), ``permissive`` (see
            :func:`is_permissive`) or ``list`` (only the ids in ``allowed``).
        allowed: lower-case SPDX ids for ``list`` (short GNU forms, as we write them).
    """

    mode: str = "any"
    allowed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in POLICY_MODES:
            raise ValueError(
                f"license policy mode must be one of {', '.join(POLICY_MODES)}, got {self.mode!r}"
            )
        if isinstance(self.allowed, str):
            raise ValueError("allowed must be a tuple of SPDX ids, not a string")
        if self.mode == "list" and not self.allowed:
            raise ValueError("a license list needs at least one SPDX id")

    def __str__(self) -> str:
        return ",".join(self.allowed) if self.mode == "list" else self.mode

    def check(self, expression: str | None) -> tuple[str, str] | None:
        """None when ``expression`` is allowed, else ``(reason, message)``.

        Reasons: ``license_unknown`` (no license found, or not an SPDX expression, under
        ``permissive`` or a list) and ``license_not_allowed`` (found, refused).
        """
        if self.mode == "any":
            return None
        if not isinstance(expression, str) or not expression.strip():
            return (
                LICENSE_UNKNOWN,
                f"no license found; --licenses={self} accepts only known licenses",
            )
        parsed = _parse(expression)
        if parsed is None:
            return (
                LICENSE_UNKNOWN,
                f"license {expression!r} is not an SPDX expression; --licenses={self}",
            )
        if self.mode == "permissive":
            ok = _evaluate(parsed, lambda key: category(key) in PERMISSIVE_CATEGORIES)
        else:
            allowed = frozenset(self.allowed)
            ok = _evaluate(parsed, lambda key: key in allowed)
        if ok:
            return None
        return LICENSE_NOT_ALLOWED, f"license {expression!r} is not allowed by --licenses={self}"


def parse_license_policy(text: str) -> LicensePolicy:
    """``permissive``, ``any`` or a comma-separated list of SPDX ids (case-insensitive).

    Raises ValueError naming an id that is not an SPDX license id.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(
            "--licenses must be 'permissive', 'any' or a comma-separated list of SPDX ids"
        )
    value = text.strip().lower()
    if value in ("any", "permissive"):
        return LicensePolicy(mode=value)
    ids: list[str] = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        normalized = normalize_expression(item)
        if normalized is None or " " in normalized:
            raise ValueError(
                f"--licenses: {item!r} is not an SPDX license id (e.g. mit, apache-2.0, bsd-3-clause)"
            )
        if normalized not in ids:
            ids.append(normalized)
    if not ids:
        raise ValueError("--licenses: the list holds no SPDX id")
    return LicensePolicy(mode="list", allowed=tuple(ids))
