"""Rust harness: arguments typed from the translated function's signature.

Integer and float literals take their type from the parameter; strings become ``&str`` or
``String`` as declared, lists ``vec![..]`` (borrowed where the parameter is a reference),
dicts ``HashMap::from``, ``None``/``Some``. The result is printed in the canonical form
(``pipeline.harness.protocol``) through the ``HarnessValue`` trait, implemented for the
primitives, strings, ``Vec``/slices/arrays/``VecDeque``, sets, maps, ``Option``, tuples,
references and boxes; an ``Err`` or a panic is a raised value. Each call runs under
``catch_unwind`` so a panic fails one case, not the program. The helpers avoid the items
(``static``, macros, modules) that would keep the sandbox from linking a batch of harnesses
into one crate.
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
    check_arity,
    float_text,
    hex_string,
    pad_args,
    pick_function,
    split_top_level,
)

LANGUAGE = "rust"
_FN = re.compile(
    r"^[ \t]*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:unsafe\s+)?fn\s+([A-Za-z_]\w*)\s*(<[^(]*>)?\s*\(",
    re.MULTILINE,
)
_INTS = {"i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize"}
_MAPS = {"HashMap": "std::collections::HashMap", "BTreeMap": "std::collections::BTreeMap"}
_SEQS = {"Vec", "VecDeque"}


_CORE = """
#[allow(dead_code)]
trait HarnessValue { fn h_ser(&self, o: &mut String); }
#[allow(dead_code)]
fn h_hex(s: &str) -> String {
    let d = b"0123456789abcdef";
    let mut o = String::new();
    for b in s.bytes() { o.push(d[(b >> 4) as usize] as char); o.push(d[(b & 15) as usize] as char); }
    o
}
#[allow(dead_code)]
fn h_emit(s: &str) { print!("\\n@@PREFIX {}\\n", s); }
#[allow(dead_code)]
fn h_case(i: usize, f: &dyn Fn() -> String) {
    let line = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f())) {
        Ok(s) => s,
        Err(_) => format!("X{}", h_hex("panic")),
    };
    h_emit(&format!("CASE {} {}", i, line));
}
#[allow(dead_code)]
fn h_value<T: HarnessValue + ?Sized>(v: &T) -> String { let mut o = String::new(); v.h_ser(&mut o); o[1..].to_string() }
impl HarnessValue for () { fn h_ser(&self, o: &mut String) { o.push_str(" N"); } }
impl<T: HarnessValue + ?Sized> HarnessValue for &T { fn h_ser(&self, o: &mut String) { (**self).h_ser(o); } }
impl<T: HarnessValue + ?Sized> HarnessValue for &mut T { fn h_ser(&self, o: &mut String) { (**self).h_ser(o); } }
""".replace("@@PREFIX", PREFIX)

_FLOAT = """#[allow(dead_code)]
fn h_float(x: f64, o: &mut String) {
    if x.is_nan() { o.push_str(" Dnan"); }
    else if x.is_infinite() { o.push_str(if x > 0.0 { " Dinf" } else { " D-inf" }); }
    else { o.push_str(&format!(" D{:?}", x)); }
}
"""
_SEQ = 'o.push_str(" {tag}"); o.push_str(&self.len().to_string()); for x in self {{ x.h_ser(o); }}'
_MAP = 'o.push_str(" M"); o.push_str(&self.len().to_string()); for (k, v) in self {{ k.h_ser(o); v.h_ser(o); }}'
_INTS = ("i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize")

#: (the type names that call for it, the impl): only the impls the declared result type needs
#: are written, as every impl costs compile time in every program of a batch.
_IMPLS: tuple[tuple[tuple[str, ...], str], ...] = (
    *(
        (
            (t,),
            f'impl HarnessValue for {t} {{ fn h_ser(&self, o: &mut String) {{ o.push_str(" I"); '
            f"o.push_str(&self.to_string()); }} }}\n",
        )
        for t in _INTS
    ),
    (
        ("bool",),
        'impl HarnessValue for bool { fn h_ser(&self, o: &mut String) { o.push_str(if *self { " B1" } else { " B0" }); } }\n',
    ),
    (("f64", "f32"), _FLOAT),
    (
        ("f64",),
        "impl HarnessValue for f64 { fn h_ser(&self, o: &mut String) { h_float(*self, o); } }\n",
    ),
    (
        ("f32",),
        "impl HarnessValue for f32 { fn h_ser(&self, o: &mut String) { h_float(*self as f64, o); } }\n",
    ),
    (
        ("char",),
        'impl HarnessValue for char { fn h_ser(&self, o: &mut String) { o.push_str(" S"); o.push_str(&h_hex(&self.to_string())); } }\n',
    ),
    (
        ("str", "String"),
        'impl HarnessValue for str { fn h_ser(&self, o: &mut String) { o.push_str(" S"); o.push_str(&h_hex(self)); } }\n',
    ),
    (
        ("String",),
        "impl HarnessValue for String { fn h_ser(&self, o: &mut String) { self.as_str().h_ser(o); } }\n",
    ),
    (
        ("Box",),
        "impl<T: HarnessValue + ?Sized> HarnessValue for Box<T> { fn h_ser(&self, o: &mut String) { (**self).h_ser(o); } }\n",
    ),
    (
        ("Option",),
        'impl<T: HarnessValue> HarnessValue for Option<T> { fn h_ser(&self, o: &mut String) { match self { Some(v) => v.h_ser(o), None => o.push_str(" N") } } }\n',
    ),
    (
        ("Result",),
        'impl<T: HarnessValue, E> HarnessValue for Result<T, E> { fn h_ser(&self, o: &mut String) { match self { Ok(v) => v.h_ser(o), Err(_) => { o.push_str(" X"); o.push_str(&h_hex("Err")); } } } }\n',
    ),
    (
        ("[", "Vec"),
        "impl<T: HarnessValue> HarnessValue for [T] { fn h_ser(&self, o: &mut String) { "
        + _SEQ.format(tag="L")
        + " } }\n",
    ),
    (
        ("[",),
        "impl<T: HarnessValue, const N: usize> HarnessValue for [T; N] { fn h_ser(&self, o: &mut String) { self[..].h_ser(o); } }\n",
    ),
    (
        ("Vec",),
        "impl<T: HarnessValue> HarnessValue for Vec<T> { fn h_ser(&self, o: &mut String) { self[..].h_ser(o); } }\n",
    ),
    (
        ("VecDeque",),
        "impl<T: HarnessValue> HarnessValue for std::collections::VecDeque<T> { fn h_ser(&self, o: &mut String) { "
        + _SEQ.format(tag="L")
        + " } }\n",
    ),
    (
        ("HashSet",),
        "impl<T: HarnessValue, S> HarnessValue for std::collections::HashSet<T, S> { fn h_ser(&self, o: &mut String) { "
        + _SEQ.format(tag="U")
        + " } }\n",
    ),
    (
        ("BTreeSet",),
        "impl<T: HarnessValue> HarnessValue for std::collections::BTreeSet<T> { fn h_ser(&self, o: &mut String) { "
        + _SEQ.format(tag="U")
        + " } }\n",
    ),
    (
        ("HashMap",),
        "impl<K: HarnessValue, V: HarnessValue, S> HarnessValue for std::collections::HashMap<K, V, S> { fn h_ser(&self, o: &mut String) { "
        + _MAP.format()
        + " } }\n",
    ),
    (
        ("BTreeMap",),
        "impl<K: HarnessValue, V: HarnessValue> HarnessValue for std::collections::BTreeMap<K, V> { fn h_ser(&self, o: &mut String) { "
        + _MAP.format()
        + " } }\n",
    ),
    *(
        (
            ("(",),
            "impl<"
            + ", ".join(f"T{j}: HarnessValue" for j in range(n))
            + "> HarnessValue for ("
            + "".join(f"T{j}, " for j in range(n))
            + ") { fn h_ser(&self, o: &mut String) { "
            + f'o.push_str(" L{n}"); '
            + " ".join(f"self.{j}.h_ser(o);" for j in range(n))
            + " } }\n",
        )
        for n in range(1, 7)
    ),
)
_KNOWN = {name for names, _ in _IMPLS for name in names} | {"std", "collections", "mut", "dyn"}


def _helpers(result_type: str) -> str:
    """The serialiser for a declared result type: the core and the impls its names call for;
    every impl when the type names anything else (an alias, a struct, ``impl Trait``)."""
    t = re.sub(r"'\w+", "", result_type)
    names = set(re.findall(r"[A-Za-z_]\w*", t))
    if "[" in t:
        names.add("[")
    if "(" in re.sub(r"\(\s*\)", "", t):
        names.add("(")
    everything = not names <= _KNOWN
    chosen = [impl for wanted, impl in _IMPLS if everything or names & set(wanted)]
    return _CORE + "".join(dict.fromkeys(chosen))


def _generic(t: str) -> tuple[str, list[str]]:
    t = t.strip()
    if "<" not in t:
        return t.rsplit("::", 1)[-1], []
    base, rest = t.split("<", 1)
    return base.strip().rsplit("::", 1)[-1], split_top_level(rest.rsplit(">", 1)[0])


def literal(v: Any, t: str) -> str:
    """A Rust expression of type ``t`` holding the Python value ``v``."""
    t = re.sub(r"\s+", " ", t.strip())
    t = re.sub(r"^&\s*'\w+\s+", "&", t)  # drop lifetimes: &'a str -> &str
    if t.startswith("&mut "):
        return "&mut " + literal(v, t[5:])
    if t.startswith("&"):
        inner = t[1:].strip()
        if inner == "str":
            if not isinstance(v, str):
                raise Unrenderable(f"{type(v).__name__} for &str in rust")
            return hex_string(v)
        if inner.startswith("[") and inner.endswith("]"):
            return "&" + literal(v, f"Vec<{inner[1:-1]}>")
        return "&" + literal(v, inner)
    base, params = _generic(t)
    if t.startswith("(") and t.endswith(")"):
        slots = split_top_level(t[1:-1])
        if not isinstance(v, (list, tuple)) or len(v) != len(slots):
            raise Unrenderable(f"{v!r} for {t} in rust")
        return "(" + "".join(literal(x, s) + ", " for x, s in zip(v, slots, strict=True)) + ")"
    if base == "Option":
        return "None" if v is None else f"Some({literal(v, params[0])})"
    if v is None:
        raise Unrenderable(f"None for {t} in rust")
    if base in _INTS:
        if isinstance(v, bool) or not isinstance(v, int):
            raise Unrenderable(f"{type(v).__name__} for {t} in rust")
        if v < 0 and base.startswith("u"):
            raise Unrenderable(f"negative value for {t} in rust")
        return f"{v}{base}" if v >= 0 else f"({v}{base})"
    if base in ("f32", "f64"):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise Unrenderable(f"{type(v).__name__} for {t} in rust")
        x = float(v)
        if math.isnan(x):
            return f"{base}::NAN"
        if math.isinf(x):
            return f"{'' if x > 0 else '-'}{base}::INFINITY"
        return f"({float_text(x)}{base})"
    if base == "bool":
        if not isinstance(v, bool):
            raise Unrenderable(f"{type(v).__name__} for bool in rust")
        return "true" if v else "false"
    if base == "char":
        if not isinstance(v, str) or len(v) != 1:
            raise Unrenderable(f"{v!r} for char in rust")
        return "'" + hex_string(v)[1:-1].replace("'", "\\'").replace('\\"', '"') + "'"
    if base == "String":
        if not isinstance(v, str):
            raise Unrenderable(f"{type(v).__name__} for String in rust")
        return f"String::from({hex_string(v)})"
    if base in _SEQS:
        if not isinstance(v, (list, tuple)):
            raise Unrenderable(f"{type(v).__name__} for {t} in rust")
        items = ", ".join(literal(x, params[0]) for x in v)
        return (
            f"vec![{items}]"
            if base == "Vec"
            else f"std::collections::VecDeque::from(vec![{items}])"
        )
    if base in _MAPS:
        if not isinstance(v, dict):
            raise Unrenderable(f"{type(v).__name__} for {t} in rust")
        items = ", ".join(
            f"({literal(k, params[0])}, {literal(x, params[1])})" for k, x in v.items()
        )
        return f"{_MAPS[base]}::<{params[0]}, {params[1]}>::from([{items}])"
    raise Unrenderable(f"type {t} in rust")


def defined_functions(code: str) -> list[str]:
    return [m.group(1) for m in _FN.finditer(code)]


def _without_main(code: str) -> str:
    return re.sub(
        r"^(\s*)(pub\s+)?fn\s+main\s*\(",
        r"\1#[allow(dead_code)]\n\1fn __translated_main(",
        code,
        flags=re.MULTILINE,
    )


def render(req: HarnessRequest) -> str:
    check_arity(req)
    code = _without_main(req.code)
    name = pick_function(defined_functions(code), req.func_name)
    m = next(m for m in _FN.finditer(code) if m.group(1) == name)
    if m.group(2) and re.sub(r"'\w+|[<>,\s]", "", m.group(2)):  # lifetimes alone are fine
        raise Unrenderable(f"generic rust function {name}")
    inner, end = balanced_parens(code, m.end() - 1)
    params = []
    for p in split_top_level(inner):
        if p.startswith(("self", "&self", "&mut self", "mut self")):
            raise Unrenderable(f"rust method {name} takes self")
        params.append(p.split(":", 1)[1].strip() if ":" in p else p)
    if any(len(pad_args(req, c)) != len(params) for c in req.cases):
        raise Unrenderable(f"rust function {name} takes {len(params)} parameters")
    ret_m = re.match(r"\s*->\s*([^{]+?)\s*(?:where\b[^{]*)?\{", code[end:])
    ret = ret_m.group(1).strip() if ret_m else "()"
    lines = [
        "#[allow(unused_variables, unused_mut, unused_parens, unreachable_code)]",
        "fn main() {",
        "    std::panic::set_hook(Box::new(|_| {}));",
        "    let mut nonce = String::new();",
        "    let _ = std::io::stdin().read_line(&mut nonce);",
        "    let nonce = nonce.trim().to_string();",
        '    h_emit(&format!("BEGIN {}", nonce));',
    ]
    for i, case in enumerate(req.cases):
        args = ", ".join(literal(a, t) for a, t in zip(pad_args(req, case), params, strict=True))
        lines.append(f"    h_case({i}, &|| {{ let r = {name}({args}); h_value(&r) }});")
    lines += ['    h_emit(&format!("END {}", nonce));', "}"]
    return code.rstrip() + "\n" + _helpers(ret) + "\n" + "\n".join(lines) + "\n"


def library_unit(code: str) -> str:
    code = code.rstrip()
    if re.search(r"^\s*(pub\s+)?fn\s+main\s*\(", code, re.MULTILINE):
        return code + "\n"
    return code + "\n\nfn main() {}\n"
