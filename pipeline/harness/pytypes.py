"""Python-side types of a function's arguments and result, as the harnesses need them.

A test case is Python values (read with ``ast.literal_eval``); to write them as literals of a
statically typed target the harness needs their type. The type comes from the source
function's hints (``int``, ``float``, ``bool``, ``str``, ``List``, ``Dict``, ``Tuple``,
``Optional``) or, where a parameter has none, is inferred from the values the cases pass.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Any

SCALARS = ("int", "float", "bool", "str", "none")


@dataclasses.dataclass(frozen=True, slots=True)
class PyType:
    """``kind`` is a scalar (int, float, bool, str, none), ``list``, ``dict``, ``tuple``,
    ``optional`` or ``any`` (unknown); ``args`` holds element types (tuple: one per slot)."""

    kind: str
    args: tuple[PyType, ...] = ()

    def __str__(self) -> str:
        if not self.args:
            return self.kind
        return f"{self.kind}[{', '.join(str(a) for a in self.args)}]"

    @property
    def is_known(self) -> bool:
        """True when no ``any`` occurs anywhere in the type."""
        return self.kind != "any" and all(a.is_known for a in self.args)


ANY = PyType("any")
INT, FLOAT, BOOL, STR, NONE = (PyType(k) for k in SCALARS)

_NAMES = {
    "int": INT,
    "float": FLOAT,
    "bool": BOOL,
    "str": STR,
    "None": NONE,
    "List": "list",
    "list": "list",
    "Sequence": "list",
    "Iterable": "list",
    "MutableSequence": "list",
    "Collection": "list",
    "Dict": "dict",
    "dict": "dict",
    "Mapping": "dict",
    "MutableMapping": "dict",
    "Tuple": "tuple",
    "tuple": "tuple",
    "Optional": "optional",
}


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # typing.List
        return node.attr
    if isinstance(node, ast.Constant) and node.value is None:
        return "None"
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # "List[int]" forward ref
        try:
            return _name(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return None
    return None


def from_annotation(node: ast.expr | None) -> PyType:
    """The ``PyType`` of a type-hint AST node; ``ANY`` for anything outside the supported set."""
    if node is None:
        return ANY
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return ANY
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # int | None
        left, right = from_annotation(node.left), from_annotation(node.right)
        if right.kind == "none":
            return PyType("optional", (left,))
        if left.kind == "none":
            return PyType("optional", (right,))
        return ANY
    if isinstance(node, ast.Subscript):
        base = _NAMES.get(_name(node.value) or "")
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base == "list" and len(items) == 1:
            return PyType("list", (from_annotation(items[0]),))
        if base == "dict" and len(items) == 2:
            return PyType("dict", (from_annotation(items[0]), from_annotation(items[1])))
        if base == "optional" and len(items) == 1:
            return PyType("optional", (from_annotation(items[0]),))
        if base == "tuple":
            if (
                len(items) == 2
                and isinstance(items[1], ast.Constant)
                and items[1].value is Ellipsis
            ):
                return PyType("list", (from_annotation(items[0]),))  # Tuple[int, ...] is a sequence
            return PyType("tuple", tuple(from_annotation(i) for i in items))
        if _name(node.value) == "Union" and len(items) == 2:
            a, b = from_annotation(items[0]), from_annotation(items[1])
            if b.kind == "none":
                return PyType("optional", (a,))
            if a.kind == "none":
                return PyType("optional", (b,))
        return ANY
    named = _NAMES.get(_name(node) or "")
    if isinstance(named, PyType):
        return named
    if named == "list":
        return PyType("list", (ANY,))
    if named == "dict":
        return PyType("dict", (ANY, ANY))
    return ANY


def infer(value: Any) -> PyType:
    """The type of one Python value (element types unified over the container)."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    if isinstance(value, str):
        return STR
    if isinstance(value, list):
        return PyType("list", (unify_all([infer(v) for v in value]),))
    if isinstance(value, tuple):
        return PyType("tuple", tuple(infer(v) for v in value))
    if isinstance(value, dict):
        return PyType(
            "dict",
            (unify_all([infer(k) for k in value]), unify_all([infer(v) for v in value.values()])),
        )
    return ANY


