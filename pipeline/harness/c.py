"""C harness: scalars, strings and flat arrays; anything else is reported as unrenderable.

A flat list argument is passed the usual C way, as an array and its length
(``int *xs, int n``) when the translation declares exactly that; any other list, a dict, a
list result or an optional makes the cases unrenderable (the verdict says e.g.
``unrenderable: dict in c``) and the translation is compiled and run as a library unit.
Arguments are converted by C's own rules. The result is printed in the canonical form
(``pipeline.harness.protocol``) by its declared C type: integers as ``I``, ``double`` as
``D`` (``%.17g``), ``char *`` as a string (NULL as null), ``char`` as a one-byte string where
the source returns a string, ``bool`` as a boolean; an integer result of a source function
that returns ``bool`` is printed as a boolean when it is 0 or 1, as C has no other way.
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

LANGUAGE = "c"
_DEF = re.compile(
    r"^[ \t]*((?:(?:static|inline|extern|const|unsigned|signed|long|short|struct)\s+)*[A-Za-z_]\w*[\s\*]+)"
    r"([A-Za-z_]\w*)\s*\(([^;{)]*)\)\s*\{",
    re.MULTILINE,
)
_MAIN = re.compile(r"\bint\s+main\s*\(")
_KEYWORDS = {"if", "for", "while", "switch", "return", "else", "do", "sizeof"}
_PRELUDE = (
    "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <math.h>\n"
    "#include <stdbool.h>\n#include <stdint.h>\n#include <ctype.h>\n#include <limits.h>\n"
)
_INTS = re.compile(
    r"^(?:const\s+)?(?:(?:unsigned|signed|long|short|int|char|size_t|ssize_t|int\d+_t|uint\d+_t|long long)\s*)+$"
)


def _kind(t: str) -> str:
    """``int``, ``float``, ``bool``, ``char``, ``str`` or ``other`` for a C type."""
    t = re.sub(r"\s+", " ", t.replace("const", "").strip())
    if t in ("char *", "char*") or re.fullmatch(r"char\s*\*", t):
        return "str"
    if "*" in t or "[" in t:
        return "pointer"
    if t in ("bool", "_Bool"):
        return "bool"
    if t in ("double", "float", "long double"):
        return "float"
    if t == "char":
        return "char"
    if _INTS.match(t):
        return "int"
    if t == "void":
        return "void"
    return "other"


def _python_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "str"
    if v is None:
        return "none"
    if isinstance(v, (list, tuple)):
        return "list"
    return type(v).__name__


def literal(v: Any, kind: str) -> str:
    py = _python_kind(v)
    if py in ("list", "dict", "none", "set"):
        raise Unrenderable(f"{'list' if py == 'list' else py} in c")
    if kind == "str":
        if py != "str":
            raise Unrenderable(f"{py} for char* in c")
        return c_string(v)
    if kind == "char":
        if py != "str" or len(v) != 1 or ord(v) > 127:
            raise Unrenderable(f"{v!r} for char in c")
        return str(ord(v))
    if kind in ("int", "bool", "float"):
        if py == "bool":
            return "1" if v else "0"
        if py != "number":
            raise Unrenderable(f"{py} for {kind} in c")
        if isinstance(v, float):
            if math.isnan(v):
                return "NAN"
            if math.isinf(v):
                return "INFINITY" if v > 0 else "-INFINITY"
            return float_text(v)
        if abs(v) >= 2**63:
            raise Unrenderable("integer beyond 64 bits in c")
        return f"{v}LL" if abs(v) >= 2**31 else str(v)
    if kind == "pointer":
        raise Unrenderable("list in c")
    raise Unrenderable("parameter type in c")


def _flat(v: Any) -> bool:
    """A list of numbers/bools only (passed as a C array plus its length)."""
    return isinstance(v, (list, tuple)) and all(_python_kind(x) in ("number", "bool") for x in v)


def _arguments(args: tuple[Any, ...], ctypes: list[str], name: str) -> list[str]:
    """C arguments for the Python ones; a flat list fills a ``T *`` and the length after it.

    The (pointer, length) pair is the usual C rendering of a Python list; any other shape of
    parameter list is unrenderable rather than guessed.
    """
    out: list[str] = []
    j = 0
    for a in args:
        if j >= len(ctypes):
            raise Unrenderable(f"c function {name} takes {len(ctypes)} parameters")
        kind = _kind(ctypes[j])
        if _python_kind(a) == "list":
            elem = re.sub(r"\bconst\b|\*", "", ctypes[j]).strip()
            if (
                kind != "pointer"
                or j + 1 >= len(ctypes)
                or _kind(ctypes[j + 1]) != "int"
                or _kind(elem) not in ("int", "float", "bool", "char")
            ):
                raise Unrenderable("list in c (no array and length parameters)")
            items = (
                ", ".join(literal(x, "int" if _kind(elem) == "char" else _kind(elem)) for x in a)
                or "0"
            )
            out += [f"({elem}[]){{{items}}}", str(len(a))]
            j += 2
        else:
            out.append(literal(a, kind))
            j += 1
    if j != len(ctypes):
        raise Unrenderable(f"c function {name} takes {len(ctypes)} parameters")
    return out


def defined_functions(code: str) -> list[str]:
    return [m.group(2) for m in _DEF.finditer(code) if m.group(2) not in _KEYWORDS]


_HELPERS = r"""
static void __ct_emit_head(const char *s) { fflush(stdout); printf("\n@@PREFIX %s", s); }
static void __ct_emit_end(void) { printf("\n"); fflush(stdout); }
static void __ct_hex(const char *s, size_t n) { for (size_t i = 0; i < n; i++) printf("%02x", (unsigned char)s[i]); }
static void __ct_str(const char *s) { if (s == NULL) { printf("N"); return; } printf("S"); __ct_hex(s, strlen(s)); }
static void __ct_char(char c) { printf("S"); __ct_hex(&c, 1); }
static void __ct_double(double d) {
  if (isnan(d)) printf("Dnan");
  else if (isinf(d)) printf(d > 0 ? "Dinf" : "D-inf");
  else printf("D%.17g", d);
}
static void __ct_bool_or_int(long long v) { if (v == 0 || v == 1) printf("B%lld", v); else printf("I%lld", v); }
""".replace("@@PREFIX", PREFIX)


def _printer(ret_c: str, ret_kind: str, py_returns: str) -> str | None:
    """The C statement printing ``r`` (the result) for a declared C result type, or None."""
    if ret_kind == "str":
        return "__ct_str(r);"
    if ret_kind == "float":
        return "__ct_double((double)r);"
    if ret_kind == "bool":
        return 'printf(r ? "B1" : "B0");'
    if ret_kind == "char" and py_returns == "str":
        return "__ct_char(r);"
    if ret_kind in ("int", "char"):
        if py_returns == "bool":
            return "__ct_bool_or_int((long long)r);"
        if re.search(r"\bunsigned\b|\buint\d+_t\b|\bsize_t\b", ret_c):
            return 'printf("I%llu", (unsigned long long)r);'
        return 'printf("I%lld", (long long)r);'
    return None


def render(req: HarnessRequest) -> str:
    check_arity(req)
    for case in req.cases:  # say what cannot be written before looking at the C side
        for v in (*case.args, case.expected):
            kind = _python_kind(v)
            if kind in ("dict", "set") or (kind == "list" and (v is case.expected or not _flat(v))):
                raise Unrenderable(f"{kind} in c")
    code = _MAIN.sub("int __translated_main(", req.code)
    name = pick_function(defined_functions(code), req.func_name)
    m = next(m for m in _DEF.finditer(code) if m.group(2) == name)
    inner, _ = balanced_parens(code, m.start(3) - 1)
    params = [] if inner.strip() in ("", "void") else split_top_level(inner)
    ctypes = []
    for p in params:
        p = re.sub(r"\[\s*\]", "*", p)
        ctypes.append(re.sub(r"[A-Za-z_]\w*\s*$", "", p).strip() or p)
    ret_c = re.sub(r"\b(?:static|inline|extern)\b", "", m.group(1)).strip()
    ret = _kind(ret_c)
    py_returns = req.signature.returns.kind
    if ret == "void":
        printer = None
    else:
        printer = _printer(ret_c, ret, py_returns)
        if printer is None:
            raise Unrenderable("result type in c")
    lines = [
        "int main(void) {",
        '  char __ct_nonce[80] = "";',
        "  if (fgets(__ct_nonce, sizeof __ct_nonce, stdin) == NULL) __ct_nonce[0] = 0;",
        '  __ct_nonce[strcspn(__ct_nonce, " \\t\\r\\n")] = 0;',
        '  __ct_emit_head("BEGIN "); printf("%s", __ct_nonce); __ct_emit_end();',
    ]
    for i, case in enumerate(req.cases):
        args = ", ".join(_arguments(pad_args(req, case), ctypes, name))
        call = f"{name}({args})"
        if printer is None:
            body = f'{call}; __ct_emit_head("CASE {i} "); printf("N");'
        else:
            body = f'{ret_c} r = {call}; __ct_emit_head("CASE {i} "); {printer}'
        lines.append(f"  {{ {body} __ct_emit_end(); }}")
    lines += [
        '  __ct_emit_head("END "); printf("%s", __ct_nonce); __ct_emit_end();',
        "  return 0;",
        "}",
    ]
    return _PRELUDE + code.rstrip() + "\n" + _HELPERS + "\n" + "\n".join(lines) + "\n"


def library_unit(code: str) -> str:
    code = code.rstrip()
    if _MAIN.search(code):
        return _PRELUDE + code + "\n"
    return _PRELUDE + code + "\n\nint main(void) { return 0; }\n"
