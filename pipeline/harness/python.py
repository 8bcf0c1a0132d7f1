"""Python harness: reads the nonce, then runs the translation, then one guarded call per case.

The harness is the program's main module and ``exec``s the translation in its own globals
(so the translation is ``__main__`` as it would be alone, ``if __name__ == "__main__"``
blocks included) only after it has read the nonce from stdin and pointed stdin at
``/dev/null``: code the translation runs at import time cannot learn the nonce from stdin.
Each result is written with ``os.write`` after flushing ``sys.stdout``, so the function's own
prints stay in order before it.
"""

from __future__ import annotations

import re

from pipeline.harness.base import (
    PREFIX,
    HarnessRequest,
    check_arity,
    pad_args,
    pick_function,
)

LANGUAGE = "python"
_DEF = re.compile(r"^(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)

#: The canonical serialiser (pipeline.harness.protocol), shared with source validation.
SERIALISER = """
import numbers as __numbers


def __ser(v, out):
    if v is None:
        out.append("N")
    elif isinstance(v, bool):
        out.append("B1" if v else "B0")
    elif isinstance(v, __numbers.Integral):
        out.append("I%d" % int(v))
    elif isinstance(v, __numbers.Real):
        v = float(v)
        out.append("Dnan" if v != v else "D" + repr(v))
    elif isinstance(v, str):
        out.append("S" + v.encode("utf-8", "surrogatepass").hex())
    elif isinstance(v, (tuple, list, set, frozenset)):
        out.append(("T" if isinstance(v, tuple) else "L" if isinstance(v, list) else "U") + str(len(v)))
        for x in v:
            __ser(x, out)
    elif isinstance(v, dict):
        out.append("M%d" % len(v))
        for k, x in v.items():
            __ser(k, out)
            __ser(x, out)
    else:
        out.append("O" + type(v).__name__.encode("utf-8", "replace").hex())


def __value(v):
    out = []
    __ser(v, out)
    return " ".join(out)


def __raised(e):
    return "X" + type(e).__name__.encode("utf-8", "replace").hex()
"""

#: Reads the nonce and points fd 0 at /dev/null; ``__emit`` writes one protocol line.
PRELUDE = """
import os as __os
import sys as __sys

__NONCE = __sys.stdin.readline().strip()
try:
    __null = __os.open(__os.devnull, __os.O_RDONLY)
    __os.dup2(__null, 0)
    __os.close(__null)
except OSError:
    __os.close(0)


def __emit(line):
    try:
        __sys.stdout.flush()
    except BaseException:
        pass
    data = ("\\n" + line + "\\n").encode("utf-8")
    while data:
        data = data[__os.write(1, data):]
"""


def defined_functions(code: str) -> list[str]:
    return _DEF.findall(code)


def render(req: HarnessRequest) -> str:
    check_arity(req)
    name = pick_function(defined_functions(req.code), req.func_name)
    calls = ", ".join(
        f"lambda: __fn({', '.join(repr(a) for a in pad_args(req, case))})" for case in req.cases
    )
    return "\n".join(
        [
            PRELUDE,
            SERIALISER,
            f"exec(compile({req.code!r}, 'main.py', 'exec'), globals())",
            f"__fn = globals()[{name!r}]",
            f"__emit({PREFIX + ' BEGIN '!r} + __NONCE)",
            f"for __i, __call in enumerate([{calls}]):",
            "    try:",
            "        __line = __value(__call())",
            "    except BaseException as __e:",
            "        __line = __raised(__e)",
            f"    __emit({PREFIX + ' CASE '!r} + str(__i) + ' ' + __line)",
            f"__emit({PREFIX + ' END '!r} + __NONCE)",
            "",
        ]
    )


def library_unit(code: str) -> str:
    return code.rstrip() + "\n"
