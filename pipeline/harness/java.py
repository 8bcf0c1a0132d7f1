"""Java harness: arguments typed from the translated method's declared parameter types.

Java has no inference for collection literals, so each argument is written for the
parameter's declared type (``int``, ``long``, ``double``, ``boolean``, ``char``, ``String``,
arrays, ``List``/``ArrayList``, ``Map``/``HashMap``, boxed types). The result is normalised
(integral numbers to ``Long``, arrays and lists to ``List``, maps to ``Map``) and compared with
the expected value written the same way, floats with a tolerance. The file's public class is
``Main`` (the sandbox's default); the translation's own top-level classes lose ``public``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pipeline.harness.base import (
    FLOAT_TOL,
    MARK,
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
_KEYWORDS = {"if", "for", "while", "switch", "return", "catch", "new", "else", "throw", "synchronized"}
_IMPORTS = "import java.util.*;\nimport java.util.function.*;\nimport java.util.stream.*;\n"

_HELPERS = f"""
  static Object __norm(Object o) {{
    if (o == null) return null;
    if (o instanceof Byte || o instanceof Short || o instanceof Integer || o instanceof Long) return ((Number) o).longValue();
    if (o instanceof java.math.BigInteger) return o;
    if (o instanceof Float || o instanceof Double) return ((Number) o).doubleValue();
    if (o instanceof Character) return String.valueOf(o);
    if (o.getClass().isArray()) {{
      List<Object> l = new ArrayList<>();
      for (int i = 0; i < java.lang.reflect.Array.getLength(o); i++) l.add(__norm(java.lang.reflect.Array.get(o, i)));
      return l;
    }}
    if (o instanceof Collection) {{ List<Object> l = new ArrayList<>(); for (Object x : (Collection<?>) o) l.add(__norm(x)); return l; }}
    if (o instanceof Map) {{
      Map<Object, Object> m = new HashMap<>();
      for (Map.Entry<?, ?> e : ((Map<?, ?>) o).entrySet()) m.put(__norm(e.getKey()), __norm(e.getValue()));
      return m;
    }}
    if (o instanceof Optional) return __norm(((Optional<?>) o).orElse(null));
    return o;
  }}
  static boolean __eq(Object a, Object b) {{
    a = __norm(a); b = __norm(b);
    if (a instanceof java.math.BigInteger || b instanceof java.math.BigInteger)
      return a != null && b != null && a.toString().equals(b.toString());
    if (a instanceof Number && b instanceof Number) {{
      if (a instanceof Long && b instanceof Long) return a.equals(b);
      double x = ((Number) a).doubleValue(), y = ((Number) b).doubleValue();
      if (Double.isNaN(x) && Double.isNaN(y)) return true;
      return x == y || Math.abs(x - y) <= {FLOAT_TOL} * Math.max(1.0, Math.abs(y));
    }}
    if (a instanceof List && b instanceof List) {{
      List<?> p = (List<?>) a, q = (List<?>) b;
      if (p.size() != q.size()) return false;
      for (int i = 0; i < p.size(); i++) if (!__eq(p.get(i), q.get(i))) return false;
      return true;
    }}
    if (a instanceof Map && b instanceof Map) {{
      Map<?, ?> p = (Map<?, ?>) a, q = (Map<?, ?>) b;
      if (p.size() != q.size()) return false;
      for (Map.Entry<?, ?> e : q.entrySet()) if (!p.containsKey(e.getKey()) || !__eq(p.get(e.getKey()), e.getValue())) return false;
      return true;
    }}
    return Objects.equals(a, b);
  }}
  @SafeVarargs static <K, V> Map<K, V> __map(Map<K, V> m, Object... kv) {{
    for (int i = 0; i < kv.length; i += 2) {{ @SuppressWarnings("unchecked") K k = (K) kv[i]; @SuppressWarnings("unchecked") V v = (V) kv[i + 1]; m.put(k, v); }}
    return m;
  }}
"""

_INTS = {"int": "", "Integer": "", "long": "L", "Long": "L", "short": "", "Short": "", "byte": "", "Byte": ""}
_FLOATS = {"double": "", "Double": "", "float": "f", "Float": "f"}
_LISTS = {"List", "ArrayList", "LinkedList", "Collection", "Iterable", "AbstractList", "Deque", "ArrayDeque", "Queue"}
_MAPS = {"Map": "HashMap", "HashMap": "HashMap", "TreeMap": "TreeMap", "LinkedHashMap": "LinkedHashMap",
         "SortedMap": "TreeMap", "NavigableMap": "TreeMap"}


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
            return ("" if x > 0 else "-") + ("Double.POSITIVE_INFINITY" if base.lower() == "double" else "Float.POSITIVE_INFINITY")
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
        impl = "ArrayDeque" if base in ("Deque", "ArrayDeque", "Queue") else "LinkedList" if base == "LinkedList" else "ArrayList"
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
    """The expected value as normalised Java objects (Long, Double, String, Boolean, List, Map)."""
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
    return [m for m in _METHOD.finditer(code) if m.group(3) not in _KEYWORDS and m.group(2) not in _KEYWORDS
            and m.group(2) != "new"]


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
            r"^public\s+((?:final\s+|abstract\s+|sealed\s+)*(?:class|interface|enum|record)\b)", r"\1", body, flags=re.MULTILINE
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
    lines = ["  public static void main(String[] __args) {"]
    for i, case in enumerate(req.cases):
        args = ", ".join(literal(a, t) for a, t in zip(pad_args(req, case), params, strict=True))
        call = f"{callee}({args})"
        check = f"{call}; boolean ok = true;" if void else f"Object r = {call}; boolean ok = __eq(r, {_generic_literal(case.expected)});"
        if void and case.expected is not None:
            check = f"{call}; boolean ok = false;"
        lines.append(
            f'    try {{ {check} System.out.println("{MARK} {i} " + (ok ? "PASS" : "FAIL")); }}'
            f' catch (Throwable __t) {{ System.out.println("{MARK} {i} ERROR"); }}'
        )
    lines.append("    System.out.flush();\n  }")
    return _program(imports, body, wrapped, "\n".join(lines))


def library_unit(code: str) -> str:
    imports, body, wrapped = _prepare(code)
    return _program(imports, body, wrapped, "  public static void main(String[] __args) {}")
