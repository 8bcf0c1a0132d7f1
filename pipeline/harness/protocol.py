"""The harness protocol: what a test program prints, and how the host judges it.

A harness program never sees an expected value. It reads a per-run nonce from stdin, calls
the function once per case in case order, and prints what each call returned in a canonical,
language-neutral form, inside one block::

    @@HARNESS/2 BEGIN <nonce>
    @@HARNESS/2 CASE 0 <value>
    @@HARNESS/2 CASE 1 <value>
    @@HARNESS/2 END <nonce>

Every protocol line is preceded by a newline, so text the function printed without one cannot
glue onto it. The host (:func:`read_block`) accepts the block only when it is the one and
only protocol text in stdout: the right nonce, one ``CASE`` line per case, in order, no
duplicates, no extras, the end marker present. Any other line that contains ``@@HARNESS``,
before, inside or after the block, is a violation. Other output (the function's own prints)
is ignored. Then :func:`equal` compares each value with the expected value the host alone
holds.

A value is a sequence of space-separated tokens in prefix form (lengths first, so no brackets
or escapes are needed and every language can write it in a few lines):

======================  ===========================================================
``N``                   null / None / nil / void / unit / an empty Optional
``B1``, ``B0``          booleans
``I<digits>``           an integer of any size (``I-42``)
``D<float>``            a float: decimal or exponent text, or ``nan``, ``inf``, ``-inf``
``S<hex>``              a string (or a char): the hex of its UTF-8 bytes
``L<n>``                a sequence of n values (list, array, vector, slice, tuple)
``T<n>``                a Python tuple (compares as a sequence across languages)
``U<n>``                a set of n values (compared without order)
``M<n>``                a map: n key, value pairs follow
``X<hex>``              the call raised / threw / panicked (hex of the type's name)
``O<hex>``              a value with no canonical form (hex of its type's name)
``C``, ``W``            source validation only: the case hit its CPU budget / the wall backstop
======================  ===========================================================
"""

from __future__ import annotations

import dataclasses
import math
import re
import secrets
from typing import Any

#: Bumped whenever what a harness prints or how the host reads it changes meaning. It is part
#: of every line and of every verdict-cache key, so no verdict of an older protocol is reused.
PROTOCOL_VERSION = 2
#: Any line containing this text that is not the expected protocol line is a violation.
MARK = "@@HARNESS"
PREFIX = f"{MARK}/{PROTOCOL_VERSION}"
#: Relative (and, below 1, absolute) tolerance for float results.
FLOAT_TOL = 1e-6

_CASE = re.compile(rf"^{re.escape(PREFIX)} CASE (\d+) (.*)$")
_NONCE = re.compile(r"^[0-9a-f]{32}$")


def new_nonce() -> str:
    """A fresh 128-bit nonce (hex) for one run; the program receives it on stdin."""
    return secrets.token_hex(16)


def stdin_for(nonce: str) -> str:
    """The stdin a harness program is given: the nonce and a newline, nothing else."""
    return nonce + "\n"


# -- values ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Raised:
    """The call raised, threw or panicked (``type_name``: the language's name for it).

    As an *expected* value, ``Raised(None)`` matches any raised result.
    """

    type_name: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Opaque:
    """A result with no canonical form (a function, an object of a user class, a promise)."""

    type_name: str


@dataclasses.dataclass(frozen=True, slots=True)
class CpuLimit:
    """Source validation: the case used up its CPU-time budget."""


@dataclasses.dataclass(frozen=True, slots=True)
class WallLimit:
    """Source validation: the case hit the wall-clock backstop (a load-dependent outcome)."""


class Unordered(tuple):
    """A decoded set (``U``): its items, in the order the program printed them."""

    __slots__ = ()


class Pairs(tuple):
    """A decoded map (``M``): its (key, value) pairs (keys may be unhashable, e.g. lists)."""

    __slots__ = ()


class ProtocolError(ValueError):
    """Text that is not a well-formed value."""


def _hex_text(h: str) -> str:
    try:
        return bytes.fromhex(h).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"bad string token {h[:40]!r}") from exc


