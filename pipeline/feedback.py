"""What a model may be told about its rejected translation: the repair loop's feedback turn.

Two halves, with the line between them where the held-out cases are known:

* **Facts** (``run_facts``, called by the execute stage for every rejected run): what went
  wrong, in a form that is safe to show. Compiler and program messages lose the sandbox's
  paths, get their line numbers moved into the model's own code where the line is the
  model's (``your_code.go:3:5``; ``test_harness.go:103`` for a line of the test program),
  and lose every message that points at or quotes a line calling the function on a
  **held-out** (generated) case. A failed run keeps the **given** cases (doctests, HumanEval
  asserts: the model already saw them in the docstring) that did not pass, with what the
  call returned or raised; of the held-out cases only the fact that one failed. A crash or a
  timeout on a held-out case says only that. The facts are canonical JSON in
  ``Verdict.feedback`` and in the verdict cache.
* **The feedback turn** (``render_feedback``): the user message the repair loop appends to
  the conversation after the model's own reply, from the rejection reason, the verdict
  (``parse_error`` or the facts) and the pair. Its template has a version,
  ``FEEDBACK_VERSION``, that goes into the repaired translation's ``prompt_version``
  (``v1+f1``) and so into the translation cache key: bump it whenever the text changes.

The final verdict of a repaired translation runs every case, held-out ones included
(``pipeline/execute.py`` does not know about rounds).
"""

from __future__ import annotations

import ast
import collections
import difflib
import json
import re
from collections.abc import Sequence
from typing import Any

from pipeline.harness import protocol
from pipeline.translate.prompts import DISPLAY_NAMES, FENCE_TAGS
from schemas import TestCase, Verdict, dumps

#: Bump on any change to the texts of ``render_feedback`` (part of the translation cache key).
FEEDBACK_VERSION = "f1"

#: Rejection reasons a repair round can act on (the parse check's and the execute stage's).
REPAIRABLE: tuple[str, ...] = (
    "parse_error",
    "compile_error",
    "runtime_error",
    "failed",
    "timeout",
    "memory_exceeded",
)

#: Statuses whose runs get facts (``output_exceeded`` too: facts are cheap, the loop skips it).
FACT_STATUSES: frozenset[str] = frozenset(
    {"compile_error", "runtime_error", "failed", "timeout", "memory_exceeded", "output_exceeded"}
)

MESSAGE_CHARS = 1500  # compiler or program text shown, at most
VALUE_CHARS = 200  # one argument, result or expected value, at most
CASES_SHOWN = 5  # failed given cases listed, at most
_MIN_QUOTE = 8  # a held-out line shorter than this (``}``) is not searched for as a quotation

_EXT = r"(?:go|rs|cpp|cc|c|java|js|mjs|php|rb|py)"
#: An absolute or ./ path to a file of the program: the sandbox's directory goes.
_PATH = re.compile(rf"(?<![\w.])(?:\.{{1,2}}/|/)(?:[\w.+-]+/)*(?=[\w-]+\.{_EXT}\b)")
#: ``main.go:12`` / ``main.go:12:5`` (C, C++, Go, Java, JavaScript, Rust ``-->``, Ruby, PHP).
_FILE_LINE = re.compile(rf"\b(?P<file>[\w-]+)\.(?P<ext>{_EXT}):(?P<line>\d+)(?P<col>:\d+)?")
#: Python: ``File "main.py", line 12``; PHP: ``main.php on line 12``.
_PY_LINE = re.compile(rf'File "(?P<file>[\w-]+)\.(?P<ext>{_EXT})", line (?P<line>\d+)')
_PHP_LINE = re.compile(rf"\b(?P<file>[\w-]+)\.(?P<ext>{_EXT}) on line (?P<line>\d+)")
#: rustc's and gcc's source gutter: `` 57 |     code``.
_GUTTER = re.compile(r"^(?P<indent>\s*)(?P<line>\d+)(?P<bar> \|)")
#: Lines that open a new compiler message (the rest of a message is its context).
_MESSAGE_START = re.compile(
    rf"^(?:\S*\.{_EXT}:\d+|(?:error|warning)(?:\[\w+\])?:|\S+\.{_EXT}: In |Traceback|PHP |\S*\.{_EXT}: )"
)


# -- facts (the execute stage) -----------------------------------------------------------------


def held_out_lines(source: str, given_source: str | None) -> frozenset[int]:
    """1-based lines of the harness ``source`` that the harness of the given cases alone
    (``given_source``) does not have: the calls on held-out inputs (and anything else those
    inputs changed). ``given_source`` None: there are no held-out cases."""
    if given_source is None:
        return frozenset()
    available = collections.Counter(given_source.splitlines())
    held = set()
    for number, line in enumerate(source.splitlines(), 1):
        if available[line] > 0:
            available[line] -= 1
        else:
            held.add(number)
    return frozenset(held)


