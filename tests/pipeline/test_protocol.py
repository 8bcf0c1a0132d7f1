"""The host side of the harness protocol: reading a block and comparing values.

Pure functions, checked against hand-written program outputs and hand-computed comparisons;
the same rules on real programs in the sandbox are in ``test_forgery.py``.
"""

from __future__ import annotations

import math

import pytest

from pipeline.harness.protocol import (
    PREFIX,
    CpuLimit,
    Opaque,
    Pairs,
    ProtocolError,
    Raised,
    Unordered,
    WallLimit,
    case_outcomes,
    decode,
    equal,
    equal_strict,
    new_nonce,
    read_block,
    to_python,
)

NONCE = "0123456789abcdef0123456789abcdef"


def block(*lines: str, nonce: str = NONCE) -> str:
    """A program's stdout: the lines, each preceded by a newline as the harnesses write them."""
    return "".join(f"\n{line}\n" for line in lines).replace("{nonce}", nonce)


GOOD = [
    f"{PREFIX} BEGIN {{nonce}}",
    f"{PREFIX} CASE 0 I6",
    f"{PREFIX} CASE 1 S6869",
    f"{PREFIX} END {{nonce}}",
]


def test_a_well_formed_block_is_read_with_its_values():
    out = (
        "the function printed this\n" + block(GOOD[0], GOOD[1], "more chatter", *GOOD[2:]) + "bye\n"
    )
    b = read_block(out, NONCE, 2)
    assert b.ok and b.values == (6, "hi")
    assert case_outcomes(b, [6, "hi"]) == ["pass", "pass"]
    assert case_outcomes(b, [6, "ho"]) == ["pass", "fail"]


@pytest.mark.parametrize(
    "lines,why",
    [
        (GOOD[:2] + GOOD[3:], "end marker after 1 of 2 cases"),  # a case line missing
        (GOOD[:2] + GOOD[1:], "duplicate case line 0"),
        ([GOOD[0], GOOD[2], GOOD[1], GOOD[3]], "out-of-order case line 1"),
        (GOOD[:3] + [f"{PREFIX} CASE 2 I1"] + GOOD[3:], "extra case line 2"),
        (GOOD + [f"{PREFIX} CASE 0 I6"], "protocol text after the end marker"),
        (
            GOOD + GOOD,
            "protocol text after the end marker",
        ),  # a second, forged block after the real one
        ([f"{PREFIX} CASE 0 I6"] + GOOD, "protocol text before the block"),
        (
            [GOOD[0].replace("{nonce}", "f" * 32)] + GOOD,
            "protocol text before the block",
        ),  # forged, wrong nonce
        (
            [GOOD[0], GOOD[1], "xx" + GOOD[2]] + GOOD[3:],
            "unexpected protocol text inside the block",
        ),
        ([GOOD[0], GOOD[1], f"{PREFIX} CASE 1 Q7", GOOD[3]], "case 1: bad token"),
        ([GOOD[0], GOOD[1], f"{PREFIX} CASE 1 L2 I1", GOOD[3]], "case 1: value ends early"),
        (
            ["@@HARNESS/1 BEGIN x"] + GOOD,
            "protocol text before the block",
        ),  # another protocol version
    ],
)
def test_a_malformed_or_forged_block_is_a_violation_and_voids_every_value(lines, why):
    b = read_block(block(*lines), NONCE, 2)
    assert not b.ok and b.violation is not None and why in b.violation
    assert case_outcomes(b, [6, "hi"]) == ["missing", "missing"]


def test_an_exit_before_the_end_marker_leaves_the_block_incomplete():
    b = read_block(block(*GOOD[:2]), NONCE, 2)  # the program stopped after case 0
    assert b.started and not b.complete and b.violation is None and b.values == (6,)
    assert case_outcomes(b, [6, "hi"]) == ["pass", "missing"]
    nothing = read_block("only the program's own output\n", NONCE, 2)
    assert not nothing.started and not nothing.ok and nothing.values == ()


def test_plain_text_around_the_block_is_allowed_but_text_glued_to_a_marker_is_not():
    out = "no newline at the end" + block(*GOOD) + "trailing output without the marker"
    assert read_block(out, NONCE, 2).ok
    glued = block(GOOD[0]) + f"abc{PREFIX} CASE 0 I6\n" + block(*GOOD[2:])
    assert "unexpected protocol text" in read_block(glued, NONCE, 2).violation


def test_nonces_are_fresh_and_checked():
    assert new_nonce() != new_nonce() and len(new_nonce()) == 32
    with pytest.raises(ValueError):
        read_block("", "not-a-nonce", 1)