def unify(a: PyType, b: PyType) -> PyType:
    """The narrowest type holding both: int+float -> float, T+None -> optional[T], else any."""
    if a == b:
        return a
    if a.kind == "any":
        return b
    if b.kind == "any":
        return a
    if {a.kind, b.kind} == {"int", "float"}:
        return FLOAT
    if a.kind == "none":
        return b if b.kind == "optional" else PyType("optional", (b,))
    if b.kind == "none":
        return a if a.kind == "optional" else PyType("optional", (a,))
    if a.kind == "optional" or b.kind == "optional":
        inner_a = a.args[0] if a.kind == "optional" else a
        inner_b = b.args[0] if b.kind == "optional" else b
        return PyType("optional", (unify(inner_a, inner_b),))
    if a.kind == b.kind and a.kind in ("list", "dict"):
        return PyType(a.kind, tuple(unify(x, y) for x, y in zip(a.args, b.args, strict=True)))
    if a.kind == b.kind == "tuple" and len(a.args) == len(b.args):
        return PyType("tuple", tuple(unify(x, y) for x, y in zip(a.args, b.args, strict=True)))
    return ANY


def unify_all(types: list[PyType]) -> PyType:
    out = ANY
    for t in types:
        out = unify(out, t)
    return out


def refine(hint: PyType, values: list[Any]) -> PyType:
    """The hint where it is complete, else the hint's gaps filled from the values' types."""
    if hint.is_known:
        return hint
    return _fill(hint, unify_all([infer(v) for v in values]))


def _fill(hint: PyType, seen: PyType) -> PyType:
    if hint.kind == "any":
        return seen
    if seen.kind == hint.kind and len(seen.args) == len(hint.args):
        return PyType(
            hint.kind, tuple(_fill(h, s) for h, s in zip(hint.args, seen.args, strict=True))
        )
    if hint.kind == "optional" and seen.kind != "optional":
        return PyType("optional", (_fill(hint.args[0], seen),))
    return hint


@dataclasses.dataclass(frozen=True, slots=True)
class Signature:
    """Parameter names and types of the source function, and its return type."""

    params: tuple[str, ...]
    param_types: tuple[PyType, ...]
    returns: PyType
    defaults: tuple[Any, ...] = ()  # literal defaults of the last parameters, when readable

    def refined(self, cases: list[tuple[tuple[Any, ...], Any]]) -> Signature:
        """Fill unknown parts of the hints from the values the cases use."""
        types = tuple(
            refine(t, [args[i] for args, _ in cases if i < len(args)])
            for i, t in enumerate(self.param_types)
        )
        return dataclasses.replace(
            self, param_types=types, returns=refine(self.returns, [e for _, e in cases])
        )


def find_function(tree: ast.Module, func_name: str) -> ast.FunctionDef | None:
    """The (last) top-level or class-level ``def`` named ``func_name`` (``Class.method`` allowed)."""
    short = func_name.rsplit(".", 1)[-1]
    found = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == short:
            found = node
    return found


def signature_of(code: str, func_name: str) -> Signature | None:
    """The ``Signature`` of ``func_name`` in ``code`` (``self``/``cls`` dropped), or None."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    fn = find_function(tree, func_name)
    if fn is None:
        return None
    args = list(fn.args.posonlyargs) + list(fn.args.args)
    if args and args[0].arg in ("self", "cls"):
        args = args[1:]
    defaults = []
    for d in fn.args.defaults:
        try:
            defaults.append(ast.literal_eval(d))
        except ValueError:
            defaults.append(Ellipsis)
    return Signature(
        params=tuple(a.arg for a in args),
        param_types=tuple(from_annotation(a.annotation) for a in args),
        returns=from_annotation(fn.returns),
        defaults=tuple(defaults),
    )