#: Any other absolute path of two or more parts (Go's ``cannot find package "x" in any of:``
#: lists ``/usr/lib/go-1.19/src/x`` and ``/work/j0/.gopath/src/x``): only its last part stays.
_DIR_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.+-]+/)+(?=[\w.+-])")


def scrub_paths(text: str) -> str:
    """Remove the sandbox's directories from paths (``/work/j0/main.py`` -> ``main.py``,
    ``/work/j0/.gopath/src/x`` -> ``x``)."""
    return _DIR_PATH.sub("", _PATH.sub("", text))


def code_lines(source: str, code: str) -> dict[int, int]:
    """Harness line -> line of the translation ``code`` (1-based), for the lines the harness
    holds unchanged; lines the harness added or rewrote are not in the map."""
    a, b = source.splitlines(), code.splitlines()
    mapping = {}
    for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            mapping[block.a + k + 1] = block.b + k + 1
    return mapping


def _references(line: str) -> list[int]:
    refs = [
        int(m.group("line"))
        for pattern in (_FILE_LINE, _PY_LINE, _PHP_LINE)
        for m in pattern.finditer(line)
    ]
    gutter = _GUTTER.match(line)
    if gutter:
        refs.append(int(gutter.group("line")))
    return refs


def _split_messages(text: str) -> list[list[str]]:
    messages: list[list[str]] = []
    for line in text.splitlines():
        if not messages or _MESSAGE_START.match(line):
            messages.append([line])
        else:
            messages[-1].append(line)
    return messages


def redact(text: str, source: str, held: frozenset[int]) -> tuple[str, int]:
    """``text`` without the messages that point at (``main.go:105``, a ``105 |`` gutter) or
    quote a held-out line of ``source``; returns (text, messages removed)."""
    if not held:
        return text, 0
    lines = source.splitlines()
    quotes = {lines[n - 1].strip() for n in held if n <= len(lines)}
    quotes = {q for q in quotes if len(q) >= _MIN_QUOTE}
    kept, removed = [], 0
    for message in _split_messages(text):
        leaks = any(
            any(ref in held for ref in _references(line)) or any(q in line for q in quotes)
            for line in message
        )
        if leaks:
            removed += 1
        else:
            kept.extend(message)
    return "\n".join(kept), removed


def relabel(text: str, mapping: dict[int, int]) -> str:
    """Line references into the model's code (``your_code.go:3:5``) or the test program around
    it (``test_harness.go:103:5``); gutters of code lines get the code's line number."""

    def name(ext: str, line: int) -> tuple[str, int]:
        return (
            (f"your_code.{ext}", mapping[line])
            if line in mapping
            else (f"test_harness.{ext}", line)
        )

    def file_line(m: re.Match) -> str:
        file, line = name(m.group("ext"), int(m.group("line")))
        return f"{file}:{line}{m.group('col') or ''}"

    def py_line(m: re.Match) -> str:
        file, line = name(m.group("ext"), int(m.group("line")))
        return f'File "{file}", line {line}'

    def php_line(m: re.Match) -> str:
        file, line = name(m.group("ext"), int(m.group("line")))
        return f"{file} on line {line}"

    out = []
    for line in text.splitlines():
        line = _PY_LINE.sub(py_line, line)
        line = _PHP_LINE.sub(php_line, line)
        line = _FILE_LINE.sub(file_line, line)
        gutter = _GUTTER.match(line)
        if gutter and int(gutter.group("line")) in mapping:
            number = str(mapping[int(gutter.group("line"))]).rjust(len(gutter.group("line")))
            line = gutter.group("indent") + number + line[gutter.end("line") :]
        out.append(line)
    return "\n".join(out)


def _trim(text: str, limit: int = MESSAGE_CHARS, keep_tail: bool = False) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    if keep_tail:
        half = limit // 2
        return (
            f"{text[:half]}\n[... {len(text) - 2 * half} characters left out ...]\n{text[-half:]}"
        )
    return f"{text[:limit]}\n[... {len(text) - limit} more characters]"


#: A diagnostic that is an error: ``error:`` (g++, javac), ``error[E0425]:`` (rustc). Go's
#: compiler says no such word (``./main.go:5:2: undefined: x``) but ends a long list with
#: ``too many errors``, which must not be taken for the first error.
_ERROR_LINE = re.compile(r"\berror(?:\[\w+\])?:", re.IGNORECASE)


