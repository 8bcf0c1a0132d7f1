"""Test cases from a Python function's doctest examples (pure; no Beam).

An example becomes a ``TestCase`` only when it is a plain call of the function itself with
literal positional arguments (``>>> f(3, [1, 2])``) and its expected output is a Python
literal (``[4, 5]``); both are read with ``ast.literal_eval``, so nothing is executed here.
Everything else (assignments, ``print(...)``, other calls, comparisons such as
``f(x) is None``, keyword arguments, exceptions, ``+ELLIPSIS`` output, empty output) is
skipped and counted, so a test harness in any target language can render the cases as
literals (MultiPL-E style; TransCoder-ST likewise derives unit tests from the source).
"""

from __future__ import annotations

import ast
import doctest
import math
import textwrap

from schemas import TestCase

_SKIPPING_OPTIONS = (doctest.ELLIPSIS, doctest.SKIP)


def doctest_cases(code: str, func_name: str) -> list[TestCase]:
    """The usable doctest examples of ``func_name`` in ``code``, as test cases."""
    return doctest_cases_counted(code, func_name)[0]


def doctest_cases_counted(
    code: str, func_name: str, docstring: str | None = None
) -> tuple[list[TestCase], int]:
    """``(cases, skipped)``: the usable examples and how many examples were not usable.

    The examples come from the function's own docstring in ``code``; ``docstring`` is the
    fallback when ``code`` has none (or does not parse). ``func_name`` may be qualified
    (``Class.method``); calls are matched on its last part. Duplicate cases are kept once.
    """
    name = func_name.rsplit(".", 1)[-1]
    doc = _function_docstring(code, name)
    if doc is None:
        doc = docstring
    if not doc or ">>>" not in doc:
        return [], 0
    try:
        examples = doctest.DocTestParser().get_examples(doc)
    except ValueError:  # inconsistent indentation inside the docstring
        return [], doc.count(">>>")
    cases: list[TestCase] = []
    seen: set[tuple[str, str]] = set()
    skipped = 0
    for example in examples:
        case = _case(example, name)
        if case is None or (case.args, case.expected) in seen:
            skipped += 1
            continue
        seen.add((case.args, case.expected))
        cases.append(case)
    return cases, skipped


def literal_text(value: object) -> str | None:
    """``repr(value)`` when it reads back equal with ``ast.literal_eval``, else None.

    Rejects values containing ``...`` (doctest's ELLIPSIS marker) and non-finite floats,
    whose reprs (``nan``, ``inf``) are not literals.
    """
    if _has_bad_atom(value):
        return None
    text = repr(value)
    try:
        back = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return text if back == value and type(back) is type(value) else None


def _has_bad_atom(value: object) -> bool:
    if value is Ellipsis:
        return True
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, complex):
        return True
    if isinstance(value, dict):
        return any(_has_bad_atom(k) or _has_bad_atom(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_has_bad_atom(v) for v in value)
    return False


def _function_docstring(code: str, name: str) -> str | None:
    try:
        tree = ast.parse(textwrap.dedent(code))
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return ast.get_docstring(node, clean=True)
    return None


def _case(example: doctest.Example, name: str) -> TestCase | None:
    if example.exc_msg is not None or any(example.options.get(opt) for opt in _SKIPPING_OPTIONS):
        return None
    want = example.want.strip()
    if not want:
        return None
    try:
        call = ast.parse(example.source.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not (
        isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == name
    ):
        return None
    return case_from_call(call, want, "doctest")


def case_from_call(call: ast.Call, expected: ast.expr | str, origin: str) -> TestCase | None:
    """A ``TestCase`` from a call with literal positional arguments and a literal expected
    value (an expression node or its source text); None when either is not a literal."""
    if call.keywords or any(isinstance(a, ast.Starred) for a in call.args):
        return None
    try:
        args = tuple(ast.literal_eval(a) for a in call.args)
        value = ast.literal_eval(expected)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    args_text, expected_text = literal_text(args), literal_text(value)
    if args_text is None or expected_text is None:
        return None
    return TestCase(args=args_text, expected=expected_text, origin=origin)
