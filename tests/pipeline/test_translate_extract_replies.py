"""Reply extraction on a table of replies shaped like real model output.

Each row is a reply in the style of a model family (Qwen2.5-Coder, DeepSeek-Coder, reasoning
models that think in ``<think>`` blocks, chatty chat models, and SmolLM2-135M-Instruct as
this repository's tests see it), the function it was asked to translate, and what a user of
the dataset needs from it: the exact code kept, or the reason it was rejected.
"""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.translate import Reason, extract_code

PY_ADD = 'def add(a: int, b: int) -> int:\n    """Add two ints."""\n    return a + b\n'
GO_ADD = "func Add(a int, b int) int {\n\treturn a + b\n}"
RUST_ADD = "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}"
JS_ADD = "function add(a, b) {\n  return a + b;\n}"
PY_REVERSE = 'def reverse_words(s: str) -> str:\n    """Reverse the words."""\n    return " ".join(reversed(s.split()))\n'
GO_REVERSE = (
    "func ReverseWords(s string) string {\n\twords := strings.Fields(s)\n"
    "\tfor i, j := 0, len(words)-1; i < j; i, j = i+1, j-1 {\n\t\twords[i], words[j] = words[j], words[i]\n\t}\n"
    '\treturn strings.Join(words, " ")\n}'
)
C_COUNT = (
    "int count_vowels(const char *s) {\n    int n = 0;\n    for (; *s; s++) {\n        if (is_vowel(*s)) n++;\n"
    '    }\n    return n;\n}\n\nstatic int is_vowel(char c) {\n    return strchr("aeiou", c) != NULL;\n}'
)


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    reply: str
    target: str
    code: str | None = None  # the code kept (without the final newline)
    reason: str | None = None  # or the rejection reason
    function: str = "add"
    source: str = PY_ADD
    truncated: bool = False
    how: str | None = None