def decode(text: str) -> Any:
    """The value a ``CASE`` line carries (see the module docstring); raises ``ProtocolError``."""
    tokens = text.split(" ")
    pos = 0

    def take() -> Any:
        nonlocal pos
        if pos >= len(tokens):
            raise ProtocolError("value ends early")
        tok = tokens[pos]
        pos += 1
        if not tok:
            raise ProtocolError("empty token")
        tag, body = tok[0], tok[1:]
        try:
            if tag == "N" and not body:
                return None
            if tag == "B" and body in ("0", "1"):
                return body == "1"
            if tag == "I" and re.fullmatch(r"-?\d+", body):
                return int(body)
            if tag == "D" and body and not any(c.isspace() for c in body):
                return float(body)
            if tag == "S":
                return _hex_text(body)
            if tag in "LTUM" and re.fullmatch(r"\d+", body):
                n = int(body)
                if n > len(tokens):  # cannot hold: say so before allocating anything
                    raise ProtocolError(f"{tag}{n} longer than the line")
                if tag == "M":
                    return Pairs((take(), take()) for _ in range(n))
                items = [take() for _ in range(n)]
                return tuple(items) if tag == "T" else Unordered(items) if tag == "U" else items
            if tag == "X":
                return Raised(_hex_text(body))
            if tag == "O":
                return Opaque(_hex_text(body))
            if tag == "C" and not body:
                return CpuLimit()
            if tag == "W" and not body:
                return WallLimit()
        except (ValueError, OverflowError) as exc:  # int() beyond the digit limit, bad float
            if isinstance(exc, ProtocolError):
                raise
            raise ProtocolError(f"bad token {tok[:40]!r}") from exc
        raise ProtocolError(f"bad token {tok[:40]!r}")

    try:
        value = take()
    except RecursionError as exc:
        raise ProtocolError("value nested too deeply") from exc
    if pos != len(tokens):
        raise ProtocolError(f"{len(tokens) - pos} tokens after the value")
    return value


def to_python(value: Any) -> Any:
    """A decoded value as plain Python (sets and dicts rebuilt); ``TypeError`` if unhashable."""
    if isinstance(value, Unordered):
        return {to_python(v) for v in value}
    if isinstance(value, Pairs):
        return {to_python(k): to_python(v) for k, v in value}
    if isinstance(value, list):
        return [to_python(v) for v in value]
    if isinstance(value, tuple):
        return tuple(to_python(v) for v in value)
    return value


# -- comparison --------------------------------------------------------------------------------


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _float_equal(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= FLOAT_TOL * max(1.0, abs(b))


def _key_equal(a: Any, b: Any) -> bool:
    """Map keys: equal values, or a string key against an int key with the same decimal text
    (JavaScript objects hold only string keys; PHP turns ``"1"`` keys into ints)."""
    if equal(a, b):
        return True
    if isinstance(a, str) and isinstance(b, int) and not isinstance(b, bool):
        return a == str(b)
    if isinstance(b, str) and isinstance(a, int) and not isinstance(a, bool):
        return b == str(a)
    return False


def _match_unordered(got: list, want: list, eq) -> bool:
    """Every item of ``want`` matched to a distinct item of ``got`` (greedy; small sets)."""
    if len(got) != len(want):
        return False
    left = list(got)
    for w in want:
        for j, g in enumerate(left):
            if eq(g, w):
                del left[j]
                break
        else:
            return False
    return True


def equal(got: Any, expected: Any) -> bool:
    """Does a translation's decoded result equal the expected Python value?

    The cross-language rules: ``None`` only equals null; booleans only equal booleans;
    numbers compare by value, with a relative tolerance of ``FLOAT_TOL`` (absolute below 1)
    as soon as either side is a float (NaN equals NaN, infinities equal themselves); strings
    exactly; lists and tuples element-wise in order (any sequence kind of the target); sets
    without order; dicts by keys (see ``_key_equal``) and values, without order, and a list
    equals a dict whose keys are 0..n-1 in order (PHP arrays are both); a raised result
    equals only an expected ``Raised``; an ``Opaque`` result equals nothing.
    """
    if isinstance(expected, Raised):
        return isinstance(got, Raised) and expected.type_name in (None, got.type_name)
    if isinstance(got, (Raised, Opaque, CpuLimit, WallLimit)):
        return False
    if expected is None:
        return got is None
    if isinstance(expected, bool):
        return isinstance(got, bool) and got == expected
    if _is_number(expected):
        if not _is_number(got):
            return False
        if isinstance(got, float) or isinstance(expected, float):
            try:
                return _float_equal(float(got), float(expected))
            except OverflowError:  # an int beyond float range
                return False
        return got == expected
    if isinstance(expected, str):
        return isinstance(got, str) and got == expected
    if isinstance(expected, (set, frozenset)):
        return isinstance(got, (list, tuple)) and _match_unordered(list(got), list(expected), equal)
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)) or isinstance(got, Pairs):
            return False
        return len(got) == len(expected) and all(
            equal(g, e) for g, e in zip(got, expected, strict=True)
        )
    if isinstance(expected, dict):
        if isinstance(got, list) and list(expected) == list(range(len(expected))):
            return len(got) == len(expected) and all(
                equal(g, expected[i]) for i, g in enumerate(got)
            )
        if not isinstance(got, Pairs) or len(got) != len(expected):
            return False
        left = list(got)
        for k, v in expected.items():
            for j, (gk, gv) in enumerate(left):
                if _key_equal(gk, k):
                    if not equal(gv, v):
                        return False
                    del left[j]
                    break
            else:
                return False
        return True
    return got == expected


