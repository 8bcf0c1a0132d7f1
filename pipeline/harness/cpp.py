"""C++ harness: argument and result types are read from the translated function itself.

``decltype(&f)`` gives the function type; each argument is declared as that parameter's
decayed type and brace-initialised from the case's literal (``{1, 2}`` fills a
``std::vector<int>`` or a ``std::vector<long>`` alike, ``"abc"`` a ``std::string``), so no
guess about the translator's choice of int width or container is needed. The result is
compared with ``__h::eq`` (floats with a tolerance, containers element-wise).
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
    c_string,
    check_arity,
    float_text,
    pad_args,
    pick_function,
)
from pipeline.harness.pytypes import PyType

LANGUAGE = "cpp"
_DEF = re.compile(
    r"^[ \t]*(?:template\s*<[^>]*>\s*)?(?:(?:inline|static|constexpr|extern)\s+)*"
    r"[A-Za-z_][\w:<>,\s\*&]*?[\s\*&]([A-Za-z_]\w*)\s*\([^;{]*\)\s*(?:const\s*)?(?:noexcept\s*)?(?:->\s*[^{;]+)?\{",
    re.MULTILINE,
)
_MAIN = re.compile(r"\bint\s+main\s*\(")
_KEYWORDS = {"if", "for", "while", "switch", "return", "catch", "else", "do"}

#: The usual standard headers (translations often omit them); ``bits/stdc++.h`` costs ~2x the
#: compile time of this list.
_HEADERS = (
    "algorithm",
    "array",
    "cassert",
    "cctype",
    "climits",
    "cmath",
    "cstdint",
    "cstdlib",
    "cstring",
    "deque",
    "functional",
    "iostream",
    "limits",
    "map",
    "numeric",
    "optional",
    "queue",
    "set",
    "sstream",
    "stack",
    "stdexcept",
    "string",
    "tuple",
    "type_traits",
    "unordered_map",
    "unordered_set",
    "utility",
    "vector",
)
_PRELUDE = "".join(f"#include <{h}>\n" for h in _HEADERS)

_HELPERS = f"""
namespace __h {{
template <typename T> struct ft;
template <typename R, typename... A> struct ft<R (*)(A...)> {{
  using ret = std::decay_t<R>;
  template <std::size_t I> using arg = std::decay_t<std::tuple_element_t<I, std::tuple<A...>>>;
}};
template <typename R, typename... A> struct ft<R (*)(A...) noexcept> : ft<R (*)(A...)> {{}};
template <typename T, typename = void> struct is_seq : std::false_type {{}};
template <typename T> struct is_seq<T, std::void_t<decltype(std::declval<T>().begin()), typename T::value_type>>
    : std::bool_constant<!std::is_same_v<T, std::string>> {{}};
template <typename A, typename B> bool eq(const A& a, const B& b) {{
  if constexpr (std::is_floating_point_v<A> || std::is_floating_point_v<B>) {{
    double x = (double)a, y = (double)b;
    if (std::isnan(x) && std::isnan(y)) return true;
    return x == y || std::fabs(x - y) <= {FLOAT_TOL} * std::max(1.0, std::fabs(y));
  }} else if constexpr (is_seq<A>::value && is_seq<B>::value) {{
    auto i = a.begin(); auto j = b.begin();
    for (; i != a.end() && j != b.end(); ++i, ++j) if (!eq(*i, *j)) return false;
    return i == a.end() && j == b.end();
  }} else {{
    return a == b;
  }}
}}
}}  // namespace __h
"""


def literal(v: Any) -> str:
    """A brace-initialiser for a Python value (the declared C++ type gives it meaning)."""
    if v is None:
        return "{}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        if abs(v) >= 2**63:
            raise Unrenderable("integer beyond 64 bits in cpp")
        return f"{v}LL" if abs(v) >= 2**31 else str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "NAN"
        if math.isinf(v):
            return "INFINITY" if v > 0 else "-INFINITY"
        return float_text(v)
    if isinstance(v, str):
        return f"std::string({c_string(v)})"
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(literal(x) for x in v) + "}"
    if isinstance(v, dict):
        return "{" + ", ".join("{" + literal(k) + ", " + literal(x) + "}" for k, x in v.items()) + "}"
    raise Unrenderable(f"{type(v).__name__} value in cpp")


def defined_functions(code: str) -> list[str]:
    return [n for n in _DEF.findall(code) if n not in _KEYWORDS]


def _without_main(code: str) -> str:
    return _MAIN.sub("int __translated_main(", code)


def cpp_type(t: PyType) -> str:
    """A C++ type for a Python type, for calling templates (``auto`` parameters)."""
    k = t.kind
    simple = {"int": "long long", "float": "double", "bool": "bool", "str": "std::string"}
    if k in simple:
        return simple[k]
    if k == "list":
        return f"std::vector<{cpp_type(t.args[0])}>"
    if k == "dict":
        return f"std::map<{cpp_type(t.args[0])}, {cpp_type(t.args[1])}>"
    if k == "optional":
        return f"std::optional<{cpp_type(t.args[0])}>"
    if k == "tuple":
        if t.args and all(a == t.args[0] for a in t.args):  # indexable like the Python tuple
            return f"std::vector<{cpp_type(t.args[0])}>"
        return f"std::tuple<{', '.join(cpp_type(a) for a in t.args)}>"
    raise Unrenderable(f"{t} argument of a C++ template")


def _is_template(code: str, name: str) -> bool:
    m = re.search(rf"(template\s*<[^>]*>\s*)?[\w:<>,\s\*&]*\b{re.escape(name)}\s*\(([^)]*)\)", code)
    return bool(m and (m.group(1) or re.search(r"\bauto\b", m.group(2))))


def render(req: HarnessRequest) -> str:
    check_arity(req)
    name = pick_function(defined_functions(req.code), req.func_name)
    out = [_PRELUDE, _without_main(req.code).rstrip(), _HELPERS, "int main() {"]
    # Plain functions: arguments take the declared parameter types (decltype(&f)). Templates
    # (auto parameters) have no such type: arguments take the C++ image of the Python types.
    template = _is_template(req.code, name)
    if template:
        types = [cpp_type(t) for t in req.signature.param_types]
    else:
        out.append(f"  using F = __h::ft<decltype(&{name})>;")
        types = [f"F::arg<{j}>" for j in range(len(req.signature.params))]
    for i, case in enumerate(req.cases):
        args = pad_args(req, case)
        decls = " ".join(f"{types[j]} a{j}{_braced(a)};" for j, a in enumerate(args))
        call = f"{name}({', '.join(f'a{j}' for j in range(len(args)))})"
        if case.expected is None and req.signature.returns.kind not in ("optional", "any"):
            check = f"{call}; bool ok = true;"
        elif template:
            check = f"auto r = {call}; std::decay_t<decltype(r)> e{_braced(case.expected)}; bool ok = __h::eq(r, e);"
        else:
            check = f"F::ret e{_braced(case.expected)}; bool ok = __h::eq({call}, e);"
        out.append(
            f'  try {{ {decls} {check} std::cout << "{MARK} {i} " << (ok ? "PASS" : "FAIL") << std::endl; }}'
            f' catch (...) {{ std::cout << "{MARK} {i} ERROR" << std::endl; }}'
        )
    out += ["  return 0;", "}"]
    return "\n".join(out) + "\n"


def _braced(v: Any) -> str:
    text = literal(v)
    return text if text.startswith("{") else "{" + text + "}"


def library_unit(code: str) -> str:
    code = code.rstrip()
    if _MAIN.search(code):
        return _PRELUDE + code + "\n"
    return _PRELUDE + code + "\n\nint main() { return 0; }\n"
