"""What the repair loop may tell a model: facts of rejected runs and the feedback turn.

The pure parts on hand-made compiler output; then real runs in both sandboxes, where the
compilers quote the test program's calls: a call on a held-out (generated) input must never
reach the facts, a call on a given (doctest) input may.
"""

from __future__ import annotations

import ast
import json

import pytest

from pipeline.execute import ExecuteConfig, Validator
from pipeline.feedback import (
    FEEDBACK_VERSION,
    REPAIRABLE,
    call_text,
    code_lines,
    held_out_lines,
    message_text,
    redact,
    relabel,
    render_feedback,
    scrub_paths,
)
from pipeline.verdict_cache import VerdictCache
from schemas import Candidate, SourcePair, TestCase, Translation, Verdict, dumps
from tests.pipeline.repair_cases import FUNCTIONS
from tests.support import BACKENDS, get_sandbox

HARNESS = "\n".join(
    [
        "#include <cstdio>",
        "int add(int a, int b) {",
        "    return a + b;",
        "}",
        "int main() {",
        "  run_case(0, add(2, 3));",
        "  run_case(1, add(19, 23));",
        "  return 0;",
        "}",
    ]
)
GIVEN_ONLY = HARNESS.replace("  run_case(1, add(19, 23));\n", "")
CODE = "int add(int a, int b) {\n    return a + b;\n}"


def test_held_out_lines_are_the_lines_only_the_full_harness_has():
    assert held_out_lines(HARNESS, GIVEN_ONLY) == {7}
    assert held_out_lines(HARNESS, None) == frozenset()


def test_sandbox_paths_go_and_line_numbers_move_into_the_models_code():
    assert (
        scrub_paths('File "/work/j0/main.py", line 4\n./main.go:2:14: x')
        == 'File "main.py", line 4\nmain.go:2:14: x'
    )
    go = (
        'main.go:2:2: cannot find package "github.com/a/b" in any of:\n'
        "\t/usr/lib/go-1.19/src/github.com/a/b (from $GOROOT)\n"
        "\t/work/j0/.gopath/src/github.com/a/b (from $GOPATH)"
    )
    assert scrub_paths(go).splitlines()[1:] == ["\tb (from $GOROOT)", "\tb (from $GOPATH)"]
    kept = "x = a / b; y = c/d; see https://go.dev/doc"
    assert scrub_paths(kept) == kept
    assert code_lines(HARNESS, CODE) == {2: 1, 3: 2, 4: 3}
    text = "main.cpp:3:14: error: bad\n    3 |     return a + b;\nmain.cpp:6:3: note: here"
    assert relabel(text, code_lines(HARNESS, CODE)).splitlines() == [
        "your_code.cpp:2:14: error: bad",
        "    2 |     return a + b;",
        "test_harness.cpp:6:3: note: here",
    ]


def test_a_compile_message_starts_at_its_first_error_and_keeps_go_s_whole_list():
    def message(stderr: str) -> str:
        return message_text(stderr, HARNESS, CODE, frozenset(), compile_phase=True)

    gcc = "main.cpp: In function 'int f()':\nmain.cpp:3:1: warning: w\nmain.cpp:4:2: error: e"
    assert message(gcc) == "your_code.cpp:3:2: error: e"
    assert message("warning: unused\nerror[E0425]: cannot find value `x`").startswith(
        "error[E0425]"
    )
    # Go marks no line as an error and closes a long list with "too many errors" (the lines
    # are the C++ harness's here, outside the code: test_harness).
    go = "# command-line-arguments\n./main.go:5:2: undefined: List\n./main.go:9:3: too many errors"
    assert message(go).splitlines() == [
        "# command-line-arguments",
        "test_harness.go:5:2: undefined: List",
        "test_harness.go:9:3: too many errors",
    ]


def test_messages_that_point_at_or_quote_a_held_out_line_are_removed():
    held = held_out_lines(HARNESS, GIVEN_ONLY)
    text = "\n".join(
        [
            "main.cpp:6:15: error: no match for call to add(2, 3)",
            "    6 |   run_case(0, add(2, 3));",
            "main.cpp:7:15: error: no match for call to add(19, 23)",
            "    7 |   run_case(1, add(19, 23));",
            "error[E0308]: mismatched types",
            "   |   run_case(1, add(19, 23));",
        ]
    )
    kept, removed = redact(text, HARNESS, held)
    assert removed == 2 and "19" not in kept and "add(2, 3)" in kept


def test_call_text_is_the_sources_notation():
    assert call_text("m.gcd", TestCase("(12, 18)", "6")) == "gcd(12, 18)"
    assert call_text("f", TestCase("('a',)", "1")) == "f('a')"
    assert call_text("f", TestCase("([1, 2], {'k': None})", "1")) == "f([1, 2], {'k': None})"


def _verdict(facts: dict | None = None, parse_error: str | None = None) -> Verdict:
    return Verdict(
        "p", "go", feedback=dumps(facts) if facts is not None else None, parse_error=parse_error
    )


