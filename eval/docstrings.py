"""Code without its documentation: docstrings and the comments that restate them, removed.

CodeSearchNet (Husain et al. 2019, arXiv:1909.09436) pairs a function's documentation with
the function's code *without* that documentation: the query must not be found verbatim in its
answer. ``strip_documentation(code, language, docstring)`` does that for one function (a source
function or any translation of it) with tree-sitter, per language, and leaves every other byte
as it was:

- Python docstrings: the first string statement of a module, class or function body;
- documentation comments: a run of comments with nothing but whitespace (at most one line
  break) between them and a definition that follows (``/** */`` before a Java method, ``//``
  lines before a Go ``func``, ``#`` lines before a Ruby ``def``, ``///`` before a Rust ``fn``),
  outside any function body, which is where CodeSearchNet's parsers take the docstring from;
- comments anywhere that restate the docstring: a run of adjacent comments (or one comment)
  containing at least half of the docstring's words (lower-cased, stop words left out), as a
  translator that carries the docstring over as a comment writes it.

A removed comment or docstring that is alone on its lines takes those lines with it; one that
follows code on its line takes the spaces before it. Grammars come from
``tree-sitter-language-pack`` (the same wheel the pipeline parses with). An unknown language
or a text tree-sitter cannot parse at all is returned unchanged, with no error: callers decide
whether that matters (the leak check in ``eval.tasks`` does).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

from languages import REGISTRY

#: Our language names -> tree-sitter-language-pack grammar names: the language registry's
#: (``languages/``), plus languages of code-retrieval benchmarks that the pipeline does not
#: translate (C#) and spellings such benchmarks use.
GRAMMARS: dict[str, str] = {
    **{name: spec.tree_sitter_grammar for name, spec in REGISTRY.items()},
    "c++": "cpp",
    "csharp": "csharp",
    "c#": "csharp",
}

_COMMENT_KINDS = ("comment", "line_comment", "block_comment")

#: Nodes a documentation comment sits right before.
_DEFINITIONS: dict[str, tuple[str, ...]] = {
    "python": ("function_definition", "class_definition", "decorated_definition"),
    "java": (
        "method_declaration",
        "constructor_declaration",
        "class_declaration",
        "interface_declaration",
        "enum_declaration",
        "record_declaration",
    ),
    "javascript": (
        "function_declaration",
        "generator_function_declaration",
        "method_definition",
        "class_declaration",
        "lexical_declaration",
        "variable_declaration",
        "export_statement",
    ),
    "typescript": (
        "function_declaration",
        "generator_function_declaration",
        "method_definition",
        "class_declaration",
        "lexical_declaration",
        "variable_declaration",
        "export_statement",
        "interface_declaration",
    ),
    "go": ("function_declaration", "method_declaration", "type_declaration"),
    "php": ("function_definition", "method_declaration", "class_declaration"),
    "ruby": ("method", "singleton_method", "class", "module"),
    "c": ("function_definition", "declaration", "struct_specifier"),
    "cpp": (
        "function_definition",
        "declaration",
        "template_declaration",
        "class_specifier",
        "struct_specifier",
    ),
    "rust": (
        "function_item",
        "impl_item",
        "struct_item",
        "trait_item",
        "mod_item",
        "attribute_item",
    ),
    "csharp": ("method_declaration", "constructor_declaration", "class_declaration"),
}

#: Nodes whose body is "inside a function" (comments there are documentation only if they
#: restate the docstring).
_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "python": ("function_definition", "lambda"),
    "java": ("method_declaration", "constructor_declaration", "lambda_expression"),
    "javascript": (
        "function_declaration",
        "function_expression",
        "arrow_function",
        "method_definition",
        "generator_function_declaration",
    ),
    "typescript": (
        "function_declaration",
        "function_expression",
        "arrow_function",
        "method_definition",
        "generator_function_declaration",
    ),
    "go": ("function_declaration", "method_declaration", "func_literal"),
    "php": ("function_definition", "method_declaration", "anonymous_function"),
    "ruby": ("method", "singleton_method", "block", "do_block", "lambda"),
    "c": ("function_definition",),
    "cpp": ("function_definition", "lambda_expression"),
    "rust": ("function_item", "closure_expression"),
    "csharp": ("method_declaration", "constructor_declaration", "lambda_expression"),
}

_PYTHON_DOCSTRINGS = (
    "(function_definition body: (block . (string) @doc))",
    "(function_definition body: (block . (expression_statement (string) @doc)))",
    "(class_definition body: (block . (string) @doc))",
    "(class_definition body: (block . (expression_statement (string) @doc)))",
    "(module . (string) @doc)",
    "(module . (expression_statement (string) @doc))",
)

#: Words too common to say whether a comment restates a docstring.
STOP_WORDS = frozenset(
    "a an and are as at be by for from if in into is it its of on or that the this to was "
    "with will returns return given".split()
)
_WORD = re.compile(r"[a-z0-9]+")

#: A comment run restates the docstring when it holds at least this share of its words.
RESTATE_COVERAGE = 0.5


def _definitions(grammar: str) -> tuple[str, ...]:
    """The nodes documentation sits before: this module's table, else (a language added to the
    registry since) the registry's definition nodes for that grammar."""
    if grammar in _DEFINITIONS:
        return _DEFINITIONS[grammar]
    return next(
        (
            spec.mining.definitions
            for spec in REGISTRY.values()
            if spec.tree_sitter_grammar == grammar
        ),
        (),
    )


