"""TypeScript harness: the JavaScript harness's values, typed for ``tsc --strict``.

The program is the translation, typed helpers, then one call per case; it ends with
``export {}`` so that it is a module: its top-level names are its own and cannot clash with
Node's or ES globals (a translated ``find`` or ``name`` stays legal). The function is called
through ``any``: the harness's literals must not add type errors of their own to a
translation that compiles, while their runtime shape follows the declared parameter types:
a Python dict becomes a ``Map`` where the parameter is a ``Map``, an object literal
otherwise; a set a ``Set``; integers ``bigint`` literals where the parameter is ``bigint``.
Results are printed in the canonical form of :mod:`pipeline.harness.protocol`, as the
JavaScript harness does (``Map``, ``Set``, arrays, plain objects, ``bigint``).
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.harness import javascript
from pipeline.harness.base import (
    PREFIX,
    HarnessRequest,
    Unrenderable,
    balanced_parens,
    check_arity,
    hex_string,
    pad_args,
    pick_function,
    split_top_level,
)

LANGUAGE = "typescript"
_GENERICS = r"(?:<[^>(]*(?:<[^>(]*>[^>(]*)*>)?"
_DEF = re.compile(
    rf"(?:^|[\s;])(?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)\s*{_GENERICS}\s*\("
    r"|(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::[^=;]+)?=\s*(?:async\s+)?"
    r"(?:function\b|\([^)]*\)\s*(?::[^=]+)?=>|<[^>]*>\s*\(|[A-Za-z_$][\w$]*\s*=>)",
    re.MULTILINE,
)

_HELPERS = """
function __hex(s: unknown): string { return Buffer.from(String(s), 'utf8').toString('hex'); }
function __ser(v: any, out: string[]): void {
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
    const items: any[] = Array.from(v as ArrayLike<any>);
    out.push('L' + items.length);
    for (const x of items) __ser(x, out);
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
function __emit(s: string): void { process.stdout.write('\\n@@PREFIX ' + s + '\\n'); }
function __case(i: number, f: () => unknown): void {
  let line: string;
  try { const out: string[] = []; __ser(f(), out); line = out.join(' '); }
  catch (e: any) { line = 'X' + __hex((e && e.constructor && e.constructor.name) || typeof e); }
  __emit('CASE ' + i + ' ' + line);
}
let __nonce = '';
try { __nonce = require('fs').readFileSync(0, 'utf8').split('\\n')[0].trim(); } catch (e) {}
__emit('BEGIN ' + __nonce);
""".replace("@@PREFIX", PREFIX)

#: Closes every program: makes the file a module (see the module docstring).
_MODULE_MARKER = "export {};"


# -- declared parameter types ------------------------------------------------------------------


def _strip_readonly(t: str) -> str:
    return re.sub(r"^readonly\s+", "", t.strip())


def _union_member(t: str) -> str:
    """``T | null | undefined`` -> ``T`` (the first member that is not null or undefined)."""
    members = [m.strip() for m in split_top_level(t, "|") if m.strip()]
    kept = [m for m in members if m not in ("null", "undefined", "void")]
    return kept[0] if kept else (members[0] if members else "")


def _generic(t: str) -> tuple[str, list[str]] | None:
    """``Map<K, V>`` -> (``Map``, [K, V]); None for a type that is not ``Name<...>``."""
    m = re.match(r"^([A-Za-z_$][\w$.]*)\s*<(.*)>$", t, re.DOTALL)
    if not m:
        return None
    return m.group(1), split_top_level(m.group(2))


def _element(t: str) -> str:
    """The element type of an array type (``T[]``, ``Array<T>``), else ``unknown``."""
    t = _union_member(_strip_readonly(t))
    if t.endswith("[]"):
        inner = t[:-2].strip()
        return inner[1:-1] if inner.startswith("(") and inner.endswith(")") else inner
    g = _generic(t)
    if g and g[0] in ("Array", "ReadonlyArray", "Set", "ReadonlySet") and g[1]:
        return g[1][0]
    return "unknown"


def literal(v: Any, t: str = "unknown") -> str:
    """A TypeScript expression for a Python value, shaped by the declared type ``t``."""
    t = _union_member(_strip_readonly(t)) or "unknown"
    g = _generic(t)
    if isinstance(v, int) and not isinstance(v, bool) and t == "bigint":
        return f"{v}n"
    if v is None or isinstance(v, (bool, int, float, str)):  # scalars are written as in JavaScript
        return javascript.literal(v)
    if isinstance(v, (set, frozenset)):
        items = sorted(v, key=repr)
        if (
            g
            and g[0] in ("Set", "ReadonlySet")
            or not (t.endswith("[]") or (g and "Array" in g[0]))
        ):
            return "new Set([" + ", ".join(literal(x, _element(t)) for x in items) + "])"
        return "[" + ", ".join(literal(x, _element(t)) for x in items) + "]"
    if isinstance(v, (list, tuple)):
        if t.startswith("[") and t.endswith("]") and not t.endswith("[]"):  # a tuple type
            slots = split_top_level(t[1:-1])
            return (
                "["
                + ", ".join(
                    literal(x, slots[i] if i < len(slots) else "unknown") for i, x in enumerate(v)
                )
                + "]"
            )
        if g and g[0] in ("Set", "ReadonlySet"):
            return "new Set([" + ", ".join(literal(x, g[1][0]) for x in v) + "])"
        return "[" + ", ".join(literal(x, _element(t)) for x in v) + "]"
    if isinstance(v, dict):
        if g and g[0] in ("Map", "ReadonlyMap") and len(g[1]) == 2:
            k_type, v_type = g[1]
            pairs = ", ".join(f"[{literal(k, k_type)}, {literal(x, v_type)}]" for k, x in v.items())
            return f"new Map<any, any>([{pairs}])"
        value_type = g[1][1] if g and g[0] == "Record" and len(g[1]) == 2 else _index_value(t)
        if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in v):
            raise Unrenderable("dict with non-string keys in typescript (not a Map parameter)")
        return (
            "{"
            + ", ".join(f"{hex_string(str(k))}: {literal(x, value_type)}" for k, x in v.items())
            + "}"
        )
    raise Unrenderable(f"{type(v).__name__} value in typescript")


def _index_value(t: str) -> str:
    """The value type of ``{ [key: string]: V }``, else ``unknown``."""
    m = re.match(r"^\{\s*\[[^\]]*\]\s*:\s*(.*?)\s*;?\s*\}$", t, re.DOTALL)
    return m.group(1) if m else "unknown"


def param_types(code: str, name: str) -> list[str]:
    """The declared types of ``name``'s parameters (``unknown`` where none is written)."""
    pattern = re.compile(
        rf"\bfunction\s*\*?\s*{re.escape(name)}\s*{_GENERICS}\s*(?=\()"
        rf"|\b(?:const|let|var)\s+{re.escape(name)}\s*(?::[^=;]+)?=\s*(?:async\s+)?"
        rf"(?:function\b[^(]*)?{_GENERICS}\s*(?=\()"
    )
    m = pattern.search(code)
    if not m:
        return []
    inside, _ = balanced_parens(code, m.end())
    out = []
    for param in split_top_level(inside):
        param = re.sub(r"^(?:public|private|protected|readonly|\.\.\.)\s*", "", param.strip())
        parts = split_top_level(param, "=")
        declared = split_top_level(parts[0], ":") if parts else []
        out.append(":".join(declared[1:]).strip() if len(declared) > 1 else "unknown")
    return out


# -- programs ----------------------------------------------------------------------------------


def defined_functions(code: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in _DEF.finditer(code)]


def render(req: HarnessRequest) -> str:
    check_arity(req)
    name = pick_function(defined_functions(req.code), req.func_name)
    types = param_types(req.code, name)
    out = [req.code.rstrip(), "", _HELPERS]
    for i, case in enumerate(req.cases):
        args = ", ".join(
            literal(a, types[j] if j < len(types) else "unknown")
            for j, a in enumerate(pad_args(req, case))
        )
        out.append(f"__case({i}, () => ({name} as any)({args}));")
    out.append("__emit('END ' + __nonce);")
    out.append(_MODULE_MARKER)
    return "\n".join(out) + "\n"


def library_unit(code: str) -> str:
    return code.rstrip() + "\n\n" + _MODULE_MARKER + "\n"