def equal_strict(got: Any, expected: Any) -> bool:
    """Python against Python (the source checked against its own doctests): like
    :func:`equal`, but a list never equals a tuple, a dict's keys must be equal as Python
    values and any other pair of values must have the same type."""
    if isinstance(got, (Raised, Opaque, CpuLimit, WallLimit)):
        return False
    if isinstance(got, bool) or isinstance(expected, bool):
        return type(got) is type(expected) and got == expected
    if _is_number(got) and _is_number(expected):
        if isinstance(got, float) or isinstance(expected, float):
            try:
                return _float_equal(float(got), float(expected))
            except OverflowError:
                return False
        return got == expected
    if isinstance(expected, (list, tuple)):
        return (
            type(got) is type(expected)
            and len(got) == len(expected)
            and all(equal_strict(g, e) for g, e in zip(got, expected, strict=True))
        )
    if isinstance(expected, (set, frozenset)):
        return isinstance(got, Unordered) and _match_unordered(
            list(got), list(expected), equal_strict
        )
    if isinstance(expected, dict):
        if not isinstance(got, Pairs) or len(got) != len(expected):
            return False
        try:
            as_dict = {to_python(k): v for k, v in got}
        except TypeError:
            return False
        return as_dict.keys() == expected.keys() and all(
            equal_strict(as_dict[k], expected[k]) for k in expected
        )
    return type(got) is type(expected) and got == expected


# -- the block ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Block:
    """What the host read from one run's stdout.

    Attributes:
        values: the decoded value of each case line read, in case order (fewer than the
            cases when the program stopped early).
        complete: the end marker was read (after exactly one line per case).
        violation: why the output is not one well-formed block (None: it is); a violation
            makes every value untrustworthy.
        started: the begin marker was read (False: the harness never ran, or its output was
            lost).
    """

    values: tuple[Any, ...]
    complete: bool
    violation: str | None = None
    started: bool = True

    @property
    def ok(self) -> bool:
        return self.complete and self.violation is None


def read_block(stdout: str, nonce: str, n_cases: int) -> Block:
    """Read the protocol block of one run (rules in the module docstring)."""
    if not _NONCE.match(nonce):
        raise ValueError("nonce must be 32 lowercase hex digits (new_nonce())")
    begin, end = f"{PREFIX} BEGIN {nonce}", f"{PREFIX} END {nonce}"
    state = "before"
    values: list[Any] = []

    def stop(why: str) -> Block:
        return Block(tuple(values), False, why, state != "before")

    for number, raw in enumerate(stdout.split("\n"), 1):
        line = raw.rstrip("\r")
        if MARK not in line:
            continue  # the program's own output: neither trusted nor harmful
        where = f"line {number}"
        if state == "before":
            if line != begin:
                return stop(f"protocol text before the block ({where}: {line[:80]!r})")
            state = "inside"
        elif state == "inside":
            if line == end:
                if len(values) != n_cases:
                    return stop(f"end marker after {len(values)} of {n_cases} cases")
                state = "after"
                continue
            m = _CASE.match(line)
            if m is None:
                return stop(f"unexpected protocol text inside the block ({where}: {line[:80]!r})")
            index = int(m.group(1))
            if index >= n_cases:
                return stop(f"extra case line {index} for {n_cases} cases ({where})")
            if index != len(values):
                what = "duplicate" if index < len(values) else "out-of-order"
                return stop(f"{what} case line {index} where case {len(values)} was due ({where})")
            try:
                values.append(decode(m.group(2)))
            except ProtocolError as exc:
                return stop(f"case {index}: {exc}")
        else:
            return stop(f"protocol text after the end marker ({where}: {line[:80]!r})")
    if state == "before":
        return Block((), False, None, started=False)
    return Block(tuple(values), state == "after", None)


def case_outcomes(block: Block, expected: list[Any]) -> list[str]:
    """Per case ``pass``, ``fail`` (wrong value), ``error`` (raised) or ``missing``.

    A violated block makes every case ``missing``: none of its values can be trusted.
    """
    out: list[str] = []
    for i, want in enumerate(expected):
        if block.violation is not None or i >= len(block.values):
            out.append("missing")
            continue
        got = block.values[i]
        if equal(got, want):
            out.append("pass")
        else:
            out.append("error" if isinstance(got, Raised) else "fail")
    return out
