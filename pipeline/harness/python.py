"""Python harness: the translation, then one guarded call per case compared with ``__eq``."""

from __future__ import annotations

import re

from pipeline.harness.base import (
    FLOAT_TOL,
    MARK,
    HarnessRequest,
    check_arity,
    pad_args,
    pick_function,
)

LANGUAGE = "python"
_DEF = re.compile(r"^(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)

_HELPERS = f'''
def __eq(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b and isinstance(a, bool) == isinstance(b, bool)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) or isinstance(b, float):
            if a != a and b != b:
                return True
            return abs(a - b) <= {FLOAT_TOL} * max(1.0, abs(b))
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(__eq(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(__eq(a[k], b[k]) for k in b)
    return a == b
'''


def defined_functions(code: str) -> list[str]:
    return _DEF.findall(code)


def render(req: HarnessRequest) -> str:
    check_arity(req)
    name = pick_function(defined_functions(req.code), req.func_name)
    lines = [req.code.rstrip(), "", "", "import sys as __sys", _HELPERS]
    for i, case in enumerate(req.cases):
        args = ", ".join(repr(a) for a in pad_args(req, case))
        lines += [
            "try:",
            f"    __r = {name}({args})",
            f"    print('{MARK} {i} ' + ('PASS' if __eq(__r, {req.cases[i].expected!r}) else 'FAIL'), flush=True)",
            "except BaseException:",
            f"    print('{MARK} {i} ERROR', flush=True)",
        ]
    return "\n".join(lines) + "\n"


def library_unit(code: str) -> str:
    return code.rstrip() + "\n"