def grammar_name(language: str) -> str | None:
    """The tree-sitter grammar of ``language`` (``"cpp"`` -> ``"cpp"``), None when unknown."""
    return GRAMMARS.get(language.strip().lower())


def words(text: str) -> set[str]:
    """Lower-cased word set of ``text`` without stop words (snake/camel case split)."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text).replace("_", " ")
    return {w for w in _WORD.findall(spaced.lower()) if w not in STOP_WORDS}


def restates(comment: str, docstring_words: set[str]) -> bool:
    """True when ``comment`` contains at least half of the docstring's words."""
    if not docstring_words:
        return False
    return len(words(comment) & docstring_words) >= RESTATE_COVERAGE * len(docstring_words)


@functools.cache
def _parser(grammar: str) -> Any:
    from tree_sitter_language_pack import get_parser

    return get_parser(grammar)


@functools.cache
def _queries(grammar: str) -> tuple[Any, Any, Any]:
    """(comments, definitions, docstrings) queries; patterns the grammar lacks are left out."""
    from tree_sitter import Query
    from tree_sitter_language_pack import get_language

    lang = get_language(grammar)

    def build(patterns: Iterable[str]) -> Any:
        valid = []
        for pattern in patterns:
            try:
                Query(lang, pattern)
            except Exception:  # noqa: BLE001 (a pattern this grammar version cannot express)
                continue
            valid.append(pattern)
        return Query(lang, " ".join(valid)) if valid else None

    kinds = [k for k in _COMMENT_KINDS if lang.id_for_node_kind(k, True) is not None]
    definitions = [t for t in _definitions(grammar) if lang.id_for_node_kind(t, True) is not None]
    return (
        build(f"({k}) @comment" for k in kinds),
        build(f"({t}) @definition" for t in definitions),
        build(_PYTHON_DOCSTRINGS) if grammar == "python" else None,
    )


def _captures(query: Any, root: Any) -> list[Any]:
    from tree_sitter import QueryCursor

    if query is None:
        return []
    nodes = [n for group in QueryCursor(query).captures(root).values() for n in group]
    return sorted(nodes, key=lambda n: (n.start_byte, -n.end_byte))


def _inside(node: Any, types: tuple[str, ...]) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type in types:
            return True
        parent = parent.parent
    return False