def _first_error(text: str) -> str:
    """From the first error diagnostic on (rustc and g++ print warnings first); all of it
    when no line is marked as an error (Go)."""
    lines = text.strip().splitlines()
    for i, line in enumerate(lines):
        if _ERROR_LINE.search(line):
            return "\n".join(lines[i:])
    return text.strip()


def message_text(
    stderr: str, source: str, code: str, held: frozenset[int], *, compile_phase: bool
) -> str:
    """A compiler's or program's message as the model may see it (see the module docstring)."""
    text = scrub_paths(_first_error(stderr) if compile_phase else stderr.strip())
    text, removed = redact(text, source, held)
    text = _trim(relabel(text, code_lines(source, code)), keep_tail=not compile_phase)
    if removed:
        note = f"[{removed} message(s) about calls on held-out inputs left out]"
        text = f"{text}\n{note}" if text.strip() else note
    return text


def _value_text(value: Any) -> str:
    try:
        value = protocol.to_python(value)
    except TypeError:  # an unhashable set item or dict key: print it as decoded
        pass
    return _trim(repr(value), VALUE_CHARS)


def call_text(func_name: str, case: TestCase) -> str:
    """``gcd(12, 18)``: the call of a case in the source's (Python) notation."""
    short = func_name.rsplit(".", 1)[-1]
    try:
        args = ast.literal_eval(case.args)
        shown = ", ".join(
            _trim(repr(a), VALUE_CHARS) for a in (args if isinstance(args, tuple) else (args,))
        )
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        shown = _trim(case.args.strip()[1:-1], VALUE_CHARS)
    return f"{short}({shown})"


def _result(value: Any) -> dict[str, str]:
    if isinstance(value, protocol.Raised):
        return {"raised": value.type_name or "an exception"}
    if isinstance(value, protocol.Opaque):
        return {"got": f"a {value.type_name} value that cannot be compared"}
    return {"got": _value_text(value)}


def run_facts(
    status: str,
    *,
    stdout: str,
    stderr: str,
    nonce: str,
    cases: Sequence[TestCase],
    func_name: str,
    source: str,
    code: str,
    given_source: str | None,
) -> str | None:
    """The facts of one rejected run that the model may see, as canonical JSON (or None).

    Args:
        status: the verdict's ``exec_status`` (``compile_error``, ``failed``, ``runtime_error``,
            ``timeout``, ``memory_exceeded``, ``output_exceeded``; others have no facts).
        stdout, stderr, nonce: the run's output and its nonce (the protocol block is read again).
        cases: the cases the harness ran, in order, with their ``origin`` (empty: a library unit).
        func_name: the source function's name (calls are written with it).
        source: the program that ran (harness or library unit); code: the translation in it.
        given_source: the same harness rendered with the given cases only (None when every
            case is a given one): the lines it lacks are the held-out calls.
    """
    if status not in FACT_STATUSES:
        return None
    held = held_out_lines(source, given_source)
    if status == "compile_error":
        return dumps({"message": message_text(stderr, source, code, held, compile_phase=True)})
    n = len(cases)
    block = protocol.read_block(stdout, nonce, n) if n else None
    if status == "failed":
        expected = [ast.literal_eval(c.expected) for c in cases]
        outcomes = protocol.case_outcomes(block, expected) if block is not None else []
        shown, given_failed, held_failed = [], 0, False
        for i, (case, outcome) in enumerate(zip(cases, outcomes, strict=True)):
            if outcome == "pass":
                continue
            if case.origin == "generated":
                held_failed = True
                continue
            given_failed += 1
            if len(shown) < CASES_SHOWN:
                item = {
                    "call": call_text(func_name, case),
                    "expected": _trim(case.expected, VALUE_CHARS),
                }
                if outcome != "missing":
                    item.update(_result(block.values[i]))
                shown.append(item)
        facts: dict[str, Any] = {
            "cases": shown,
            "given_failed": given_failed,
            "held_out_failed": held_failed,
        }
        if block is not None and block.violation is not None:
            facts["problem"] = (
                "the program printed text that imitates the test harness's own output"
            )
        elif block is not None and not block.complete:
            facts["problem"] = (
                "the program stopped before the test harness had called the function on every input"
            )
        return dumps(facts)
    facts = {}
    if block is not None and block.started and block.violation is None and len(block.values) < n:
        case = cases[len(block.values)]  # the call that was running when the program stopped
        if case.origin == "generated":
            facts["held_out"] = True
        else:
            facts["stopped_at"] = call_text(func_name, case)
            facts["expected"] = _trim(case.expected, VALUE_CHARS)
    elif block is not None and not block.started:
        facts["before_first_call"] = True
    if not facts.get("held_out"):  # the message of a crash on a held-out input stays unseen
        facts["message"] = message_text(stderr, source, code, held, compile_phase=False)
    return dumps(facts)