def test_values_decode_from_their_tokens():
    assert decode("N") is None and decode("B1") is True and decode("B0") is False
    assert decode("I-42") == -42 and decode("I" + "9" * 30) == int("9" * 30)
    assert decode("D2.5") == 2.5 and decode("D1e+25") == 1e25 and math.isnan(decode("Dnan"))
    assert decode("D-inf") == -math.inf and decode("D1.0E10") == 1e10
    assert decode("S") == "" and decode("S" + "héllo".encode().hex()) == "héllo"
    assert decode("L3 I1 L0 L1 S61") == [1, [], ["a"]]
    assert decode("T2 I1 N") == (1, None)
    assert decode("U2 I1 I2") == Unordered([1, 2])
    assert decode("M2 S61 I1 I2 L1 B1") == Pairs([("a", 1), (2, [True])])
    assert decode("X" + b"ValueError".hex()) == Raised("ValueError")
    assert decode("O" + b"Foo".hex()) == Opaque("Foo")
    assert decode("C") == CpuLimit() and decode("W") == WallLimit()
    assert to_python(decode("M1 S61 U2 I1 I2")) == {"a": {1, 2}}
    for bad in ("", "L2 I1", "I1 I2", "Ix", "D", "Dnan x", "S6", "Sff", "B2", "L99999999999", "Z"):
        with pytest.raises(ProtocolError):
            decode(bad)
    with pytest.raises(ProtocolError):  # nesting deeper than the parser's recursion
        decode("L1 " * 5000 + "N")


def test_float_tolerance_is_relative_and_absolute_below_one():
    # |got - want| <= 1e-6 * max(1, |want|), worked out by hand:
    assert equal(1.0000009, 1.0) and not equal(1.0000011, 1.0)  # 9e-7 <= 1e-6 < 1.1e-6
    assert equal(1e9 + 999.0, 1e9) and not equal(1e9 + 1001.0, 1e9)  # tolerance 1e3 at 1e9
    assert equal(9e-7, 0.0) and not equal(1.1e-6, 0.0)  # absolute below 1
    assert equal(-2.0000019, -2.0) and not equal(-2.0000021, -2.0)  # tolerance 2e-6 at 2
    assert equal(math.nan, math.nan) and not equal(math.nan, 1.0) and not equal(1.0, math.nan)
    assert (
        equal(math.inf, math.inf) and not equal(math.inf, -math.inf) and not equal(1e308, math.inf)
    )
    assert equal(2, 2.0) and equal(2.0, 2) and not equal(2, 2.5)  # ints and floats compare by value
    assert not equal(10**400, 1.0)  # an int beyond float range is no match, not a crash


def test_types_that_must_not_mix():
    assert not equal(True, 1) and not equal(1, True) and not equal(0, False)
    assert equal(None, None) and not equal(None, 0) and not equal([], None) and not equal(None, "")
    assert not equal("1", 1) and not equal(1, "1")
    assert not equal(Opaque("Promise"), {}) and not equal(Opaque("x"), None)


def test_nested_collections():
    assert equal([1, (2.0000001, "a")], [1, [2, "a"]])  # any sequence kind; float tolerance inside
    assert equal((1, 2), [1, 2]) and equal([1, 2], (1, 2))
    assert not equal([1, 2], [2, 1]) and not equal([1], [1, 1])
    assert equal(Unordered([3, 1, 2]), {1, 2, 3}) and equal([2, 1], {1, 2})  # a set: without order
    assert not equal(Unordered([1, 1]), {1, 2}) and not equal(Unordered([1, 2, 3]), {1, 2})
    got = Pairs([("b", [1.5, Pairs([("c", None)])]), ("a", 1)])
    assert equal(got, {"a": 1, "b": [1.5, {"c": None}]})  # maps: without order, values deep
    assert not equal(got, {"a": 1, "b": [1.5, {"c": 0}]}) and not equal(got, {"a": 1})
    assert equal(Pairs([("1", "x"), ("2", "y")]), {1: "x", 2: "y"})  # JavaScript object keys
    assert equal(Pairs([(1, "x")]), {"1": "x"})  # PHP's integer-like string keys
    assert not equal(Pairs([(True, "x")]), {"True": "x"})
    assert equal(["x", "y"], {0: "x", 1: "y"}) and equal([], {})  # PHP arrays are lists and maps
    assert not equal(["x", "y"], {1: "x", 0: "y"}) and not equal(Pairs([]), [])


def test_exceptions_are_values():
    err = Raised("ValueError")
    assert not equal(err, None) and not equal(err, 0) and not equal(err, [])
    assert (
        equal(err, Raised(None))
        and equal(err, Raised("ValueError"))
        and not equal(err, Raised("KeyError"))
    )
    assert not equal(5, Raised(None))
    b = read_block(block(GOOD[0], f"{PREFIX} CASE 0 X{b'panic'.hex()}", GOOD[2], GOOD[3]), NONCE, 2)
    assert b.ok and case_outcomes(b, [6, "hi"]) == ["error", "pass"]


def test_the_strict_rules_for_python_against_python():
    assert equal_strict(2, 2.0000001) and equal_strict([1, 2], [1, 2]) and equal_strict((1,), (1,))
    assert not equal_strict((1, 2), [1, 2]) and not equal_strict([1, 2], (1, 2))
    assert not equal_strict(True, 1) and not equal_strict("1", 1)
    assert equal_strict(Pairs([("a", (1,))]), {"a": (1,)}) and not equal_strict(
        Pairs([("a", [1])]), {"a": (1,)}
    )
    assert equal_strict(Unordered([2, 1]), {1, 2}) and not equal_strict([1, 2], {1, 2})
    assert not equal_strict(Raised("E"), None) and not equal_strict(CpuLimit(), None)
