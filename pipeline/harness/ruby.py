"""Ruby harness: arrays for lists/tuples, hashes for dicts, ``__eq`` with a float tolerance."""

from __future__ import annotations

import math
import re
from typing import Any

from pipeline.harness.base import (
    FLOAT_TOL,
    MARK,
    HarnessRequest,
    Unrenderable,
    check_arity,
    float_text,
    pad_args,
    pick_function,
)

LANGUAGE = "ruby"
_DEF = re.compile(r"^\s*def\s+(?:self\.)?([A-Za-z_]\w*[?!]?)", re.MULTILINE)
_SCOPE = re.compile(r"^\s*(class|module)\s+([A-Z]\w*)", re.MULTILINE)

_HELPERS = f"""
def __eq(a, b)
  a = a.to_s if a.is_a?(Symbol)
  if a.is_a?(Numeric) && b.is_a?(Numeric)
    return true if a.is_a?(Float) && b.is_a?(Float) && a.nan? && b.nan?
    return a == b unless a.is_a?(Float) || b.is_a?(Float)
    return (a - b).abs <= {FLOAT_TOL} * [1.0, b.abs].max
  end
  if a.is_a?(Array) && b.is_a?(Array)
    return a.length == b.length && a.zip(b).all? {{ |x, y| __eq(x, y) }}
  end
  if a.is_a?(Hash) && b.is_a?(Hash)
    a = a.transform_keys {{ |k| k.is_a?(Symbol) ? k.to_s : k }}
    return a.length == b.length && b.all? {{ |k, v| a.key?(k) && __eq(a[k], v) }}
  end
  a == b
end
"""


def literal(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "Float::NAN"
        if math.isinf(v):
            return "Float::INFINITY" if v > 0 else "-Float::INFINITY"
        return float_text(v)
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{literal(k)} => {literal(x)}" for k, x in v.items()) + "}"
    raise Unrenderable(f"{type(v).__name__} value in ruby")


def defined_functions(code: str) -> list[str]:
    return _DEF.findall(code)


def _callee(code: str, name: str) -> str:
    """``name``, or ``Scope.name`` for ``def self.name`` / ``Scope.new.name`` inside a class."""
    m = re.search(rf"^\s*def\s+(self\.)?{re.escape(name)}\b", code, re.MULTILINE)
    if not m:
        return name
    scopes = [s for s in _SCOPE.finditer(code) if s.start() < m.start()]
    if not scopes or not m.group(0).startswith((" ", "\t")):
        return name
    kind, scope = scopes[-1].group(1), scopes[-1].group(2)
    if m.group(1):
        return f"{scope}.{name}"
    return f"{scope}.new.{name}" if kind == "class" else f"(Object.new.extend({scope})).{name}"


def render(req: HarnessRequest) -> str:
    check_arity(req)
    name = pick_function(defined_functions(req.code), req.func_name, ignore=("main", "initialize"))
    callee = _callee(req.code, name)
    out = [req.code.rstrip(), "", "$stdout.sync = true", _HELPERS]
    for i, case in enumerate(req.cases):
        args = ", ".join(literal(a) for a in pad_args(req, case))
        out.append(
            f"begin; puts('{MARK} {i} ' + (__eq({callee}({args}), {literal(case.expected)}) ? 'PASS' : 'FAIL'));"
            f" rescue Exception; puts('{MARK} {i} ERROR'); end"
        )
    return "\n".join(out) + "\n"


def library_unit(code: str) -> str:
    return code.rstrip() + "\n"
