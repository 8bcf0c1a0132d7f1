"""Reply handling on replies shaped like real model output."""

from __future__ import annotations

from pipeline.translate import (
    Reason,
    TranslationFailure,
    TranslationRequest,
    build_result,
    extract_code,
)
from schemas import SourcePair, Translation

RUST = "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}"


def test_prose_around_a_tagged_block():
    reply = (
        f"Sure! Here is the Rust translation:\n\n```rust\n{RUST}\n```\n\nThis keeps the behaviour."
    )
    got = extract_code(reply, "rust")
    assert got.code == RUST + "\n" and got.how == "tagged"


def test_several_blocks_pick_the_target_language():
    reply = (
        "The original:\n```python\ndef add(a, b):\n    return a + b\n```\n"
        f"The translation:\n```rust\n{RUST}\n```\nUsage:\n```\nadd(1, 2)\n```\n"
    )
    assert extract_code(reply, "rust").code == RUST + "\n"


def test_alias_tags_count_as_the_language():
    reply = "```c++\n#include <vector>\nint f() { return 1; }\n```"
    got = extract_code(reply, "cpp")
    assert got.how == "tagged" and got.code.startswith("#include <vector>")


def test_wrong_language_tag_on_the_only_block_is_still_taken():
    reply = "Here you go:\n```javascript\nfunc Add(a int, b int) int {\n\treturn a + b\n}\n```"
    got = extract_code(reply, "go")
    assert got.how == "only_block" and got.code.startswith("func Add")


def test_several_other_blocks_take_the_longest():
    reply = "```text\nadd(1,2)\n```\n```\nfunc Add(a int, b int) int {\n\treturn a + b\n}\n```\n"
    assert extract_code(reply, "go").code.startswith("func Add")


def test_no_fence_strips_prose_lines():
    reply = f"Here is the translation.\n{RUST}\nThis function adds two numbers."
    got = extract_code(reply, "rust")
    assert got.how == "unfenced" and got.code == RUST + "\n"


def test_truncated_reply_is_rejected():
    got = extract_code(f"```rust\n{RUST}", "rust", truncated=True)
    assert got.code is None and got.reason == Reason.TRUNCATED


def test_unclosed_fence_is_truncated_even_without_the_flag():
    got = extract_code("Here:\n```rust\npub fn add(a: i32) -> i32 {\n    a +", "rust")
    assert got.code is None and got.reason == Reason.TRUNCATED


def test_empty_and_whitespace_replies_are_rejected():
    for reply in ("", "   \n", None, "```rust\n\n```"):
        got = extract_code(reply, "rust")
        assert got.code is None and got.reason == Reason.EMPTY_REPLY, reply


def test_crlf_replies():
    got = extract_code("```rust\r\nfn f() {}\r\n```\r\n", "rust")
    assert got.code == "fn f() {}\n"


def test_build_result_keeps_the_raw_reply_in_rejected_rows():
    pair = SourcePair.create(
        repository_name="o/r",
        func_path_in_repository="a.py",
        func_name="f",
        language="python",
        code="def f():\n    return 1\n",
        docstring="One.",
    )
    request = TranslationRequest(pair, "rust", attempt=2)
    raw = "```rust\nfn f() -> i32 {"
    result = build_result(
        request,
        raw,
        truncated=True,
        translator="hf:tiny",
        prompt_version="v1",
        sampling="{}",
        latency_s=0.5,
    )
    assert isinstance(result, TranslationFailure) and result.reason == "truncated"
    row = result.to_rejected()
    assert row.stage == "translate" and row.reason == "truncated"
    assert row.raw_reply == raw and row.target_language == "rust" and row.attempt == 2
    ok = build_result(
        request,
        f"```rust\n{RUST}\n```",
        truncated=False,
        translator="hf:tiny",
        prompt_version="v1",
        sampling="{}",
        latency_s=0.5,
    )
    assert isinstance(ok, Translation) and ok.attempt == 2 and ok.prompt_version == "v1"
    assert ok.raw_reply.startswith("```rust")
