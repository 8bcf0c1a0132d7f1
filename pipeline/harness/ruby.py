"""Ruby harness: arrays for lists/tuples, hashes for dicts; results serialised.

The translation runs first, then the harness reads the nonce from stdin and prints each
call's result in the canonical form (``pipeline.harness.protocol``): symbols as strings,
``Set`` as a set, ``Rational``/``BigDecimal`` as floats, anything else without a canonical
form as opaque; an exception (any ``Exception``, ``SystemExit`` included) as a raised value.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pipeline.harness.base import (
    PREFIX,
    HarnessRequest,
    Unrenderable,
    check_arity,
    float_text,
    pad_args,
    pick_function,
)

LANGUAGE = "ruby"
_DEF = re.compile(r"^\s*def\s+(?:self\.)?([A-Za-z_]\w*[?!]?)", re.MULTILINE)
_SCOPE = re.compile(r"^\s*(class|module)\s+([A-Z]\w*)", re.MULTILINE)

_HELPERS = """
$stdout.sync = true
def __hex(s)
  s.to_s.encode('UTF-8', invalid: :replace, undef: :replace).b.unpack1('H*')
end

def __ser(v, out)
  if v.nil? then out << 'N'
  elsif v.is_a?(TrueClass) then out << 'B1'
  elsif v.is_a?(FalseClass) then out << 'B0'
  elsif v.is_a?(Integer) then out << "I#{v}"
  elsif v.is_a?(Float)
    out << (v.nan? ? 'Dnan' : v.infinite? ? (v > 0 ? 'Dinf' : 'D-inf') : "D#{v}")
  elsif v.is_a?(Numeric) && v.real? then __ser(v.to_f, out)
  elsif v.is_a?(String) || v.is_a?(Symbol) then out << 'S' + __hex(v)
  elsif v.is_a?(Array)
    out << "L#{v.length}"
    v.each { |x| __ser(x, out) }
  elsif v.is_a?(Hash)
    out << "M#{v.length}"
    v.each { |k, x| __ser(k, out); __ser(x, out) }
  elsif defined?(Set) && v.is_a?(Set)
    out << "U#{v.length}"
    v.each { |x| __ser(x, out) }
  else out << 'O' + __hex(v.class.name)
  end
end

def __emit(s)
  $stdout.write("\\n@@PREFIX #{s}\\n")
end

def __case(i)
  line = begin
    out = []
    __ser(yield, out)
    out.join(' ')
  rescue Exception => e
    'X' + __hex(e.class.name)
  end
  __emit("CASE #{i} #{line}")
end
""".replace("@@PREFIX", PREFIX)


def literal(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "Float::NAN"
        if math.isinf(v):
            return "Float::INFINITY" if v > 0 else "-Float::INFINITY"
        return float_text(v)
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{literal(k)} => {literal(x)}" for k, x in v.items()) + "}"
    raise Unrenderable(f"{type(v).__name__} value in ruby")


def defined_functions(code: str) -> list[str]:
    return _DEF.findall(code)


def _callee(code: str, name: str) -> str:
    """``name``, or ``Scope.name`` for ``def self.name`` / ``Scope.new.name`` inside a class."""
    m = re.search(rf"^\s*def\s+(self\.)?{re.escape(name)}\b", code, re.MULTILINE)
    if not m:
        return name
    scopes = [s for s in _SCOPE.finditer(code) if s.start() < m.start()]
    if not scopes or not m.group(0).startswith((" ", "\t")):
        return name
    kind, scope = scopes[-1].group(1), scopes[-1].group(2)
    if m.group(1):
        return f"{scope}.{name}"
    return f"{scope}.new.{name}" if kind == "class" else f"(Object.new.extend({scope})).{name}"


def render(req: HarnessRequest) -> str:
    check_arity(req)
    name = pick_function(defined_functions(req.code), req.func_name, ignore=("main", "initialize"))
    callee = _callee(req.code, name)
    out = [
        req.code.rstrip(),
        "",
        _HELPERS,
        "__nonce = ($stdin.gets || '').strip",
        '__emit("BEGIN #{__nonce}")',
    ]
    for i, case in enumerate(req.cases):
        args = ", ".join(literal(a) for a in pad_args(req, case))
        out.append(f"__case({i}) {{ {callee}({args}) }}")
    out.append('__emit("END #{__nonce}")')
    return "\n".join(out) + "\n"


def library_unit(code: str) -> str:
    return code.rstrip() + "\n"
