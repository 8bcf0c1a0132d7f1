"""Test derivation from the source: doctest cases, generated inputs, reading the validation run."""

from __future__ import annotations

import ast
import json

from pipeline.harness.pytypes import signature_of
from pipeline.testgen import (
    VAL_MARK,
    TestGenConfig,
    cases_from_docstring,
    generate_inputs,
    read_validation,
    source_cases,
    validation_program,
)
from schemas import SourcePair, TestCase

SRC = '''from typing import List

def scale(xs: List[int], k: int = 2, *, flag=False) -> List[int]:
    """Multiply every element by k.

    >>> scale([1, 2], 3)
    [3, 6]
    >>> scale([1], k=5)
    [5]
    >>> scale([4])
    [8]
    >>> print(scale([1]))
    [2]
    >>> scale(None)
    Traceback (most recent call last):
    TypeError: ...
    >>> other(1)
    1
    """
    return [x * k for x in xs]
'''


def test_doctest_examples_become_cases():
    cases = cases_from_docstring(SRC, "Multiply every element by k.", "scale")
    assert [(c.args, c.expected, c.origin) for c in cases] == [
        ("([1, 2], 3)", "[3, 6]", "doctest"),
        ("([1], 5)", "[5]", "doctest"),  # keyword mapped to its position
        ("([4],)", "[8]", "doctest"),
    ]


def test_source_cases_merge_given_and_doctest_cases_once():
    given = TestCase("([1, 2], 3)", "[3, 6]", "humaneval")
    pair = SourcePair.create(repository_name="r", func_path_in_repository="p.py", func_name="scale",
                             language="python", code=SRC, docstring="d", tests=(given,))
    cases = source_cases(pair, TestGenConfig(max_cases=3))
    assert cases[0] == given and len(cases) == 3 and len({c.args for c in cases}) == 3
    java = SourcePair.create(repository_name="r", func_path_in_repository="A.java", func_name="f",
                             language="java", code="int f() { return 1; }", docstring="d", tests=(given,))
    assert source_cases(java, TestGenConfig()) == []


def test_generated_inputs_are_bounded_typed_and_deterministic():
    sig = signature_of(SRC, "scale")
    first = generate_inputs(sig, [([1, 2], 3)], n=4, seed=7)
    assert first == generate_inputs(sig, [([1, 2], 3)], n=4, seed=7)
    assert 0 < len(first) <= 12
    for xs, k, *_ in first:
        assert isinstance(xs, list) and all(isinstance(x, int) and x >= 0 for x in xs)
        assert isinstance(k, int) and k >= 0  # existing cases are non-negative: so are generated ones
    untyped = signature_of("def f(a, b): pass", "f")
    assert generate_inputs(untyped, [], n=4, seed=1) == []
    assert generate_inputs(untyped, [(1, "x")], n=2, seed=1)  # types inferred from the given case
    assert generate_inputs(sig, [], n=0, seed=1) == []


def test_validation_program_is_valid_python_and_its_output_is_read():
    given = [TestCase("(2,)", "4"), TestCase("(3,)", "7")]
    generated = [(5,), (6,), (10**12,)]
    program = validation_program("def double(x: int) -> int:\n    return 2 * x\n", "double", given, generated,
                                 TestGenConfig())
    ast.parse(program)
    lines = [
        {"i": 0, "ok": True}, {"i": 1, "ok": False},
        {"i": 2, "ok": True, "expected": "10"}, {"i": 3, "ok": False, "error": "ValueError"},
        {"i": 4, "ok": True, "expected": "2000000000000"},
    ]
    stdout = "junk\n" + "\n".join(f"{VAL_MARK} {json.dumps(x)}" for x in lines) + "\n"
    valid, invalid = read_validation(stdout, given, generated, TestGenConfig())
    assert invalid == 1
    assert [(c.args, c.expected, c.origin) for c in valid] == [("(2,)", "4", "doctest"), ("(5,)", "10", "generated")]
