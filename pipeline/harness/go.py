"""Go harness: arguments typed from the translated function's parameter list.

Untyped constants adapt to any numeric parameter; slices and maps are written with the
declared element types (``[]int{1, 2}``). The results are serialised with ``reflect`` in the
canonical form (``pipeline.harness.protocol``): integers of any width as ``I``, floats as
``D``, slices and arrays (a nil slice too) as sequences, maps as maps, pointers and
interfaces as what they point to; several results as one sequence. A trailing ``error``
result that is not nil, or a panic, is a raised value. No top-level ``var`` and no ``init``,
so the sandbox may still link a batch of harnesses into one binary.
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

LANGUAGE = "go"
_FUNC = re.compile(r"^func\s+([A-Za-z_]\w*)\s*(\[[^\]]*\])?\s*\(", re.MULTILINE)
_PACKAGE = re.compile(r"^\s*package\s+\w+\s*;?\s*$", re.MULTILINE)
_INT_TYPES = {
    "int",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "uintptr",
}

_HELPERS = """
func __ser(b *__strings.Builder, r __reflect.Value) {
	if !r.IsValid() {
		b.WriteString(" N")
		return
	}
	switch r.Kind() {
	case __reflect.Bool:
		if r.Bool() {
			b.WriteString(" B1")
		} else {
			b.WriteString(" B0")
		}
	case __reflect.Int, __reflect.Int8, __reflect.Int16, __reflect.Int32, __reflect.Int64:
		b.WriteString(" I" + __strconv.FormatInt(r.Int(), 10))
	case __reflect.Uint, __reflect.Uint8, __reflect.Uint16, __reflect.Uint32, __reflect.Uint64, __reflect.Uintptr:
		b.WriteString(" I" + __strconv.FormatUint(r.Uint(), 10))
	case __reflect.Float32, __reflect.Float64:
		f := r.Float()
		switch {
		case __math.IsNaN(f):
			b.WriteString(" Dnan")
		case __math.IsInf(f, 1):
			b.WriteString(" Dinf")
		case __math.IsInf(f, -1):
			b.WriteString(" D-inf")
		default:
			b.WriteString(" D" + __strconv.FormatFloat(f, 'g', -1, 64))
		}
	case __reflect.String:
		b.WriteString(" S" + __hex.EncodeToString([]byte(r.String())))
	case __reflect.Slice, __reflect.Array:
		b.WriteString(" L" + __strconv.Itoa(r.Len()))
		for i := 0; i < r.Len(); i++ {
			__ser(b, r.Index(i))
		}
	case __reflect.Map:
		b.WriteString(" M" + __strconv.Itoa(r.Len()))
		it := r.MapRange()
		for it.Next() {
			__ser(b, it.Key())
			__ser(b, it.Value())
		}
	case __reflect.Ptr, __reflect.Interface:
		if r.IsNil() {
			b.WriteString(" N")
		} else {
			__ser(b, r.Elem())
		}
	default:
		b.WriteString(" O" + __hex.EncodeToString([]byte(r.Type().String())))
	}
}

func __value(vs ...interface{}) string {
	var b __strings.Builder
	if len(vs) == 1 {
		__ser(&b, __reflect.ValueOf(vs[0]))
	} else {
		b.WriteString(" L" + __strconv.Itoa(len(vs)))
		for _, v := range vs {
			__ser(&b, __reflect.ValueOf(v))
		}
	}
	return b.String()[1:]
}

func __raised(name string) string {
	return "X" + __hex.EncodeToString([]byte(name))
}

func __emit(s string) {
	__os.Stdout.WriteString("\\n@@PREFIX " + s + "\\n")
}

