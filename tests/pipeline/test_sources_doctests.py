"""Doctest examples -> test cases, and the bundled sample's own doctests being right."""

from __future__ import annotations

import ast
import collections
import doctest
import json
import typing

import pytest

from pipeline.sources import SAMPLE_PATH, doctest_cases, doctest_cases_counted
from schemas import TestCase

CODE = '''
def scale(values: List[int], k: int) -> Dict[str, List[int]]:
    """Multiply every value by k.

    >>> scale([1, 2], 3)
    {'scaled': [3, 6]}
    >>> scale([4,
    ...        5], 2)  # a continuation line
    {'scaled': [8,
                10]}
    >>> x = scale([1], 1)
    >>> print(scale([], 2))
    {'scaled': []}
    >>> scale([1], k=2)
    {'scaled': [2]}
    >>> scale(list(range(3)), 1)
    {'scaled': [0, 1, 2]}
    >>> scale([1], 1) == {'scaled': [1]}
    True
    >>> scale(None, 1)
    Traceback (most recent call last):
    TypeError: 'NoneType' object is not iterable
    >>> scale([1, 2], 2)  # doctest: +ELLIPSIS
    {'scaled': [2, ...]}
    >>> other([1], 2)
    [2]
    >>> scale([1, 2], 3)
    {'scaled': [3, 6]}
    """
    return {"scaled": [v * k for v in values]}
'''


def test_only_literal_calls_of_the_function_itself_become_cases():
    cases, skipped = doctest_cases_counted(CODE, "scale")
    assert cases == [
        TestCase("([1, 2], 3)", "{'scaled': [3, 6]}", "doctest"),
        TestCase("([4, 5], 2)", "{'scaled': [8, 10]}", "doctest"),  # multi-line source and output
    ]
    # assignment, print, keyword arg, non-literal arg, comparison, exception, ELLIPSIS,
    # another function, and the repeated first example
    assert skipped == 9
    assert doctest_cases(CODE, "scale") == cases


def test_cases_round_trip_through_literal_eval():
    for case in doctest_cases(CODE, "scale"):
        assert isinstance(ast.literal_eval(case.args), tuple)
        ast.literal_eval(case.expected)


def test_single_argument_is_a_one_tuple_and_methods_match_their_last_name():
    code = '''
class Box:
    def double(x):
        """Twice x.

        >>> double(2.5)
        5.0
        >>> double("ab")
        'abab'
        >>> double((1, None))
        (1, None, 1, None)
        """
        return x * 2
'''
    cases = doctest_cases(code, "Box.double")
    assert [(c.args, c.expected) for c in cases] == [
        ("(2.5,)", "5.0"),
        ("('ab',)", "'abab'"),
        ("((1, None),)", "(1, None, 1, None)"),
    ]


def test_code_without_usable_examples_gives_nothing():
    assert doctest_cases_counted("def f(x):\n    return x\n", "f") == ([], 0)
    assert doctest_cases_counted("this is not python", "f") == ([], 0)
    nan = 'def f():\n    """D.\n\n    >>> f()\n    nan\n    """\n'
    assert doctest_cases_counted(nan, "f") == ([], 1)


def test_docstring_field_is_the_fallback_when_code_has_none():
    cases, _ = doctest_cases_counted(
        "def inc(x):\n    return x + 1\n", "inc", "Add one.\n\n>>> inc(1)\n2\n"
    )
    assert cases == [TestCase("(1,)", "2", "doctest")]


def _sample_rows() -> list[dict]:
    return [json.loads(line) for line in SAMPLE_PATH.read_text(encoding="utf-8").splitlines()]


def test_sample_doctests_are_all_correct():
    """Every Python function of the sample passes its own doctests (run by the doctest module)."""
    typing_names = {n: getattr(typing, n) for n in ("Any", "Dict", "List", "Optional", "Tuple")}
    attempted = 0
    for row in _sample_rows():
        if row["language"] != "python":
            continue
        globs = dict(typing_names)
        exec(compile(row["code"], row["func_name"], "exec"), globs)  # noqa: S102 - our own sample
        (test,) = doctest.DocTestFinder().find(
            globs[row["func_name"]], row["func_name"], globs=globs
        )
        runner = doctest.DocTestRunner()
        runner.run(test)
        result = runner.summarize(verbose=False)
        assert result.failed == 0, row["func_name"]
        assert 2 <= result.attempted <= 4, row["func_name"]
        attempted += result.attempted
    assert attempted >= 100


def test_sample_is_varied_and_repo_disjoint_splits_are_meaningful():
    rows = _sample_rows()
    langs = collections.Counter(r["language"] for r in rows)
    assert len(rows) >= 64 and langs["python"] >= 48
    assert all(langs[lang] >= 4 for lang in ("java", "javascript", "go"))
    repos = collections.Counter(r["repo"] for r in rows)
    assert 15 <= len(repos) <= 25 and max(repos.values()) >= 3
    assert {r["license"] for r in rows} >= {"mit", "apache-2.0", "bsd-3-clause", "gpl-3.0"}
    for r in rows:
        assert r["url"].startswith(f"https://github.com/{r['repo']}/blob/{r['sha']}/{r['path']}#L")
        assert r["docstring"].strip() and r["partition"] in ("train", "valid", "test")
    keys = [(r["repo"], r["path"], r["func_name"]) for r in rows]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("name", ["gcd", "sum_list", "running_sum", "transpose"])
def test_py2many_friendly_functions_are_typed_int_list_code(name):
    row = next(r for r in _sample_rows() if r["func_name"] == name)
    fn = ast.parse(row["code"]).body[0]
    assert all(a.annotation is not None for a in fn.args.args) and fn.returns is not None
    assert "[::" not in row["code"]