def _own_line(node: Any, source: bytes) -> bool:
    """True when nothing but blanks precedes the comment on its line (not a trailing comment)."""
    line_start = source.rfind(b"\n", 0, node.start_byte) + 1
    return not source[line_start : node.start_byte].strip()


def _runs(comments: list[Any], source: bytes) -> list[list[Any]]:
    """Comments on lines of their own, adjacent (at most one line break apart), as runs.

    A comment after code on its line is a run of its own: ``x = 1  # note`` followed by a
    documentation comment on the next line does not join it.
    """
    runs: list[list[Any]] = []
    for node in comments:
        own = _own_line(node, source)
        if runs and own and _own_line(runs[-1][-1], source):
            gap = source[runs[-1][-1].end_byte : node.start_byte]
            if not gap.strip() and gap.count(b"\n") <= 1:
                runs[-1].append(node)
                continue
        runs.append([node])
    return runs


def documentation_spans(
    code: str, language: str, docstring: str | None = None
) -> list[tuple[int, int]]:
    """Byte spans (start, end) of the documentation in ``code`` (see the module docstring)."""
    grammar = grammar_name(language)
    if grammar is None:
        return []
    source = code.encode("utf-8", "surrogatepass")
    prefix = b""
    if grammar == "php" and not source.lstrip().startswith(b"<?"):
        prefix = b"<?php\n"  # the PHP grammar reads code only inside a <?php tag
    root = _parser(grammar).parse(prefix + source).root_node
    comment_q, definition_q, docstring_q = _queries(grammar)
    shift = len(prefix)
    comments = [
        c
        for c in _captures(comment_q, root)
        if c.parent is None or c.parent.type not in _COMMENT_KINDS
    ]
    definitions = _captures(definition_q, root)
    starts = {d.start_byte for d in definitions}
    functions = _FUNCTIONS.get(grammar) or _definitions(grammar)
    doc_words = words(docstring or "")
    spans: list[tuple[int, int]] = []
    for node in _captures(docstring_q, root):
        spans.append((node.start_byte, node.end_byte))
    full = prefix + source
    for run in _runs(comments, full):
        text = " ".join(full[c.start_byte : c.end_byte].decode("utf-8", "replace") for c in run)
        after = run[-1].end_byte
        rest = full[after:]
        next_start = after + (len(rest) - len(rest.lstrip()))
        gap = full[after:next_start]
        documents_next = (
            next_start in starts
            and _own_line(run[0], full)
            and gap.count(b"\n") <= 1
            and not _inside(run[0], functions)
        )
        if documents_next or restates(text, doc_words):
            spans.extend((c.start_byte, c.end_byte) for c in run)
    return sorted((s - shift, e - shift) for s, e in spans if s >= shift)


def _widen(source: bytes, start: int, end: int) -> tuple[int, int]:
    """Whole lines when the span is alone on them; else the span and the blanks before it."""
    line_start = source.rfind(b"\n", 0, start) + 1
    line_end = source.find(b"\n", end)
    line_end = len(source) if line_end < 0 else line_end
    before, after = source[line_start:start], source[end:line_end]
    if not before.strip() and not after.strip():
        return line_start, min(len(source), line_end + 1)
    if not after.strip():
        return start - (len(before) - len(before.rstrip())), end
    return start, end


def strip_documentation(code: str, language: str, docstring: str | None = None) -> str:
    """``code`` without its docstring and documentation comments, every other byte kept."""
    spans = documentation_spans(code, language, docstring)
    if not spans:
        return code
    source = code.encode("utf-8", "surrogatepass")
    widened = sorted(_widen(source, s, e) for s, e in spans)
    out, cursor = [], 0
    for start, end in widened:
        if start < cursor:
            start = cursor
        if end <= start:
            continue
        out.append(source[cursor:start])
        cursor = end
    out.append(source[cursor:])
    return b"".join(out).decode("utf-8", "surrogatepass")
