"""C++ harness: argument types are read from the translated function itself.

``decltype(&f)`` gives the function type; each argument is declared as that parameter's
decayed type and brace-initialised from the case's literal (``{1, 2}`` fills a
``std::vector<int>`` or a ``std::vector<long>`` alike, ``"abc"`` a ``std::string``), so no
guess about the translator's choice of int width or container is needed. The result is
printed in the canonical form (``pipeline.harness.protocol``) by ``__h::ser``, chosen at
compile time from its type: integers, floats, ``bool``, ``char`` (a one-byte string),
strings, ``std::optional``, pairs and tuples, sequences, sets and maps; anything else is
opaque. An integer result of a source function that returns ``bool`` is printed as a boolean
when it is 0 or 1; the result of a source function that returns nothing is not looked at.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pipeline.harness.base import (
    PREFIX,
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

_HELPERS = r"""
namespace __h {
template <typename T> struct ft;
template <typename R, typename... A> struct ft<R (*)(A...)> {
  using ret = std::decay_t<R>;
  template <std::size_t I> using arg = std::decay_t<std::tuple_element_t<I, std::tuple<A...>>>;
};
template <typename R, typename... A> struct ft<R (*)(A...) noexcept> : ft<R (*)(A...)> {};
template <typename T, typename = void> struct is_seq : std::false_type {};
template <typename T> struct is_seq<T, std::void_t<decltype(std::declval<T>().begin()), typename T::value_type>>
    : std::bool_constant<!std::is_same_v<T, std::string>> {};
template <typename T, typename = void> struct is_map : std::false_type {};
template <typename T> struct is_map<T, std::void_t<typename T::key_type, typename T::mapped_type>> : std::true_type {};
template <typename T, typename = void> struct is_set : std::false_type {};
template <typename T> struct is_set<T, std::void_t<typename T::key_type>> : std::bool_constant<!is_map<T>::value> {};
template <typename T> struct is_optional : std::false_type {};
template <typename T> struct is_optional<std::optional<T>> : std::true_type {};
struct VoidTag {};
template <typename T> struct is_tuple : std::false_type {};
template <typename... A> struct is_tuple<std::tuple<A...>> : std::true_type {};
template <typename A, typename B> struct is_tuple<std::pair<A, B>> : std::true_type {};

inline void hex(std::string& o, const std::string& s) {
  static const char* d = "0123456789abcdef";
  for (unsigned char c : s) { o += d[c >> 4]; o += d[c & 15]; }
}
template <typename T> void ser(std::string& o, const T& v);
template <typename T> void ser_items(std::string& o, char tag, const T& v) {
  o += ' '; o += tag; o += std::to_string(std::distance(std::begin(v), std::end(v)));
  for (const auto& x : v) ser(o, static_cast<typename T::value_type>(x));
}
template <typename T> void ser(std::string& o, const T& v) {
  if constexpr (std::is_same_v<T, bool>) { o += v ? " B1" : " B0"; }
  else if constexpr (std::is_same_v<T, char>) { o += " S"; hex(o, std::string(1, v)); }
  else if constexpr (std::is_integral_v<T>) { o += " I"; o += std::to_string(v); }
  else if constexpr (std::is_enum_v<T>) { o += " I"; o += std::to_string(static_cast<long long>(v)); }
  else if constexpr (std::is_floating_point_v<T>) {
    double d = static_cast<double>(v);
    if (std::isnan(d)) o += " Dnan";
    else if (std::isinf(d)) o += d > 0 ? " Dinf" : " D-inf";
    else { char b[40]; std::snprintf(b, sizeof b, "%.17g", d); o += " D"; o += b; }
  }
  else if constexpr (std::is_same_v<T, std::nullptr_t> || std::is_same_v<T, VoidTag>) { o += " N"; }
  else if constexpr (std::is_pointer_v<T> && std::is_convertible_v<T, const char*>) {
    if (v == nullptr) o += " N"; else { o += " S"; hex(o, std::string(v)); }
  }
  else if constexpr (std::is_convertible_v<const T&, std::string_view>) { o += " S"; hex(o, std::string(std::string_view(v))); }
  else if constexpr (is_optional<T>::value) { if (v) ser(o, *v); else o += " N"; }
  else if constexpr (is_tuple<T>::value) {
    o += " L"; o += std::to_string(std::tuple_size_v<T>);
    std::apply([&o](const auto&... x) { (ser(o, x), ...); }, v);
  }
  else if constexpr (is_map<T>::value) {
    o += " M"; o += std::to_string(v.size());
    for (const auto& kv : v) { ser(o, kv.first); ser(o, kv.second); }
  }
  else if constexpr (is_set<T>::value) { ser_items(o, 'U', v); }
  else if constexpr (is_seq<T>::value) { ser_items(o, 'L', v); }
  else { o += " O"; hex(o, typeid(T).name()); }
}
// A source function returning bool: an integer 0 or 1 is that boolean (C-style predicates).
template <typename T> void ser_bool(std::string& o, const T& v) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (v == 0 || v == 1) { o += v ? " B1" : " B0"; return; }
  }
  ser(o, v);
}
inline void emit(const std::string& s) { std::cout << "\n@@PREFIX " << s << std::endl; }
// ``(call, VoidTag{})`` is the call's result, or a VoidTag when it returns void.
template <typename T> T&& operator,(T&& x, VoidTag) { return std::forward<T>(x); }
template <typename T> std::string value(const T& v) { std::string o; ser(o, v); return o.substr(1); }
template <typename T> std::string value_bool(const T& v) { std::string o; ser_bool(o, v); return o.substr(1); }
// One non-template runner: each case is a captureless lambda, i.e. a plain function pointer.
inline void run_case(int i, std::string (*f)()) {
  std::string o;
  try { o = f(); }
  catch (const std::exception& e) { o = "X"; hex(o, "std::exception"); }
  catch (...) { o = "X"; hex(o, "exception"); }
  emit("CASE " + std::to_string(i) + " " + o);
}
}  // namespace __h
""".replace("@@PREFIX", PREFIX)


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
        return (
            "{" + ", ".join("{" + literal(k) + ", " + literal(x) + "}" for k, x in v.items()) + "}"
        )
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
    out = [
        _PRELUDE,
        "#include <iterator>\n#include <string_view>\n#include <typeinfo>\n#include <cstdio>",
        _without_main(req.code).rstrip(),
        _HELPERS,
        "int main() {",
    ]
    # Plain functions: arguments take the declared parameter types (decltype(&f)). Templates
    # (auto parameters) have no such type: arguments take the C++ image of the Python types.
    template = _is_template(req.code, name)
    if template:
        types = [cpp_type(t) for t in req.signature.param_types]
    else:
        out.append(f"  using F = __h::ft<decltype(&{name})>;")
        types = [f"F::arg<{j}>" for j in range(len(req.signature.params))]
    out += [
        "  std::string __nonce;",
        "  if (!std::getline(std::cin, __nonce)) __nonce.clear();",
        '  __nonce = __nonce.substr(0, __nonce.find_first_of(" \\t\\r\\n"));',
        '  __h::emit("BEGIN " + __nonce);',
    ]
    returns = req.signature.returns.kind
    for i, case in enumerate(req.cases):
        args = pad_args(req, case)
        decls = " ".join(f"{types[j]} a{j}{_braced(a)};" for j, a in enumerate(args))
        call = f"{name}({', '.join(f'a{j}' for j in range(len(args)))})"
        if (
            returns == "none"
        ):  # the source returns nothing: its translation's result is not looked at
            body = f'{call}; return "N";'
        else:
            body = f"return __h::{'value_bool' if returns == 'bool' else 'value'}(({call}, __h::VoidTag{{}}));"
        out.append(f"  __h::run_case({i}, []() -> std::string {{ {decls} {body} }});")
    out += ['  __h::emit("END " + __nonce);', "  return 0;", "}"]
    return "\n".join(out) + "\n"


def _braced(v: Any) -> str:
    text = literal(v)
    return text if text.startswith("{") else "{" + text + "}"


def library_unit(code: str) -> str:
    code = code.rstrip()
    if _MAIN.search(code):
        return _PRELUDE + code + "\n"
    return _PRELUDE + code + "\n\nint main() { return 0; }\n"
