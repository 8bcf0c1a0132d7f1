"""Three small Python functions and, for Go, a subtly wrong and a right translation of each.

The wrong ones fail in the ways the repair loop must handle: a value wrong on a documented
example (``clamp_add``), code that only fits the documented examples and is wrong on every
other input (``scale``: only held-out cases fail), a compile error (``digit_sum`` declares a
variable it never uses) and a syntax error (``sign``). Compile errors at the call sites, where
the compiler quotes the test calls, held-out ones included, are Rust's and C++'s
(``test_feedback.py``): the Go harness refuses every translation that would give one.
"""

from __future__ import annotations

import json
from pathlib import Path

FUNCTIONS = {
    "clamp_add": '''def clamp_add(a: int, b: int) -> int:
    """Add a and b, clamped to the range 0..100.

    >>> clamp_add(2, 3)
    5
    >>> clamp_add(60, 70)
    100
    """
    return max(0, min(100, a + b))
''',
    "scale": '''def scale(x: int, k: int) -> int:
    """Multiply x by k.

    >>> scale(2, 3)
    6
    >>> scale(4, 5)
    20
    """
    return x * k
''',
    "digit_sum": '''def digit_sum(n: int) -> int:
    """Sum of the decimal digits of a non-negative integer.

    >>> digit_sum(123)
    6
    >>> digit_sum(40)
    4
    """
    total = 0
    while n > 0:
        total += n % 10
        n //= 10
    return total
''',
    "sign": '''def sign(x: int) -> int:
    """-1, 0 or 1 by the sign of x.

    >>> sign(-7)
    -1
    >>> sign(0)
    0
    >>> sign(9)
    1
    """
    if x < 0:
        return -1
    if x > 0:
        return 1
    return 0
''',
}

#: (wrong, right) Go translations.
GO = {
    ("clamp_add", "go"): (
        "func ClampAdd(a int, b int) int {\n\ts := a + b\n\tif s > 99 {\n\t\treturn 99\n\t}\n"
        "\tif s < 0 {\n\t\treturn 0\n\t}\n\treturn s\n}",
        "func ClampAdd(a int, b int) int {\n\ts := a + b\n\tif s > 100 {\n\t\treturn 100\n\t}\n"
        "\tif s < 0 {\n\t\treturn 0\n\t}\n\treturn s\n}",
    ),
    ("scale", "go"): (
        "func Scale(x int, k int) int {\n\tif x == 2 {\n\t\treturn 6\n\t}\n\treturn 20\n}",
        "func Scale(x int, k int) int {\n\treturn x * k\n}",
    ),
    ("digit_sum", "go"): (
        "func DigitSum(n int) int {\n\ttotal := 0\n\tcount := 0\n\tfor n > 0 {\n\t\ttotal += n % 10\n"
        "\t\tn /= 10\n\t}\n\treturn total\n}",
        "func DigitSum(n int) int {\n\ttotal := 0\n\tfor n > 0 {\n\t\ttotal += n % 10\n\t\tn /= 10\n\t}\n"
        "\treturn total\n}",
    ),
    ("sign", "go"): (
        "func Sign(x int) int {\n\tif x < 0 {\n\t\treturn -1\n\t}\n\tif x > 0 {\n\t\treturn 1\n\t\n\treturn 0\n}",
        "func Sign(x int) int {\n\tif x < 0 {\n\t\treturn -1\n\t}\n\tif x > 0 {\n\t\treturn 1\n\t}\n\treturn 0\n}",
    ),
}


def write_source(path: Path) -> Path:
    """The functions as CodeSearchNet JSON lines (``--source=csn:PATH``)."""
    rows = [
        {
            "repo": "o/repair",
            "path": f"m/{name}.py",
            "func_name": name,
            "language": "python",
            "code": code,
            "original_string": code,
            "docstring": code.split('"""')[1].split("\n")[0],
            "sha": "0" * 40,
            "url": f"https://example.com/{name}",
            "partition": "train",
            "license": "mit",
        }
        for name, code in FUNCTIONS.items()
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
