"""C harness: scalars, strings and flat arrays; anything else is reported as unrenderable.

A flat list argument is passed the usual C way, as an array and its length
(``int *xs, int n``) when the translation declares exactly that; any other list, a dict, a
list result or an optional makes the cases unrenderable (the verdict says e.g.
``unrenderable: dict in c``) and the translation is compiled and run as a library unit.
Numbers are converted by C's own rules; strings compare with ``strcmp``, floats with a
tolerance.
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
_INTS = re.compile(r"^(?:const\s+)?(?:(?:unsigned|signed|long|short|int|char|size_t|ssize_t|int\d+_t|uint\d+_t|long long)\s*)+$")


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
            if kind != "pointer" or j + 1 >= len(ctypes) or _kind(ctypes[j + 1]) != "int" or _kind(elem) not in (
                    "int", "float", "bool", "char"):
                raise Unrenderable("list in c (no array and length parameters)")
            items = ", ".join(literal(x, "int" if _kind(elem) == "char" else _kind(elem)) for x in a) or "0"
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
    ret = _kind(m.group(1))
    lines = ["int main(void) {"]
    for i, case in enumerate(req.cases):
        args = ", ".join(_arguments(pad_args(req, case), ctypes, name))
        call = f"{name}({args})"
        e = case.expected
        if ret == "void":
            check = f"{call}; int ok = {1 if e is None else 0};"
        elif ret == "str":
            if not isinstance(e, str):
                raise Unrenderable(f"{_python_kind(e)} result from char* in c")
            check = f"const char *r = {call}; int ok = r != NULL && strcmp(r, {c_string(e)}) == 0;"
        elif ret == "float":
            x = literal(e, "float")
            check = (f"double r = {call}, e = {x}; int ok = (isnan(r) && isnan(e)) || r == e || "
                     f"fabs(r - e) <= {FLOAT_TOL} * fmax(1.0, fabs(e));")
        elif ret in ("int", "bool", "char"):
            x = literal(e, "char" if ret == "char" else "int")
            if isinstance(e, float):
                check = f"double r = (double){call}, e = {x}; int ok = r == e;"
            else:
                check = f"long long r = (long long){call}; int ok = r == (long long){x};"
        else:
            raise Unrenderable("result type in c")
        lines.append(f'  {{ {check} printf("{MARK} {i} %s\\n", ok ? "PASS" : "FAIL"); fflush(stdout); }}')
    lines += ["  return 0;", "}"]
    return _PRELUDE + code.rstrip() + "\n\n" + "\n".join(lines) + "\n"


def library_unit(code: str) -> str:
    code = code.rstrip()
    if _MAIN.search(code):
        return _PRELUDE + code + "\n"
    return _PRELUDE + code + "\n\nint main(void) { return 0; }\n"