CASES = [
    Case("qwen_coder_bare_block", f"```go\n{GO_ADD}\n```", "go", GO_ADD, how="tagged"),
    Case(
        "qwen_coder_block_then_explanation",
        f"```rust\n{RUST_ADD}\n```\n\n### Explanation:\n1. **Function signature**: `pub fn add(a: i32, b: i32) -> i32`.\n"
        "2. **Body**: the last expression is returned.",
        "rust",
        RUST_ADD,
        how="tagged",
    ),
    Case(
        "deepseek_coder_prose_around",
        "Here is the equivalent Java code:\n\n```java\npublic class Solution {\n    public static int add(int a, int b) {\n"
        "        return a + b;\n    }\n}\n```\n\nIn this Java code, the `add` method is declared `static` so it can be "
        "called without an instance.",
        "java",
        "public class Solution {\n    public static int add(int a, int b) {\n        return a + b;\n    }\n}",
        how="tagged",
    ),
    Case(
        "reasoning_draft_inside_think",
        "<think>\nThe user wants Go. A first draft:\n```go\nfunc Add(a int, b int) int {\n\treturn a - b\n}\n```\n"
        "Wait, that subtracts. The docstring says add, so use +.\n</think>\n\n"
        f"```go\n{GO_ADD}\n```",
        "go",
        GO_ADD,
    ),
    Case(
        "reasoning_open_tag_sent_by_template",
        "Okay, I need to port this to Rust; i32 is the natural type.\n</think>\n\n"
        f"Here is the Rust version:\n\n```rust\n{RUST_ADD}\n```",
        "rust",
        RUST_ADD,
    ),
    Case(
        "reasoning_unfinished_without_answer",
        "<think>\nLet me think about integer overflow in Go first. In Go, int is 64-bit on amd64, so",
        "go",
        reason=Reason.EMPTY_REPLY,
    ),
    Case(
        "reasoning_then_unfenced_code",
        "<think>\nSimple: keep the signature, return the sum.\n</think>\n\n" + GO_ADD,
        "go",
        GO_ADD,
        how="unfenced",
    ),
    Case(
        "chatty_import_only_block_first",
        'First, we need the strings package:\n\n```go\nimport "strings"\n```\n\nThen the function:\n\n'
        f"```go\n{GO_REVERSE}\n```\n\nThis splits on whitespace and joins the words back in reverse order.",
        "go",
        'import "strings"\n\n' + GO_REVERSE,
        function="reverse_words",
        source=PY_REVERSE,
        how="defines_function+header",
    ),
    Case(
        "chatty_python_import_block_first",
        "You'll need `math`:\n```python\nimport math\n```\nAnd the function:\n```python\n"
        "def hypot(a: float, b: float) -> float:\n    return math.sqrt(a * a + b * b)\n```",
        "python",
        "import math\n\ndef hypot(a: float, b: float) -> float:\n    return math.sqrt(a * a + b * b)",
        function="hypot",
        source="function hypot(a, b) { return Math.sqrt(a * a + b * b); }",
    ),
    Case(
        "c_prototype_then_implementation",
        "Declaration:\n```c\nint add(int a, int b);\n```\n\nDefinition:\n```c\nint add(int a, int b) {\n    return a + b;\n}\n```",
        "c",
        "int add(int a, int b) {\n    return a + b;\n}",
        how="defines_function",
    ),
    Case(
        "c_prototype_the_code_needs",
        f"```c\n#include <string.h>\n\nstatic int is_vowel(char c);\n```\n\n```c\n{C_COUNT}\n```",
        "c",
        "#include <string.h>\n\nstatic int is_vowel(char c);\n\n" + C_COUNT,
        function="count_vowels",
        source='def count_vowels(s: str) -> int:\n    return sum(c in "aeiou" for c in s)\n',
    ),
    Case(
        "cpp_includes_kept_unneeded_prototype_dropped",
        "```cpp\n#include <vector>\n#include <numeric>\nlong long sum_list(const std::vector<long long>& xs);\n```\n"
        "```cpp\nlong long sum_list(const std::vector<long long>& xs) {\n"
        "    return std::accumulate(xs.begin(), xs.end(), 0LL);\n}\n```",
        "cpp",
        "#include <vector>\n#include <numeric>\n\nlong long sum_list(const std::vector<long long>& xs) {\n"
        "    return std::accumulate(xs.begin(), xs.end(), 0LL);\n}",
        function="sum_list",
        source="def sum_list(xs: list[int]) -> int:\n    return sum(xs)\n",
    ),
    Case(
        "fence_indented_under_list_item",
        "Steps:\n\n1. Define the method:\n\n   ```ruby\n   def add(a, b)\n     a + b\n   end\n   ```\n\n2. Call it as `add(1, 2)`.",
        "ruby",
        "def add(a, b)\n  a + b\nend",
    ),
    Case(
        "closing_fence_glued_to_last_line",
        f"```javascript\n{JS_ADD}```",
        "javascript",
        JS_ADD,
        how="tagged",
    ),
    Case(
        "glued_fence_then_usage_block",
        f"```go\n{GO_ADD}```\n\nUsage:\n```go\nfmt.Println(Add(1, 2))\n```",
        "go",
        GO_ADD,
        how="defines_function",
    ),
    Case(
        "source_requoted_then_typescript_tag",
        f"The original Python:\n```python\n{PY_ADD}```\n\nIn JavaScript:\n```typescript\n"
        "function add(a: number, b: number): number {\n  return a + b;\n}\n```",
        "javascript",
        "function add(a: number, b: number): number {\n  return a + b;\n}",
    ),
    Case(
        "source_requoted_modified_then_dialect",
        "Original:\n```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```\nTranslation:\n```ts\n"
        "function add(a: number, b: number): number {\n  return a + b;\n}\n```",
        "javascript",
        "function add(a: number, b: number): number {\n  return a + b;\n}",
        how="defines_function",
    ),
    Case(
        "chatty_usage_block_before_definition",
        "You can call it like this:\n```go\nfmt.Println(Add(2, 3)) // 5\n```\nwhere `Add` is defined as:\n"
        f"```go\n{GO_ADD}\n```",
        "go",
        GO_ADD,
        how="defines_function",
    ),
    Case(
        "chatty_helper_in_its_own_block",
        "A helper first:\n```go\nfunc splitWords(s string) []string {\n\treturn strings.Fields(s)\n}\n```\n"
        "Now the function:\n```go\nfunc ReverseWords(s string) string {\n\twords := splitWords(s)\n"
        '\treturn strings.Join(words, " ")\n}\n```',
        "go",
        "func splitWords(s string) []string {\n\treturn strings.Fields(s)\n}\n\nfunc ReverseWords(s string) string {\n"
        '\twords := splitWords(s)\n\treturn strings.Join(words, " ")\n}',
        function="reverse_words",
        source=PY_REVERSE,
        how="defines_function+helper",
    ),
    Case(
        "cpp_function_then_test_main",
        "```cpp\n#include <vector>\nint total(const std::vector<int>& v) {\n    int s = 0;\n    for (int x : v) s += x;\n"
        "    return s;\n}\n```\n\nTest:\n```cpp\nint main() {\n    std::cout << total({1, 2, 3});\n}\n```",
        "cpp",
        "#include <vector>\nint total(const std::vector<int>& v) {\n    int s = 0;\n    for (int x : v) s += x;\n"
        "    return s;\n}",
        function="total",
        source="def total(v: list[int]) -> int:\n    return sum(v)\n",
    ),
    Case(
        "unfenced_with_trailing_prose",
        "def add(a: int, b: int) -> int:\n    return a + b\n\nThis function adds two integers and returns their sum.",
        "python",
        "def add(a: int, b: int) -> int:\n    return a + b",
        source="function add(a, b) { return a + b; }",
        how="unfenced",
    ),
    Case(
        "unfenced_with_leading_prose",
        "To translate this function into Ruby, we keep the same logic:\ndef add(a, b)\n  a + b\nend",
        "ruby",
        "def add(a, b)\n  a + b\nend",
        how="unfenced",
    ),
    Case(
        "crlf_and_capitalised_tag",
        "```C++\r\nint add(int a, int b) {\r\n    return a + b;\r\n}\r\n```\r\n",
        "cpp",
        "int add(int a, int b) {\n    return a + b;\n}",
        how="tagged",
    ),
    Case(
        "tilde_fence",
        f"~~~rust\n{RUST_ADD}\n~~~\n",
        "rust",
        RUST_ADD,
        how="tagged",
    ),
    Case(
        "qwen_coder_php_with_open_tag",
        "```php\n<?php\nfunction add($a, $b) {\n    return $a + $b;\n}\n```",
        "php",
        "<?php\nfunction add($a, $b) {\n    return $a + $b;\n}",
    ),
    Case(
        "smollm2_block_then_rambling",
        '```go\npackage main\n\nimport "fmt"\n\nfunc add(a int, b int) int {\n    return a + b\n}\n```\n\n'
        "The function is defined with a `go` function, which is a macro that allows you to define",
        "go",
        'package main\n\nimport "fmt"\n\nfunc add(a int, b int) int {\n    return a + b\n}',
    ),
    Case(
        "reasoning_answer_under_list_item",
        "<think>\nUse Number for both.\n</think>\n\n1. The translation:\n\n    ```js\n    function add(a, b) {\n"
        "      return a + b;\n    }\n    ```",
        "javascript",
        JS_ADD,
    ),
    Case(
        "truncated_by_the_token_limit",
        f"```rust\n{RUST_ADD[:20]}",
        "rust",
        reason=Reason.TRUNCATED,
        truncated=True,
    ),
    Case(
        "unclosed_fence_without_the_flag",
        "Here:\n```rust\npub fn add(a: i32, b: i32) -> i32 {\n    a +",
        "rust",
        reason=Reason.TRUNCATED,
    ),
    Case("only_the_source_quoted_back", f"```python\n{PY_ADD}```", "go", reason=Reason.EMPTY_REPLY),
    Case("empty_block", "```go\n\n```", "go", reason=Reason.EMPTY_REPLY),
    Case("whitespace_reply", " \n\t\n", "go", reason=Reason.EMPTY_REPLY),
]


def test_the_table_is_large_enough():
    assert len(CASES) >= 20 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_reply(case: Case):
    got = extract_code(
        case.reply,
        case.target,
        truncated=case.truncated,
        function_name=case.function,
        source_code=case.source,
    )
    if case.reason is not None:
        assert got.code is None and got.reason == case.reason, got
        assert got.detail
        return
    assert got.reason is None, got
    assert got.code == case.code + "\n"
    if case.how is not None:
        assert got.how == case.how
