"""JavaScript (node) harness: arrays for lists/tuples, objects for dicts; results serialised.

The translation runs first (top-level code included), then the harness reads the nonce from
stdin and prints each call's result in the canonical form (``pipeline.harness.protocol``):
numbers that are safe integers as ``I``, others as ``D``; ``BigInt`` as ``I``; ``Map`` and
plain objects as maps, ``Set`` as a set; class instances, functions and promises as opaque.
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

_HELPERS = """
function __hex(s) { return Buffer.from(String(s), 'utf8').toString('hex'); }
function __ser(v, out) {
  if (v === null || v === undefined) out.push('N');
  else if (typeof v === 'boolean') out.push(v ? 'B1' : 'B0');
  else if (typeof v === 'bigint') out.push('I' + v.toString());
  else if (typeof v === 'number') {
    if (Number.isNaN(v)) out.push('Dnan');
    else if (v === Infinity) out.push('Dinf');
    else if (v === -Infinity) out.push('D-inf');
    else if (Number.isSafeInteger(v)) out.push('I' + String(v));
    else out.push('D' + String(v));
  } else if (typeof v === 'string') out.push('S' + __hex(v));
  else if (Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView))) {
    out.push('L' + v.length);
    for (const x of v) __ser(x, out);
  } else if (v instanceof Set) {
    out.push('U' + v.size);
    for (const x of v) __ser(x, out);
  } else if (v instanceof Map) {
    out.push('M' + v.size);
    for (const [k, x] of v) { __ser(k, out); __ser(x, out); }
  } else if (typeof v === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(v))) {
    const keys = Object.keys(v);
    out.push('M' + keys.length);
    for (const k of keys) { __ser(k, out); __ser(v[k], out); }
  } else {
    const name = (v && v.constructor && v.constructor.name) || typeof v;
    out.push('O' + __hex(name));
  }
}
function __case(i, f) {
  let line;
  try { const out = []; __ser(f(), out); line = out.join(' '); }
  catch (e) { line = 'X' + __hex((e && e.constructor && e.constructor.name) || typeof e); }
  __emit('CASE ' + i + ' ' + line);
}
"""
_MAIN = """
function __emit(s) { process.stdout.write('\\n@@PREFIX ' + s + '\\n'); }
let __nonce = '';
try { __nonce = require('fs').readFileSync(0, 'utf8').split('\\n')[0].trim(); } catch (e) {}
__emit('BEGIN ' + __nonce);
""".replace("@@PREFIX", PREFIX)


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
    code = re.sub(
        r"^export\s+default\s+(?=(?:async\s+)?function|class)", "", code, flags=re.MULTILINE
    )
    return re.sub(
        r"^export\s+(?=(?:async\s+)?function|const|let|var|class)", "", code, flags=re.MULTILINE
    )


def render(req: HarnessRequest) -> str:
    check_arity(req)
    code = _strip_exports(req.code)
    name = pick_function(defined_functions(code), req.func_name)
    out = [code.rstrip(), "", _HELPERS, _MAIN]
    for i, case in enumerate(req.cases):
        args = ", ".join(literal(a) for a in pad_args(req, case))
        out.append(f"__case({i}, () => {name}({args}));")
    out.append("__emit('END ' + __nonce);")
    return "\n".join(out) + "\n"


def library_unit(code: str) -> str:
    return _strip_exports(code).rstrip() + "\n"
