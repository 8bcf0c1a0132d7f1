"""Java harness: arguments typed from the translated method's declared parameter types.

Java has no inference for collection literals, so each argument is written for the
parameter's declared type (``int``, ``long``, ``double``, ``boolean``, ``char``, ``String``,
arrays, ``List``/``ArrayList``, ``Map``/``HashMap``, boxed types). The result is printed in the
canonical form (``pipeline.harness.protocol``): integral numbers (``BigInteger`` too) as
``I``, ``float``/``double`` as ``D``, ``char`` and strings as strings, arrays and collections
as sequences (sets as sets), maps as maps, ``Optional`` as its value or null, anything else as
opaque; a ``Throwable`` as a raised value. The file's public class is ``Main`` (the
sandbox's default); the translation's own top-level classes lose ``public``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pipeline.harness.base import (
    PREFIX,
    HarnessRequest,
    Unrenderable,
    balanced_parens,
    c_string,
    check_arity,
    float_text,
    pad_args,
    pick_function,
    split_top_level,
)

LANGUAGE = "java"
_METHOD = re.compile(
    r"((?:(?:public|private|protected|static|final|synchronized|abstract)\s+)*)"
    r"(?:<[^>]*>\s*)?([\w.$]+(?:\s*<[^(){};]*>)?(?:\s*\[\s*\])*)\s+([A-Za-z_$][\w$]*)\s*\(",
)
_CLASS = re.compile(r"\b(?:class|interface|enum|record)\s+([A-Za-z_$][\w$]*)")
_KEYWORDS = {
    "if",
    "for",
    "while",
    "switch",
    "return",
    "catch",
    "new",
    "else",
    "throw",
    "synchronized",
}
_IMPORTS = "import java.util.*;\nimport java.util.function.*;\nimport java.util.stream.*;\n"

_HELPERS = r"""
  static final char[] __HEX = "0123456789abcdef".toCharArray();
  static String __hex(String s) {
    StringBuilder o = new StringBuilder();
    for (byte x : s.getBytes(java.nio.charset.StandardCharsets.UTF_8)) o.append(__HEX[(x >> 4) & 15]).append(__HEX[x & 15]);
    return o.toString();
  }
  static void __ser(StringBuilder o, Object v) {
    if (v == null) o.append(" N");
    else if (v instanceof Boolean) o.append(((Boolean) v) ? " B1" : " B0");
    else if (v instanceof Byte || v instanceof Short || v instanceof Integer || v instanceof Long
             || v instanceof java.math.BigInteger) o.append(" I").append(v.toString());
    else if (v instanceof Number) {
      double d = ((Number) v).doubleValue();
      if (Double.isNaN(d)) o.append(" Dnan");
      else if (Double.isInfinite(d)) o.append(d > 0 ? " Dinf" : " D-inf");
      else o.append(" D").append(Double.toString(d));
    }
    else if (v instanceof Character || v instanceof CharSequence) o.append(" S").append(__hex(v.toString()));
    else if (v.getClass().isArray()) {
      int n = java.lang.reflect.Array.getLength(v);
      o.append(" L").append(n);
      for (int i = 0; i < n; i++) __ser(o, java.lang.reflect.Array.get(v, i));
    }
    else if (v instanceof java.util.Set) {
      o.append(" U").append(((java.util.Set<?>) v).size());
      for (Object x : (java.util.Set<?>) v) __ser(o, x);
    }
    else if (v instanceof java.util.Collection) {
      o.append(" L").append(((java.util.Collection<?>) v).size());
      for (Object x : (java.util.Collection<?>) v) __ser(o, x);
    }
    else if (v instanceof java.util.Map) {
      o.append(" M").append(((java.util.Map<?, ?>) v).size());
      for (java.util.Map.Entry<?, ?> e : ((java.util.Map<?, ?>) v).entrySet()) { __ser(o, e.getKey()); __ser(o, e.getValue()); }
    }
    else if (v instanceof java.util.Optional) __ser(o, ((java.util.Optional<?>) v).orElse(null));
    else o.append(" O").append(__hex(v.getClass().getName()));
  }
  static String __value(Object v) { StringBuilder o = new StringBuilder(); __ser(o, v); return o.substring(1); }
  static String __raised(Throwable t) { return "X" + __hex(t.getClass().getName()); }
  static void __emit(String s) { System.out.print("\n@@PREFIX " + s + "\n"); System.out.flush(); }
  static String __nonce() {
    try {
      String l = new java.io.BufferedReader(new java.io.InputStreamReader(System.in, java.nio.charset.StandardCharsets.UTF_8)).readLine();
      return l == null ? "" : l.trim();
    } catch (java.io.IOException e) { return ""; }
  }
  @SafeVarargs static <K, V> java.util.Map<K, V> __map(java.util.Map<K, V> m, Object... kv) {
    for (int i = 0; i < kv.length; i += 2) { @SuppressWarnings("unchecked") K k = (K) kv[i]; @SuppressWarnings("unchecked") V v = (V) kv[i + 1]; m.put(k, v); }
    return m;
  }