func __case(i int, f func() string) {
	line := __raised("panic")
	func() {
		defer func() { _ = recover() }()
		line = f()
	}()
	__emit("CASE " + __strconv.Itoa(i) + " " + line)
}
""".replace("@@PREFIX", PREFIX)


def literal(v: Any, t: str) -> str:
    """A Go expression of declared type ``t`` holding the Python value ``v``."""
    t = t.strip()
    if t.startswith("..."):
        t = "[]" + t[3:]
    if t in ("interface{}", "any"):
        return generic_literal(v)
    if v is None:
        if t.startswith(("*", "[]", "map[")):
            return "nil"
        raise Unrenderable(f"None for {t} in go")
    if t in _INT_TYPES:
        if isinstance(v, bool) or not isinstance(v, int):
            raise Unrenderable(f"{type(v).__name__} for {t} in go")
        if v < 0 and t.startswith("u"):
            raise Unrenderable(f"negative value for {t} in go")
        return str(v)
    if t in ("float64", "float32"):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise Unrenderable(f"{type(v).__name__} for {t} in go")
        x = float(v)
        if math.isnan(x):
            return f"{t}(__math.NaN())"
        if math.isinf(x):
            return f"{t}(__math.Inf({1 if x > 0 else -1}))"
        return float_text(x)
    if t == "bool":
        if not isinstance(v, bool):
            raise Unrenderable(f"{type(v).__name__} for bool in go")
        return "true" if v else "false"
    if t == "string":
        if not isinstance(v, str):
            raise Unrenderable(f"{type(v).__name__} for string in go")
        return c_string(v)
    if t in ("rune", "byte"):
        if not isinstance(v, str) or len(v) != 1:
            raise Unrenderable(f"{v!r} for {t} in go")
        return f"{t}({ord(v)})"
    if t.startswith("[]"):
        if not isinstance(v, (list, tuple)) and not (
            isinstance(v, str) and t in ("[]rune", "[]byte")
        ):
            raise Unrenderable(f"{type(v).__name__} for {t} in go")
        if isinstance(v, str):
            return f"{t}({c_string(v)})"
        elem = t[2:]
        return f"{t}{{" + ", ".join(literal(x, elem) for x in v) + "}"
    if t.startswith("map["):
        if not isinstance(v, dict):
            raise Unrenderable(f"{type(v).__name__} for {t} in go")
        depth, i = 0, 3
        for i in range(3, len(t)):
            depth += t[i] == "["
            depth -= t[i] == "]"
            if depth == 0:
                break
        k_t, v_t = t[4:i], t[i + 1 :]
        return (
            f"{t}{{"
            + ", ".join(f"{literal(k, k_t)}: {literal(x, v_t)}" for k, x in v.items())
            + "}"
        )
    if t.startswith("*"):
        raise Unrenderable(f"pointer parameter {t} in go")
    raise Unrenderable(f"parameter type {t} in go")


def generic_literal(v: Any) -> str:
    """An ``interface{}`` argument as plain Go values (int64, float64, string, slices, maps)."""
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        if abs(v) >= 2**63:
            raise Unrenderable("integer beyond 64 bits in go")
        return f"int64({v})"
    if isinstance(v, float):
        return literal(v, "float64")
    if isinstance(v, str):
        return c_string(v)
    if isinstance(v, (list, tuple)):
        return "[]interface{}{" + ", ".join(generic_literal(x) for x in v) + "}"
    if isinstance(v, dict):
        return (
            "map[string]interface{}{"
            + ", ".join(f"{c_string(_key_text(k))}: {generic_literal(x)}" for k, x in v.items())
            + "}"
        )
    raise Unrenderable(f"{type(v).__name__} value in go")


def _key_text(k: Any) -> str:
    """``fmt.Sprint`` of a normalised key, as Python sees it."""
    if isinstance(k, bool):
        return "true" if k else "false"
    if isinstance(k, (int, str)):
        return str(k)
    raise Unrenderable(f"{type(k).__name__} dict key in go")


def defined_functions(code: str) -> list[str]:
    return [m.group(1) for m in _FUNC.finditer(code)]


def _params(text: str) -> list[str]:
    """Types of Go parameters (``a, b int, s []string`` -> [int, int, []string])."""
    items = split_top_level(text)
    types: list[str | None] = []
    for item in items:
        parts = item.split(None, 1)
        if len(parts) == 2 and re.fullmatch(r"[A-Za-z_]\w*", parts[0]):
            types.append(parts[1].strip())
        else:
            types.append(
                None
                if re.fullmatch(r"[A-Za-z_]\w*", item)
                and item
                not in _INT_TYPES | {"string", "bool", "float64", "float32", "rune", "byte", "any"}
                else item
            )
    out: list[str] = []
    pending = 0
    for t in types:
        if t is None:
            pending += 1
            continue
        out += [t] * (pending + 1)
        pending = 0
    if pending:  # unnamed parameters written as bare type names
        out += [i for i in items[-pending:]]
    return out


def _results(code: str, after: int) -> list[str]:
    """Result types of the function whose parameter list ends at ``after``."""
    rest = code[after:]
    brace = rest.find("{")
    text = rest[:brace].strip() if brace >= 0 else ""
    if not text:
        return []
    if text.startswith("("):
        inner, _ = balanced_parens(text, 0)
        return _params(inner)
    return [text]


def _prepare(code: str) -> str:
    code = _PACKAGE.sub("", code, count=1)
    code = re.sub(r"^func\s+main\s*\(\s*\)", "func __translated_main()", code, flags=re.MULTILINE)
    return code


_HEADER = (
    'package main\n\nimport (\n\t__bufio "bufio"\n\t__hex "encoding/hex"\n\t__math "math"\n\t__os "os"\n'
    '\t__reflect "reflect"\n\t__strconv "strconv"\n\t__strings "strings"\n)\n'
)


def render(req: HarnessRequest) -> str:
    check_arity(req)
    code = _prepare(req.code)
    name = pick_function(defined_functions(code), req.func_name)
    m = next(m for m in _FUNC.finditer(code) if m.group(1) == name)
    if m.group(2):
        raise Unrenderable(f"generic go function {name}")
    inner, end = balanced_parens(code, m.end() - 1)
    params, results = _params(inner), _results(code, end)
    if any(len(pad_args(req, c)) != len(params) for c in req.cases):
        raise Unrenderable(f"go function {name} takes {len(params)} parameters")
    has_err = bool(results) and results[-1] == "error"
    values = results[:-1] if has_err else results
    lines = [
        "func main() {",
        "\t__nonce, _ := __bufio.NewReader(__os.Stdin).ReadString('\\n')",
        "\t__nonce = __strings.TrimSpace(__nonce)",
        '\t__emit("BEGIN " + __nonce)',
    ]
    for i, case in enumerate(req.cases):
        args = []
        for a, t in zip(pad_args(req, case), params, strict=True):
            args.append(literal(a, t) + ("..." if t.startswith("...") else ""))
        names = [f"r{j}" for j in range(len(results))]
        call = f"{name}({', '.join(args)})"
        if not results:
            body = f'{call}; return "N"'
        else:
            err = f'if {names[-1]} != nil {{ return __raised("error") }}; ' if has_err else ""
            got = (
                f"__value({', '.join(names[: len(values)])})" if values else '"N"'
            )  # only an error: nil is null
            body = f"{', '.join(names)} := {call}; {err}return {got}"
        lines.append(f"\t__case({i}, func() string {{ {body} }})")
    lines += ['\t__emit("END " + __nonce)', "}"]
    return _HEADER + code.rstrip() + "\n" + _HELPERS + "\n" + "\n".join(lines) + "\n"


def library_unit(code: str) -> str:
    return "package main\n\n" + _prepare(code).rstrip() + "\n\nfunc main() {}\n"
