"""Functions of one source file, found with tree-sitter, and CodeSearchNet's function filters.

``extract_functions(language, text)`` lists every top-level function and method with its
code, documentation (first paragraph) and qualified name; ``filter_reason(language, fn)``
says which CodeSearchNet rule excludes it (Husain et al. 2019, "CodeSearchNet Challenge",
arXiv:1909.09436, section 2.2, and github.com/github/CodeSearchNet ``function_parser``):

* the function has documentation: a Python docstring, a ``/** ... */`` comment right before
  it (Java, JavaScript, PHP) or the ``//`` / ``#`` comment lines right before it (Go, Ruby);
* the documentation is truncated to its first paragraph and has at least 3 tokens;
* the implementation has at least 3 lines;
* the function name does not contain ``test``;
* constructors and standard extension methods (``__init__``, ``__str__``, ``toString``,
  ``initialize`` ...) are left out.

Which files are read, and the repository around them, is ``pipeline.sources.repo``'s job.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from typing import Any

from pipeline.sources.core import first_paragraph
from pipeline.sources.names import definition_name, parser_for

#: Constructors and standard extension methods (CodeSearchNet leaves these out).
_EXCLUDED_NAMES: dict[str, frozenset[str]] = {
    "java": frozenset({"toString", "hashCode", "equals", "compareTo", "clone", "finalize"}),
    "javascript": frozenset({"constructor", "toString", "valueOf", "toJSON"}),
    "go": frozenset({"String", "Error", "GoString"}),
    "php": frozenset(),
    "ruby": frozenset({"initialize", "to_s", "inspect", "hash", "eql?", "==", "<=>", "to_str"}),
    "python": frozenset(),
}

_DEFINITIONS: dict[str, frozenset[str]] = {
    "python": frozenset({"function_definition"}),
    "java": frozenset({"method_declaration", "constructor_declaration"}),
    "javascript": frozenset({"function_declaration", "generator_function_declaration", "method_definition",
                             "variable_declarator"}),
    "go": frozenset({"function_declaration", "method_declaration"}),
    "php": frozenset({"function_definition", "method_declaration"}),
    "ruby": frozenset({"method", "singleton_method"}),
}
_CLASS_TYPES = frozenset({
    "class_definition", "class_declaration", "interface_declaration", "enum_declaration", "class", "module",
    "trait_declaration", "record_declaration",
})
_FUNCTION_TYPES = frozenset().union(*_DEFINITIONS.values()) - {"variable_declarator"} | {
    "arrow_function", "function_expression", "function", "lambda", "method_definition"}
_COMMENT_TYPES = frozenset({"comment", "block_comment", "line_comment"})


def extract_functions(language: str, text: str) -> list[dict[str, Any]]:
    """Every function/method of ``text`` with its code, documentation and qualified name.

    Returns dicts with ``func_name`` (``Class.method`` for methods), ``name``, ``code``,
    ``docstring`` (first paragraph, may be empty), ``code_lines`` (lines without the
    documentation), ``line`` (1-based start) and ``constructor``. No filtering here.
    """
    source = text.encode("utf-8", "surrogatepass")
    root = parser_for(language).parse(source).root_node
    comments = _comments(root)
    ends = [c.end_byte for c in comments]  # comments never nest: sorted like their starts
    out = []
    for node in _walk(root):
        if node.type not in _DEFINITIONS[language]:
            continue
        fn = _function(language, node, source, comments, ends)
        if fn is not None:
            out.append(fn)
    return out


# --- per-function details -------------------------------------------------------------------


def _function(
    language: str, node: Any, source: bytes, comments: list[Any], comment_ends: list[int]
) -> dict[str, Any] | None:
    anchor = node
    if node.type == "variable_declarator":  # const f = (x) => {...} / function () {...}
        value = node.child_by_field_name("value")
        if value is None or value.type not in ("arrow_function", "function_expression", "function"):
            return None
        anchor = node.parent  # the lexical/variable declaration
        if anchor is not None and anchor.parent is not None and anchor.parent.type == "export_statement":
            anchor = anchor.parent
    elif node.parent is not None and node.parent.type in ("export_statement", "decorated_definition"):
        anchor = node.parent
    if _inside_function(node):
        return None  # nested helpers are not part of a module's interface
    name = definition_name(node)
    if not name:
        return None
    if language == "go" and node.type == "method_declaration":
        owner = _go_receiver(node)
    else:
        owner = _enclosing_class(node)
    # `const f = (x) => {...};` is kept whole (without `export`), so the code is a definition.
    code_text = _node_text(node.parent if node.type == "variable_declarator" else node, source)
    if language == "python":
        doc_text, doc_lines = _python_docstring(node)
    else:
        doc_text, doc_lines = _preceding_comment(language, anchor, source, comments, comment_ends)
    code_lines = sum(1 for line in code_text.splitlines() if line.strip()) - doc_lines
    constructor = node.type == "constructor_declaration" or (
        name in ("__init__", "__construct", "initialize", "constructor")
    )
    return {
        "name": name,
        "func_name": f"{owner}.{name}" if owner else name,
        "code": code_text,
        "docstring": first_paragraph(doc_text) if doc_text else "",
        "code_lines": code_lines,
        "line": node.start_point[0] + 1,
        "constructor": constructor,
    }


def filter_reason(language: str, fn: dict[str, Any]) -> str | None:
    """The CodeSearchNet rule that excludes ``fn``, or None if it is kept."""
    name: str = fn["name"]
    if not fn["docstring"]:
        return "no_docstring"
    if len(fn["docstring"].split()) < 3:
        return "short_docstring"
    if fn["code_lines"] < 3:
        return "short_code"
    if "test" in name.lower():
        return "test_function"
    if fn["constructor"]:
        return "constructor"
    dunder = name.startswith("__") and (language == "php" or name.endswith("__"))
    if dunder or name in _EXCLUDED_NAMES.get(language, ()):
        return "extension_method"
    return None


def _python_docstring(node: Any) -> tuple[str | None, int]:
    import ast

    body = node.child_by_field_name("body")
    if body is None or not body.named_children:
        return None, 0
    first = body.named_children[0]
    if first.type == "expression_statement" and first.named_children:  # older grammars wrap it
        first = first.named_children[0]
    if first.type != "string":
        return None, 0
    raw = first.text.decode("utf-8", "replace")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw.strip("\"'rbuRBU")
    if not isinstance(value, str):
        return None, 0
    return value, sum(1 for line in raw.splitlines() if line.strip())


def _preceding_comment(
    language: str, anchor: Any, source: bytes, comments: list[Any], comment_ends: list[int]
) -> tuple[str | None, int]:
    """The documentation comment right before ``anchor`` (nothing but whitespace between)."""
    start = anchor.start_byte
    block: list[Any] = []
    last = bisect.bisect_right(comment_ends, start)
    for comment in reversed(comments[:last]):
        gap = source[comment.end_byte:start]
        if gap.strip() or gap.count(b"\n") > 1:
            break
        block.append(comment)
        start = comment.start_byte
        if language in ("java", "javascript", "php"):
            break
    if not block:
        return None, 0
    texts = [c.text.decode("utf-8", "replace") for c in reversed(block)]
    if language in ("java", "javascript", "php"):
        text = texts[-1]
        if not text.startswith("/**"):
            return None, 0
        lines = text[3:-2].splitlines() if text.endswith("*/") else text[3:].splitlines()
        return "\n".join(re.sub(r"^\s*\*?\s?", "", line) for line in lines), 0
    marker = "//" if language == "go" else "#"
    lines = [t[len(marker):] if t.startswith(marker) else t for t in texts]
    return "\n".join(line[1:] if line.startswith(" ") else line for line in lines), 0


def _comments(root: Any) -> list[Any]:
    return [n for n in _walk(root) if n.type in _COMMENT_TYPES]


def _walk(root: Any) -> Iterator[Any]:
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def _inside_function(node: Any) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type in _FUNCTION_TYPES and parent.type != "variable_declarator":
            return True
        if parent.type in _CLASS_TYPES:
            return False
        parent = parent.parent
    return False


def _enclosing_class(node: Any) -> str | None:
    parent = node.parent
    while parent is not None:
        if parent.type in _CLASS_TYPES:
            name = parent.child_by_field_name("name")
            return name.text.decode("utf-8", "replace") if name is not None else None
        parent = parent.parent
    return None


def _go_receiver(node: Any) -> str | None:
    receiver = node.child_by_field_name("receiver")
    if receiver is None:
        return None
    for child in _walk(receiver):
        if child.type == "type_identifier":
            return child.text.decode("utf-8", "replace")
    return None


def _node_text(node: Any, source: bytes) -> str:
    """The node's source, re-indented as if it started at column 0."""
    import textwrap

    line_start = source.rfind(b"\n", 0, node.start_byte) + 1
    before = source[line_start:node.start_byte]
    indent = len(before) - len(before.lstrip())  # "export function f" keeps only the spaces
    text = source[node.start_byte:node.end_byte].decode("utf-8", "replace")
    return textwrap.dedent(" " * indent + text) + ("" if text.endswith("\n") else "\n")