""".replace("@@PREFIX", PREFIX)

_INTS = {
    "int": "",
    "Integer": "",
    "long": "L",
    "Long": "L",
    "short": "",
    "Short": "",
    "byte": "",
    "Byte": "",
}
_FLOATS = {"double": "", "Double": "", "float": "f", "Float": "f"}
_LISTS = {
    "List",
    "ArrayList",
    "LinkedList",
    "Collection",
    "Iterable",
    "AbstractList",
    "Deque",
    "ArrayDeque",
    "Queue",
}
_MAPS = {
    "Map": "HashMap",
    "HashMap": "HashMap",
    "TreeMap": "TreeMap",
    "LinkedHashMap": "LinkedHashMap",
    "SortedMap": "TreeMap",
    "NavigableMap": "TreeMap",
}


def _generic(t: str) -> tuple[str, list[str]]:
    """``Map<String, List<Integer>>`` -> (``Map``, [``String``, ``List<Integer>``])."""
    t = t.strip()
    if "<" not in t:
        return t.rsplit(".", 1)[-1], []
    base, rest = t.split("<", 1)
    return base.strip().rsplit(".", 1)[-1], split_top_level(rest.rsplit(">", 1)[0])


def literal(v: Any, t: str) -> str:
    """A Java expression of declared type ``t`` holding the Python value ``v``."""
    t = re.sub(r"\s+", " ", t.strip())
    if t.endswith("..."):
        t = t[:-3] + "[]"
    if v is None:
        if t in ("int", "long", "double", "float", "boolean", "char", "short", "byte"):
            raise Unrenderable(f"None for primitive {t} in java")
        return "null"
    base, params = _generic(t)
    if t.endswith("[]"):
        elem = t[:-2].strip()
        if not isinstance(v, (list, tuple)):
            raise Unrenderable(f"{type(v).__name__} for {t} in java")
        return f"new {_erase(elem)}[]{{" + ", ".join(literal(x, elem) for x in v) + "}"
    if base in _INTS:
        if isinstance(v, bool) or not isinstance(v, int):
            raise Unrenderable(f"{type(v).__name__} for {t} in java")
        cast = f"({base.lower()})" if base.lower() in ("short", "byte") else ""
        if base in ("Short", "Byte"):
            cast = f"({base.lower()})"
        return f"{cast}{v}{_INTS[base]}"
    if base in _FLOATS:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise Unrenderable(f"{type(v).__name__} for {t} in java")
        x = float(v)
        if math.isnan(x):
            return "Double.NaN" if base.lower() == "double" else "Float.NaN"
        if math.isinf(x):
            return ("" if x > 0 else "-") + (
                "Double.POSITIVE_INFINITY"
                if base.lower() == "double"
                else "Float.POSITIVE_INFINITY"
            )
        return float_text(x) + _FLOATS[base]
    if base in ("boolean", "Boolean"):
        if not isinstance(v, bool):
            raise Unrenderable(f"{type(v).__name__} for {t} in java")
        return "true" if v else "false"
    if base in ("char", "Character"):
        if not isinstance(v, str) or len(v) != 1:
            raise Unrenderable(f"{v!r} for {t} in java")
        return "'" + c_string(v)[1:-1].replace("'", "\\'").replace('\\"', '"') + "'"
    if base in ("String", "CharSequence"):
        if not isinstance(v, str):
            raise Unrenderable(f"{type(v).__name__} for {t} in java")
        return c_string(v)
    if base in _LISTS:
        if not isinstance(v, (list, tuple)):
            raise Unrenderable(f"{type(v).__name__} for {t} in java")
        elem = params[0] if params else "Object"
        impl = (
            "ArrayDeque"
            if base in ("Deque", "ArrayDeque", "Queue")
            else "LinkedList"
            if base == "LinkedList"
            else "ArrayList"
        )
        items = ", ".join(literal(x, elem) for x in v)
        return f"new {impl}<{elem}>(Arrays.<{elem}>asList({items}))"
    if base in _MAPS:
        if not isinstance(v, dict):
            raise Unrenderable(f"{type(v).__name__} for {t} in java")
        k_t, v_t = (params + ["Object", "Object"])[:2]
        kv = ", ".join(f"{literal(k, k_t)}, {literal(x, v_t)}" for k, x in v.items())
        return f"Main.__map(new {_MAPS[base]}<{k_t}, {v_t}>(){', ' + kv if kv else ''})"
    if base == "Object":
        return _generic_literal(v)
    raise Unrenderable(f"parameter type {t} in java")


def _erase(t: str) -> str:
    return t.split("<", 1)[0].strip()


def _generic_literal(v: Any) -> str:
    """An ``Object`` argument as plain Java objects (Long, Double, String, Boolean, List, Map)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "Boolean.valueOf(" + ("true" if v else "false") + ")"
    if isinstance(v, int):
        if abs(v) >= 2**63:
            return f'new java.math.BigInteger("{v}")'
        return f"Long.valueOf({v}L)"
    if isinstance(v, float):
        return literal(v, "double").join(("Double.valueOf(", ")"))
    if isinstance(v, str):
        return c_string(v)
    if isinstance(v, (list, tuple)):
        return "Arrays.<Object>asList(" + ", ".join(_generic_literal(x) for x in v) + ")"
    if isinstance(v, dict):
        kv = ", ".join(f"{_generic_literal(k)}, {_generic_literal(x)}" for k, x in v.items())
        return f"Main.__map(new HashMap<Object, Object>(){', ' + kv if kv else ''})"
    raise Unrenderable(f"{type(v).__name__} value in java")


