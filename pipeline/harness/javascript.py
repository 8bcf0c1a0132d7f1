"""JavaScript (node) harness: arrays for lists/tuples, objects for dicts, deep ``__eq``."""

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
    hex_string,
    pad_args,
    pick_function,
)

LANGUAGE = "javascript"
_DEF = re.compile(
    r"(?:^|[\s;])(?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)\s*\("
    r"|(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=\s*(?:async\s+)?(?:function\b|\([^)]*\)\s*=>|[A-Za-z_$][\w$]*\s*=>)"
    r"|(?:module\.)?exports\.([A-Za-z_$][\w$]*)\s*=\s*(?:async\s+)?(?:function|\()",
    re.MULTILINE,
)

_HELPERS = f"""
function __eq(a, b) {{
  if (a instanceof Map) a = Object.fromEntries(a);
  if (a instanceof Set) a = Array.from(a);
  if (typeof a === 'number' && typeof b === 'number') {{
    if (Number.isNaN(a) && Number.isNaN(b)) return true;
    if (a === b) return true;
    return Math.abs(a - b) <= {FLOAT_TOL} * Math.max(1, Math.abs(b));
  }}
  if (typeof a === 'bigint' || typeof b === 'bigint') {{
    try {{ return BigInt(a) === BigInt(b); }} catch (e) {{ return false; }}
  }}
  if (a === undefined) a = null;
  if (a === null || b === null) return a === b;
  if (Array.isArray(a) && Array.isArray(b)) {{
    return a.length === b.length && a.every((x, i) => __eq(x, b[i]));
  }}
  if (typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {{
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && kb.every((k) => Object.prototype.hasOwnProperty.call(a, k) && __eq(a[k], b[k]));
  }}
  return a === b;
}}
"""


def literal(v: Any) -> str:
    """A JavaScript literal for a Python value."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) if abs(v) <= 2**53 else f"{v}n"
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return repr(v)
    if isinstance(v, str):
        return hex_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    if isinstance(v, dict):
        keys = [k for k in v]
        if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in keys):
            raise Unrenderable("dict with non-string keys in javascript")
        return "{" + ", ".join(f"{hex_string(str(k))}: {literal(x)}" for k, x in v.items()) + "}"
    raise Unrenderable(f"{type(v).__name__} value in javascript")


def defined_functions(code: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in _DEF.finditer(code)]


def _strip_exports(code: str) -> str:
    code = re.sub(r"^export\s+default\s+(?=(?:async\s+)?function|class)", "", code, flags=re.MULTILINE)
    return re.sub(r"^export\s+(?=(?:async\s+)?function|const|let|var|class)", "", code, flags=re.MULTILINE)


def render(req: HarnessRequest) -> str:
    check_arity(req)
    code = _strip_exports(req.code)
    name = pick_function(defined_functions(code), req.func_name)
    out = [code.rstrip(), "", _HELPERS]
    for i, case in enumerate(req.cases):
        args = ", ".join(literal(a) for a in pad_args(req, case))
        out.append(
            f"try {{ console.log('{MARK} {i} ' + (__eq({name}({args}), {literal(case.expected)}) ? 'PASS' : 'FAIL')); }}"
            f" catch (__e) {{ console.log('{MARK} {i} ERROR'); }}"
        )
    return "\n".join(out) + "\n"


def library_unit(code: str) -> str:
    return _strip_exports(code).rstrip() + "\n"
