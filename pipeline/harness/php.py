"""PHP harness: arrays for lists, dicts and tuples; ``__eq`` compares numbers with a tolerance."""

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

LANGUAGE = "php"
_DEF = re.compile(r"function\s+&?\s*([A-Za-z_]\w*)\s*\(", re.MULTILINE)
_CLASS = re.compile(r"^\s*(?:final\s+|abstract\s+)*class\s+([A-Za-z_]\w*)", re.MULTILINE)

_HELPERS = f"""
function __eq($a, $b) {{
    if ((is_int($a) || is_float($a)) && (is_int($b) || is_float($b))) {{
        if (is_float($a) || is_float($b)) {{
            if (is_nan((float)$a) && is_nan((float)$b)) return true;
            return abs($a - $b) <= {FLOAT_TOL} * max(1.0, abs($b));
        }}
        return $a === $b;
    }}
    if (is_array($a) && is_array($b)) {{
        if (count($a) !== count($b)) return false;
        if (array_is_list($b)) {{ $a = array_values($a); }}
        foreach ($b as $k => $v) {{
            if (!array_key_exists($k, $a) || !__eq($a[$k], $v)) return false;
        }}
        return true;
    }}
    return $a === $b;
}}
"""


def literal(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "NAN"
        if math.isinf(v):
            return "INF" if v > 0 else "-INF"
        return float_text(v)
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    if isinstance(v, dict):
        if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in v):
            raise Unrenderable("dict with non-string/int keys in php")
        return "[" + ", ".join(f"{literal(k)} => {literal(x)}" for k, x in v.items()) + "]"
    raise Unrenderable(f"{type(v).__name__} value in php")


def defined_functions(code: str) -> list[str]:
    return _DEF.findall(code)


def _body(code: str) -> str:
    code = code.strip()
    code = re.sub(r"^<\?php\b", "", code).strip()
    code = re.sub(r"\?>\s*$", "", code)
    return code


def _callee(code: str, name: str) -> str:
    """``name``, ``Cls::name`` (static method) or ``(new Cls())->name`` (instance method)."""
    m = re.search(rf"((?:(?:public|private|protected|static|final)\s+)*)function\s+&?\s*{re.escape(name)}\s*\(", code)
    classes = [c for c in _CLASS.finditer(code) if m and c.start() < m.start()]
    if not m or not classes or not re.search(r"^\s*(?:public|private|protected|static)", m.group(0)):
        return name
    cls = classes[-1].group(1)
    return f"{cls}::{name}" if "static" in m.group(1) else f"(new {cls}())->{name}"


def render(req: HarnessRequest) -> str:
    check_arity(req)
    code = _body(req.code)
    name = pick_function(defined_functions(code), req.func_name, ignore=("main", "__construct"))
    callee = _callee(code, name)
    out = ["<?php", code, _HELPERS]
    for i, case in enumerate(req.cases):
        args = ", ".join(literal(a) for a in pad_args(req, case))
        out.append(
            f"try {{ echo '{MARK} {i} ' . (__eq({callee}({args}), {literal(case.expected)}) ? 'PASS' : 'FAIL') . \"\\n\"; }}"
            f" catch (\\Throwable $__e) {{ echo \"{MARK} {i} ERROR\\n\"; }}"
        )
    return "\n".join(out) + "\n"


def library_unit(code: str) -> str:
    return "<?php\n" + _body(code) + "\n"