def _methods(code: str) -> list[re.Match]:
    return [
        m
        for m in _METHOD.finditer(code)
        if m.group(3) not in _KEYWORDS and m.group(2) not in _KEYWORDS and m.group(2) != "new"
    ]


def defined_functions(code: str) -> list[str]:
    return [m.group(3) for m in _methods(code)]


def _split_imports(code: str) -> tuple[str, str]:
    imports = re.findall(r"^\s*import\s+[\w.*\s]+;\s*$", code, re.MULTILINE)
    body = re.sub(r"^\s*(?:import\s+[\w.*\s]+|package\s+[\w.]+);\s*$", "", code, flags=re.MULTILINE)
    return "\n".join(i.strip() for i in imports), body


def _prepare(code: str) -> tuple[str, str, bool]:
    """(imports, body, wrapped): top-level classes lose ``public``; bare methods go into Main."""
    imports, body = _split_imports(code)
    body = re.sub(r"\bMain\b", "Main_", body)
    wrapped = not _CLASS.search(body)
    if not wrapped:
        body = re.sub(
            r"^public\s+((?:final\s+|abstract\s+|sealed\s+)*(?:class|interface|enum|record)\b)",
            r"\1",
            body,
            flags=re.MULTILINE,
        )
    return imports, body, wrapped


def _program(imports: str, body: str, wrapped: bool, main_body: str) -> str:
    head = _IMPORTS + imports + "\n"
    if wrapped:
        return head + "public class Main {\n" + body + "\n" + _HELPERS + "\n" + main_body + "\n}\n"
    return head + body + "\n\npublic class Main {\n" + _HELPERS + "\n" + main_body + "\n}\n"


def render(req: HarnessRequest) -> str:
    check_arity(req)
    imports, body, wrapped = _prepare(req.code)
    name = pick_function(defined_functions(body), req.func_name, ignore=("main",))
    m = next(m for m in reversed(_methods(body)) if m.group(3) == name)
    inner, _ = balanced_parens(body, m.end() - 1)
    params = []
    for p in split_top_level(inner):
        p = re.sub(r"@\w+\s*", "", p).replace("final ", "").strip()
        ptype = p.rsplit(None, 1)[0] if " " in p else p
        params.append(ptype)
    if any(len(pad_args(req, c)) != len(params) for c in req.cases):
        raise Unrenderable(f"java method {name} takes {len(params)} parameters")
    static = "static" in m.group(1)
    if wrapped:
        callee = name if static else f"new Main().{name}"
    else:
        cls = [c.group(1) for c in _CLASS.finditer(body) if c.start() < m.start()]
        owner = cls[-1] if cls else "Main"
        callee = f"{owner}.{name}" if static else f"new {owner}().{name}"
    void = m.group(2).strip() == "void"
    lines = [
        "  public static void main(String[] __args) {",
        "    String __nonce = __nonce();",
        '    __emit("BEGIN " + __nonce);',
    ]
    for i, case in enumerate(req.cases):
        args = ", ".join(literal(a, t) for a, t in zip(pad_args(req, case), params, strict=True))
        call = f"{callee}({args})"
        got = f'{call}; __line = "N";' if void else f"__line = __value({call});"
        lines.append(
            f"    {{ String __line; try {{ {got} }} catch (Throwable __t) {{ __line = __raised(__t); }}"
            f' __emit("CASE {i} " + __line); }}'
        )
    lines.append('    __emit("END " + __nonce);\n  }')
    return _program(imports, body, wrapped, "\n".join(lines))


def library_unit(code: str) -> str:
    imports, body, wrapped = _prepare(code)
    return _program(imports, body, wrapped, "  public static void main(String[] __args) {}")