# -- the feedback turn (the repair loop) -----------------------------------------------------------

_ANSWER = (
    "Fix the translation. Answer with exactly one fenced code block tagged `{tag}` containing the "
    "complete corrected {target} translation, and nothing else."
)
_NAMES_NOTE = (
    "In these messages `your_code.{ext}` is the code you wrote and `test_harness.{ext}` is the test "
    "program around it."
)


def _facts(verdict: Verdict | None) -> dict[str, Any]:
    if verdict is None or not verdict.feedback:
        return {}
    try:
        return json.loads(verdict.feedback)
    except ValueError:
        return {}


def _block(text: str, target: str) -> str:
    note = ""
    for m in re.finditer(r"\b(?:your_code|test_harness)\.(\w+)", text):
        note = "\n\n" + _NAMES_NOTE.format(ext=m.group(1))
        break
    return f"\n\n```text\n{text}\n```{note}"


def _where(facts: dict[str, Any]) -> str:
    if facts.get("held_out"):
        return " on an input that is not shown"
    if facts.get("stopped_at"):
        return f" while running `{facts['stopped_at']}` (expected result: `{facts['expected']}`)"
    if facts.get("before_first_call"):
        return " before the test program called the function"
    return ""


def render_feedback(
    reason: str, verdict: Verdict | None, source_language: str, target_language: str, func_name: str
) -> str:
    """The feedback turn for a translation rejected with ``reason`` (one of ``REPAIRABLE``)."""
    if reason not in REPAIRABLE:
        raise ValueError(f"no feedback for {reason!r}; repairable: {', '.join(REPAIRABLE)}")
    target = DISPLAY_NAMES.get(target_language, target_language)
    source = DISPLAY_NAMES.get(source_language.lower(), source_language)
    facts = _facts(verdict)
    short = func_name.rsplit(".", 1)[-1]
    message = facts.get("message") or ""
    if reason == "parse_error":
        where = (verdict.parse_error if verdict is not None else None) or "a syntax error"
        head = f"Your {target} code does not parse: {where}."
    elif reason == "compile_error":
        head = (
            f"Your {target} code does not compile. It was compiled together with a test program that calls "
            f"`{short}`, and the compiler said:" + _block(message or "(no message)", target)
        )
    elif reason == "failed":
        cases = facts.get("cases") or []
        lines = []
        for case in cases:
            got = (
                f"raised `{case['raised']}`"
                if "raised" in case
                else (f"returned `{case['got']}`" if "got" in case else "gave no result")
            )
            lines.append(f"- `{case['call']}` {got}; expected `{case['expected']}`")
        more = facts.get("given_failed", len(cases)) - len(cases)
        if more > 0:
            lines.append(f"- and {more} more of the documented examples")
        if lines:
            head = (
                f"Your {target} code compiles and runs, but it does not behave like the {source} function on "
                f"these examples from its documentation (arguments and values in {source} notation):\n"
                + "\n".join(lines)
            )
            if facts.get("held_out_failed"):
                head += f"\nIt also gives results different from the {source} function on other inputs, which are not shown."
        elif facts.get("held_out_failed"):
            head = (
                f"Your {target} code compiles and runs and matches the documented examples, but it gives "
                f"results different from the {source} function on other inputs, which are not shown. Check "
                "edge cases such as empty inputs, zero, negative numbers and large values."
            )
        else:
            head = f"Your {target} code compiles and runs, but it does not behave like the {source} function."
        if facts.get("problem"):
            head += f"\nAlso, {facts['problem']}: the function must not print anything."
    else:
        what = {
            "runtime_error": "the program crashed",
            "timeout": "it did not finish within the time limit",
            "memory_exceeded": "it used more memory than allowed",
        }[reason]
        head = f"Your {target} code compiles, but {what}{_where(facts)}."
        if message:
            head += _block(message, target)
    return (
        head
        + "\n\n"
        + _ANSWER.format(tag=FENCE_TAGS.get(target_language, target_language), target=target)
    )


__all__ = [
    "FACT_STATUSES",
    "FEEDBACK_VERSION",
    "REPAIRABLE",
    "call_text",
    "code_lines",
    "held_out_lines",
    "message_text",
    "redact",
    "relabel",
    "render_feedback",
    "run_facts",
    "scrub_paths",
]
