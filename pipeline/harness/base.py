"""What every language harness shares: the request, name matching and string escaping.

A harness (after MultiPL-E, https://github.com/nuprl/MultiPL-E) is one program: the translated
code plus a ``main`` that calls the translated function once per test case, with the case's
arguments written as literals of the target language, and prints what each call returned in
the canonical form of :mod:`pipeline.harness.protocol`. Expected values never enter the
program: the host compares, so a program that prints its own verdict lines gains nothing.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from pipeline.harness.protocol import FLOAT_TOL, MARK, PREFIX
from pipeline.harness.pytypes import PyType, Signature

__all__ = ["FLOAT_TOL", "MARK", "PREFIX", "Case", "HarnessRequest", "Unrenderable"]


class Unrenderable(ValueError):
    """The cases cannot be written for this language (a type the harness does not map).

    The verdict then reports ``unrenderable: <reason>`` instead of guessing.
    """


@dataclasses.dataclass(frozen=True, slots=True)
class Case:
    """One test case as Python values."""

    args: tuple[Any, ...]
    expected: Any


@dataclasses.dataclass(frozen=True, slots=True)
class HarnessRequest:
    """What a harness needs: the translation, the source function's name/signature and cases."""

    code: str
    func_name: str
    signature: Signature
    cases: tuple[Case, ...]


def name_variants(name: str) -> list[str]:
    """``foo_bar`` -> [foo_bar, fooBar, FooBar]: names a translator may have used."""
    short = name.rsplit(".", 1)[-1]
    parts = [p for p in short.split("_") if p]
    if not parts:
        return [short]
    camel = parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
    pascal = "".join(p[:1].upper() + p[1:] for p in parts)
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", short).lower()
    out: list[str] = []
    for v in (short, camel, pascal, snake):
        if v not in out:
            out.append(v)
    return out


def _norm(name: str) -> str:
    return name.replace("_", "").lower()


def pick_function(defined: list[str], func_name: str, ignore: tuple[str, ...] = ("main",)) -> str:
    """The translated function's name among ``defined`` (in order of definition).

    Exact name or a camelCase/PascalCase/snake_case variant first, then a case- and
    underscore-insensitive match, then the only function defined. Raises ``Unrenderable``.
    """
    names = [d for d in defined if d not in ignore and not d.startswith("__")]
    for v in name_variants(func_name):
        if v in names:
            return v
    target = _norm(func_name.rsplit(".", 1)[-1])
    matches = [d for d in names if _norm(d) == target]
    if matches:
        return matches[-1]
    unique = list(dict.fromkeys(names))
    if len(unique) == 1:
        return unique[0]
    raise Unrenderable(
        f"function {func_name!r} not found in translation (defined: {', '.join(unique[:8]) or 'none'})"
    )


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside (), [], {} and <> (generic brackets)."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    tail = "".join(cur)
    if tail.strip():
        parts.append(tail)
    return [p.strip() for p in parts]


def balanced_parens(text: str, start: int) -> tuple[str, int]:
    """The text inside the parentheses opening at ``text[start]`` and the index after them."""
    if start >= len(text) or text[start] != "(":
        raise Unrenderable("cannot read the function's parameter list")
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
    raise Unrenderable("unbalanced parameter list")


def c_string(s: str, dollar: bool = False, hash_brace: bool = False) -> str:
    """A double-quoted literal valid in C, C++, Java, Go, Rust, JS, PHP and Ruby.

    Non-ASCII stays raw UTF-8; control characters become 3-digit octal escapes (Rust and JS
    take ``\\xNN`` instead: see ``hex_controls``), so no escape can swallow a following digit.
    """
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "$" and dollar:
            out.append("\\$")
        elif ch == "#" and hash_brace:
            out.append("\\#")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\{ord(ch):03o}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def hex_string(s: str) -> str:
    """Like ``c_string`` but with ``\\xNN`` escapes for controls (Rust and JavaScript)."""
    body = c_string(s)[1:-1]
    body = re.sub(r"\\([0-3][0-7]{2})", lambda m: f"\\x{int(m.group(1), 8):02x}", body)
    return '"' + body + '"'


def float_text(x: float) -> str:
    """``repr`` of a finite float, always with a dot or exponent (``5.0``, ``1e-07``)."""
    if not math.isfinite(x):
        raise ValueError("non-finite")
    text = repr(x)
    return text if any(c in text for c in ".eE") else text + ".0"


def check_arity(req: HarnessRequest) -> None:
    """Every case passes as many arguments as the signature has parameters (defaults aside)."""
    n = len(req.signature.params)
    for case in req.cases:
        if len(case.args) > n or len(case.args) < n - len(req.signature.defaults):
            raise Unrenderable(f"case passes {len(case.args)} arguments to {n} parameters")


def pad_args(req: HarnessRequest, case: Case) -> tuple[Any, ...]:
    """The case's arguments with omitted trailing defaults filled in (most targets have none)."""
    n = len(req.signature.params)
    missing = n - len(case.args)
    if missing <= 0:
        return case.args
    defaults = req.signature.defaults[len(req.signature.defaults) - missing :]
    if any(d is Ellipsis for d in defaults):
        raise Unrenderable("a case relies on a non-literal default argument")
    return case.args + tuple(defaults)


def contains_float(t: PyType) -> bool:
    return t.kind == "float" or any(contains_float(a) for a in t.args)
