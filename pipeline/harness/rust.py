"""Rust harness: arguments typed from the translated function's signature.

Integer and float literals take their type from the parameter; strings become ``&str`` or
``String`` as declared, lists ``vec![..]`` (borrowed where the parameter is a reference),
dicts ``HashMap::from``, ``None``/``Some``. The expected value is written for the declared
result type and compared with ``==`` (floats and float vectors with a tolerance). Each call
runs under ``catch_unwind`` so a panic fails one case, not the program.
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
    check_arity,
    float_text,
    hex_string,
    pad_args,
    pick_function,
    split_top_level,
)

LANGUAGE = "rust"
_FN = re.compile(r"^[ \t]*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:unsafe\s+)?fn\s+([A-Za-z_]\w*)\s*(<[^(]*>)?\s*\(", re.MULTILINE)
_INTS = {"i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize"}
_MAPS = {"HashMap": "std::collections::HashMap", "BTreeMap": "std::collections::BTreeMap"}
_SEQS = {"Vec", "VecDeque"}


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
        return f"vec![{items}]" if base == "Vec" else f"std::collections::VecDeque::from(vec![{items}])"
    if base in _MAPS:
        if not isinstance(v, dict):
            raise Unrenderable(f"{type(v).__name__} for {t} in rust")
        items = ", ".join(f"({literal(k, params[0])}, {literal(x, params[1])})" for k, x in v.items())
        return f"{_MAPS[base]}::<{params[0]}, {params[1]}>::from([{items}])"
    raise Unrenderable(f"type {t} in rust")


def _declared(t: str) -> str:
    """The declared type without lifetimes (``&'a str`` -> ``&str``): the expected value's type.

    ``String``/``&str`` and ``Vec<String>``/``Vec<&str>`` compare with ``==`` either way, and
    a string literal is ``&'static``, so the declared type itself holds the expected value.
    """
    return re.sub(r"'\w+\s*,?\s*", "", re.sub(r"\s+", " ", t.strip())).replace("<>", "")


def defined_functions(code: str) -> list[str]:
    return [m.group(1) for m in _FN.finditer(code)]


def _without_main(code: str) -> str:
    return re.sub(r"^(\s*)(pub\s+)?fn\s+main\s*\(", r"\1#[allow(dead_code)]\n\1fn __translated_main(", code, flags=re.MULTILINE)


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
    rest = code[end:]
    ret_m = re.match(r"\s*->\s*([^{]+?)\s*(?:where\b[^{]*)?\{", rest)
    ret = ret_m.group(1).strip() if ret_m else "()"
    base, rparams = _generic(ret)
    is_result = base == "Result"
    value_t = _declared(rparams[0]) if is_result else _declared(ret)
    vbase, vparams = _generic(value_t)
    lines = [
        "#[allow(unused_variables, unused_mut, unused_parens, unreachable_code)]",
        "fn main() {",
        "    std::panic::set_hook(Box::new(|_| {}));",
    ]
    for i, case in enumerate(req.cases):
        args = ", ".join(literal(a, t) for a, t in zip(pad_args(req, case), params, strict=True))
        call = f"{name}({args})"
        if value_t == "()":
            check = f"{call}; {'true' if case.expected is None else 'false'}"
        else:
            exp = literal(case.expected, value_t)
            got = f"match {call} {{ Ok(v) => v, Err(_) => return false }}" if is_result else call
            if vbase in ("f32", "f64"):
                cmp = f"(r.is_nan() && e.is_nan()) || r == e || (r - e).abs() <= {FLOAT_TOL} * (e.abs().max(1.0) as {vbase})"
            elif vbase == "Vec" and vparams and vparams[0] in ("f32", "f64"):
                cmp = (f"r.len() == e.len() && r.iter().zip(e.iter()).all(|(x, y)| x == y || (x - y).abs() <= "
                       f"{FLOAT_TOL} * (y.abs().max(1.0) as {vparams[0]}))")
            else:
                cmp = "r == e"
            check = f"let r = {got}; let e: {value_t} = {exp}; {cmp}"
        lines.append(
            f"    match std::panic::catch_unwind(|| -> bool {{ {check} }}) {{"
            f' Ok(true) => println!("{MARK} {i} PASS"), Ok(false) => println!("{MARK} {i} FAIL"),'
            f' Err(_) => println!("{MARK} {i} ERROR") }}'
        )
    lines.append("}")
    return code.rstrip() + "\n\n" + "\n".join(lines) + "\n"


def library_unit(code: str) -> str:
    code = code.rstrip()
    if re.search(r"^\s*(pub\s+)?fn\s+main\s*\(", code, re.MULTILINE):
        return code + "\n"
    return code + "\n\nfn main() {}\n"
