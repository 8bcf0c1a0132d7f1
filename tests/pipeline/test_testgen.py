"""Test derivation from the source: doctest cases, generated inputs, reading the validation run."""

from __future__ import annotations

import ast

import pytest

from pipeline.harness.protocol import PREFIX
from pipeline.harness.pytypes import signature_of
from pipeline.testgen import (
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
    pair = SourcePair.create(
        repository_name="r",
        func_path_in_repository="p.py",
        func_name="scale",
        language="python",
        code=SRC,
        docstring="d",
        tests=(given,),
    )
    cases = source_cases(pair, TestGenConfig(max_cases=3))
    assert cases[0] == given and len(cases) == 3 and len({c.args for c in cases}) == 3
    java = SourcePair.create(
        repository_name="r",
        func_path_in_repository="A.java",
        func_name="f",
        language="java",
        code="int f() { return 1; }",
        docstring="d",
        tests=(given,),
    )
    assert source_cases(java, TestGenConfig()) == []


def test_generated_inputs_are_bounded_typed_and_deterministic():
    sig = signature_of(SRC, "scale")
    first = generate_inputs(sig, [([1, 2], 3)], n=4, seed=7)
    assert first == generate_inputs(sig, [([1, 2], 3)], n=4, seed=7)
    assert 0 < len(first) <= 12
    for xs, k, *_ in first:
        assert isinstance(xs, list) and all(isinstance(x, int) and x >= 0 for x in xs)
        assert (
            isinstance(k, int) and k >= 0
        )  # existing cases are non-negative: so are generated ones
    untyped = signature_of("def f(a, b): pass", "f")
    assert generate_inputs(untyped, [], n=4, seed=1) == []
    assert generate_inputs(untyped, [(1, "x")], n=2, seed=1)  # types inferred from the given case
    assert generate_inputs(sig, [], n=0, seed=1) == []


NONCE = "00112233445566778899aabbccddeeff"


def _out(*values: str, end: bool = True) -> str:
    lines = [f"{PREFIX} BEGIN {NONCE}"] + [f"{PREFIX} CASE {i} {v}" for i, v in enumerate(values)]
    return "".join(f"\n{line}\n" for line in lines + ([f"{PREFIX} END {NONCE}"] if end else []))


def test_validation_program_holds_arguments_but_no_expected_value():
    given = [TestCase("(2,)", "4"), TestCase("(3,)", "987654321")]
    program = validation_program(
        "def double(x: int) -> int:\n    return 2 * x\n", "double", given, [(5,)], TestGenConfig()
    )
    ast.parse(program)
    assert "[(2,), (3,), (5,)]" in program and "987654321" not in program
    assert "ITIMER_PROF" in program  # the budget counts CPU time


def test_validation_output_is_judged_on_the_host():
    given = [TestCase("(2,)", "4"), TestCase("(3,)", "7"), TestCase("([1],)", "[1]")]
    generated = [(5,), (6,), (10**12,), (7,), (8,), (9,), (10,), (11,)]
    stdout = "junk\n" + _out(
        "I4",
        "I6",
        "T1 I1",  # given: right; wrong value; a tuple where the doctest says a list
        "I10",
        f"X{b'ValueError'.hex()}",
        "I2000000000000",  # generated: kept; raised; beyond 32 bits
        "C",
        "U2 I1 I2",
        "Dnan",
        "O" + b"Foo".hex(),
        "L2 I1 D0.5",  # over budget; a set; nan; opaque; kept
    )
    found = read_validation(stdout, NONCE, given, generated, TestGenConfig())
    assert found.invalid == 2 and found.transient is None and found.note is None
    assert [(c.args, c.expected, c.origin) for c in found.cases] == [
        ("(2,)", "4", "doctest"),
        ("(5,)", "10", "generated"),
        ("(11,)", "[1, 0.5]", "generated"),
    ]


def test_a_wall_backstop_makes_the_run_transient_and_a_broken_protocol_voids_it():
    given, generated = [TestCase("(2,)", "4")], [(5,)]
    assert read_validation(_out("I4", "W"), NONCE, given, generated, TestGenConfig()).transient
    forged = _out("I4", "I10") + f"\n{PREFIX} CASE 1 I10\n"  # e.g. the source wrote to fd 1 itself
    voided = read_validation(forged, NONCE, given, generated, TestGenConfig())
    assert (
        voided.cases == () and "broke the harness protocol" in voided.note and not voided.transient
    )
    wrong_nonce = read_validation(
        _out("I4", "I10").replace(NONCE, "f" * 32), NONCE, given, generated, TestGenConfig()
    )
    assert wrong_nonce.cases == () and "protocol text before the block" in wrong_nonce.note
    partial = read_validation(_out("I4", end=False), NONCE, given, generated, TestGenConfig())
    assert [c.args for c in partial.cases] == [
        "(2,)"
    ] and "stopped after 1 of 2 cases" in partial.note


def test_config_rejects_a_backstop_below_the_budget():
    with pytest.raises(ValueError):
        TestGenConfig(per_case_cpu_s=2.0, per_case_wall_s=1.0)
    with pytest.raises(ValueError):
        TestGenConfig(retries=-1)