def test_feedback_turns_per_reason():
    parse = render_feedback(
        "parse_error", _verdict(parse_error="3:1: missing } near '}'"), "python", "go", "m.f"
    )
    assert parse.startswith("Your Go code does not parse: 3:1: missing } near '}'.")
    assert parse.endswith(
        "Answer with exactly one fenced code block tagged `go` containing the complete "
        "corrected Go translation, and nothing else."
    )
    compiled = render_feedback(
        "compile_error", _verdict({"message": "your_code.go:2:2: x declared"}), "python", "go", "f"
    )
    assert (
        "```text\nyour_code.go:2:2: x declared\n```" in compiled
        and "`your_code.go` is the code you wrote" in compiled
    )
    failed = render_feedback(
        "failed",
        _verdict(
            {
                "cases": [
                    {"call": "f(1)", "expected": "2", "got": "3"},
                    {"call": "f(5)", "expected": "6", "raised": "panic"},
                ],
                "given_failed": 3,
                "held_out_failed": True,
            }
        ),
        "python",
        "rust",
        "f",
    )
    assert (
        "- `f(1)` returned `3`; expected `2`\n- `f(5)` raised `panic`; expected `6`\n- and 1 more"
        in failed
    )
    assert "other inputs, which are not shown" in failed
    only_held = render_feedback(
        "failed",
        _verdict({"cases": [], "given_failed": 0, "held_out_failed": True}),
        "python",
        "go",
        "f",
    )
    assert "matches the documented examples" in only_held
    crash = render_feedback("runtime_error", _verdict({"held_out": True}), "python", "go", "f")
    assert "crashed on an input that is not shown." in crash and "```" not in crash
    slow = render_feedback(
        "timeout",
        _verdict({"stopped_at": "f(3)", "expected": "4", "message": ""}),
        "python",
        "go",
        "f",
    )
    assert (
        "did not finish within the time limit while running `f(3)` (expected result: `4`)" in slow
    )
    assert render_feedback("memory_exceeded", None, "python", "go", "f").startswith(
        "Your Go code compiles, but it used more memory than allowed."
    )
    with pytest.raises(ValueError, match="no feedback for 'truncated'"):
        render_feedback("truncated", None, "python", "go", "f")
    assert set(REPAIRABLE) == {
        "parse_error",
        "compile_error",
        "runtime_error",
        "failed",
        "timeout",
        "memory_exceeded",
    }
    assert FEEDBACK_VERSION == "f1"  # bump it with any change of the texts above


# -- real compilers and programs ------------------------------------------------------------------

CLAMP = SourcePair.create(
    repository_name="o/r",
    func_path_in_repository="m.py",
    func_name="clamp_add",
    language="python",
    code=FUNCTIONS["clamp_add"],
    docstring="Add, clamped.",
)
WRONG = {
    # the return type has no printer in the harness: rustc reports every call, quoting it
    "rust_type": (
        "rust",
        "struct R { v: i64 }\nfn clamp_add(a: i64, b: i64) -> R {\n"
        "    R { v: (a + b).max(0).min(100) }\n}",
    ),
    # a pointer parameter: g++ reports every call, quoting its argument
    "cpp_type": (
        "cpp",
        "long clamp_add(long* a, long b) {\n    return *a + b;\n}",
    ),
    # a wrong value on a documented example and on held-out inputs
    "go_value": ("go", "func ClampAdd(a int, b int) int {\n\treturn a + b + 1\n}"),
    # a crash on the first held-out input (the documented ones pass)
    "rust_crash": (
        "rust",
        "fn clamp_add(a: i64, b: i64) -> i64 {\n"
        "    if a != 2 && a != 60 { std::process::exit(3); }\n"
        "    (a + b).max(0).min(100)\n}",
    ),
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_facts_of_real_runs_never_show_a_held_out_case(backend):
    validator = Validator(ExecuteConfig(sandbox=backend), get_sandbox(backend), VerdictCache(None))
    cases = validator.source_tests([CLAMP])[CLAMP.pair_id].cases
    held = [c for c in cases if c.origin == "generated"]
    assert len(held) >= 3 and [c.origin for c in cases[:2]] == ["doctest", "doctest"]
    candidates = [
        Candidate(CLAMP, Translation(CLAMP.pair_id, lang, code, "openai:m", raw_reply=code))
        for lang, code in WRONG.values()
    ]
    verdicts = {name: c.verdict for name, c in zip(WRONG, validator.check(candidates), strict=True)}
    statuses = {name: str(v.exec_status) for name, v in verdicts.items()}
    assert statuses == {
        "rust_type": "compile_error",
        "cpp_type": "compile_error",
        "go_value": "failed",
        "rust_crash": "runtime_error",
    }
    for name, verdict in verdicts.items():
        facts = json.loads(verdict.feedback)
        turn = render_feedback(statuses[name], verdict, "python", WRONG[name][0], CLAMP.func_name)
        for case in held:
            args = ast.literal_eval(case.args)
            for text in (verdict.feedback, turn):  # neither the call in any notation nor its result
                assert f"clamp_add({args[0]}, {args[1]})" not in text
                assert (
                    f"({args[0]}i64, {args[1]}i64)" not in text and f"a0{{{args[0]}}}" not in text
                )
        if name in ("rust_type", "cpp_type"):
            # the documented calls' messages stay, the held-out ones are counted, not shown
            assert "message(s) about calls on held-out inputs left out" in facts["message"]
            assert "test_harness." in facts["message"] and "/work/" not in facts["message"]
    assert (
        "your_code.rs:1:1" in json.loads(verdicts["rust_type"].feedback)["message"]
    )  # where R is defined
    assert json.loads(verdicts["go_value"].feedback) == {
        "cases": [
            {"call": "clamp_add(2, 3)", "expected": "5", "got": "6"},
            {"call": "clamp_add(60, 70)", "expected": "100", "got": "131"},
        ],
        "given_failed": 2,
        "held_out_failed": True,
    }
    assert json.loads(verdicts["rust_crash"].feedback) == {"held_out": True}
