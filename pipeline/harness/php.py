"""PHP harness: arrays for lists/tuples and dicts; results serialised.

The translation runs first, then the harness reads the nonce from stdin and prints each
call's result in the canonical form (``pipeline.harness.protocol``): a list-shaped array
(``array_is_list``) as a sequence, any other array as a map, objects as opaque; a
``Throwable`` as a raised value. Output goes through ``echo``, in order with the
translation's own.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pipeline.harness.base import (
    PREFIX,
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

_HELPERS = """
function __ser($v, &$out) {
    if ($v === null) { $out[] = 'N'; }
    elseif (is_bool($v)) { $out[] = $v ? 'B1' : 'B0'; }
    elseif (is_int($v)) { $out[] = 'I' . $v; }
    elseif (is_float($v)) {
        if (is_nan($v)) { $out[] = 'Dnan'; }
        elseif (is_infinite($v)) { $out[] = $v > 0 ? 'Dinf' : 'D-inf'; }
        else { $out[] = 'D' . var_export($v, true); }
    }
    elseif (is_string($v)) { $out[] = 'S' . bin2hex($v); }
    elseif (is_array($v)) {
        if (array_is_list($v)) { $out[] = 'L' . count($v); foreach ($v as $x) { __ser($x, $out); } }
        else { $out[] = 'M' . count($v); foreach ($v as $k => $x) { __ser($k, $out); __ser($x, $out); } }
    }
    else { $out[] = 'O' . bin2hex(is_object($v) ? get_class($v) : gettype($v)); }
}
function __emit($s) { echo "\\n@@PREFIX " . $s . "\\n"; }
function __case($i, $f) {
    try { $out = []; __ser($f(), $out); $line = implode(' ', $out); }
    catch (\\Throwable $e) { $line = 'X' . bin2hex(get_class($e)); }
    __emit('CASE ' . $i . ' ' . $line);
}
""".replace("@@PREFIX", PREFIX)


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
    m = re.search(
        rf"((?:(?:public|private|protected|static|final)\s+)*)function\s+&?\s*{re.escape(name)}\s*\(",
        code,
    )
    classes = [c for c in _CLASS.finditer(code) if m and c.start() < m.start()]
    if (
        not m
        or not classes
        or not re.search(r"^\s*(?:public|private|protected|static)", m.group(0))
    ):
        return name
    cls = classes[-1].group(1)
    return f"{cls}::{name}" if "static" in m.group(1) else f"(new {cls}())->{name}"


def render(req: HarnessRequest) -> str:
    check_arity(req)
    code = _body(req.code)
    name = pick_function(defined_functions(code), req.func_name, ignore=("main", "__construct"))
    callee = _callee(code, name)
    out = [
        "<?php",
        code,
        _HELPERS,
        "$__nonce = trim((string) fgets(STDIN));",
        "__emit('BEGIN ' . $__nonce);",
    ]
    for i, case in enumerate(req.cases):
        args = ", ".join(literal(a) for a in pad_args(req, case))
        out.append(f"__case({i}, function () {{ return {callee}({args}); }});")
    out.append("__emit('END ' . $__nonce);")
    return "\n".join(out) + "\n"


def library_unit(code: str) -> str:
    return "<?php\n" + _body(code) + "\n"
