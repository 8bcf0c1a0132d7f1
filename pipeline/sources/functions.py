"""Functions of one source file, found with tree-sitter, and CodeSearchNet's function filters.

``extract_functions(language, text)`` lists every top-level function and method with its
code, documentation (first paragraph) and qualified name; ``filter_reason(language, fn)``
says which CodeSearchNet rule excludes it (Husain et al. 2019, "CodeSearchNet Challenge",
arXiv:1909.09436, section 2.2, and github.com/github/CodeSearchNet ``function_parser``):

* the function has documentation: a Python docstring, a ``/** ... */`` comment right before
  it (Java, JavaScript, TypeScript, PHP) or the ``//`` / ``#`` comment lines right before it
  (Go, Ruby);
  C and C++: the comment right before the definition, Doxygen (``/** */``, ``/*! */``,
  ``///``, ``//!``) or plain (``/* */``, consecutive ``//`` lines); Rust: the outer doc
  comments (``///``, ``/** */``) before the item, attributes in between skipped;
* the documentation is truncated to its first paragraph (and before Doxygen ``\\param`` /
  ``@return`` tags and Rust ``# Examples`` headings) and has at least 3 tokens;
* the implementation has at least 3 lines;
* the function name does not contain ``test``, and it is not marked as a test (Rust
  ``#[test]``/``#[bench]``, anything in a ``#[cfg(test)]`` module);
* constructors (C++ constructors and destructors, Rust ``new``) and standard extension
  methods (``__init__``, ``__str__``, ``toString``, ``initialize``, C++ ``operator...``, Rust
  methods of ``impl Display``/``Clone``/``PartialEq``/``Iterator``/... ) are left out;
* an override without its own documentation (Java ``@Override``, Python ``@override``, PHP
  ``#[\\Override]``, TypeScript ``override``, C++ ``override``, Rust methods of ``impl Trait
  for Type``) is counted as
  ``override_without_docs`` rather than ``no_docstring``; a documented override is kept.

Which files are read, and the repository around them, is ``pipeline.sources.repo``'s job. The
per-language rules (definition node types, where the documentation is, excluded names,
override markers) are the language registry's (``languages/<name>.py``, ``Mining``); this
module holds the walkers that apply them.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import re
from collections.abc import Iterator
from typing import Any

from languages import REGISTRY
from pipeline.sources.core import first_paragraph
from pipeline.sources.names import definition_name, parser_for

#: Mining rules of each language (``languages/<name>.py``, ``Mining``).
_MINING = {name: spec.mining for name, spec in REGISTRY.items()}

#: Constructors and standard extension methods (CodeSearchNet leaves these out).
_EXCLUDED_NAMES: dict[str, frozenset[str]] = {
    name: frozenset(m.excluded_names) for name, m in _MINING.items() if m.walker == "generic"
}

_DEFINITIONS: dict[str, frozenset[str]] = {
    name: frozenset(m.definitions) for name, m in _MINING.items() if m.walker == "generic"
}
_CLASS_TYPES = frozenset(
    {
        "class_definition",
        "class_declaration",
        "interface_declaration",
        "enum_declaration",
        "class",
        "module",
        "trait_declaration",
        "record_declaration",
        "abstract_class_declaration",
        "internal_module",
    }
)
_FUNCTION_TYPES = frozenset().union(*_DEFINITIONS.values()) - {"variable_declarator"} | {
    "arrow_function",
    "function_expression",
    "function",
    "lambda",
    "method_definition",
}
_COMMENT_TYPES = frozenset({"comment", "block_comment", "line_comment"})

#: Languages read by the C-family walker below (C, C++, Rust).
C_FAMILY = frozenset(name for name, m in _MINING.items() if m.walker in ("c", "rust"))

#: Standard-library traits whose methods are formatting, comparison, conversion, operator or
#: iteration plumbing: Rust's counterpart of CodeSearchNet's "standard extension methods"
#: (``__str__``, ``toString``, ``equals`` ...). Names as written after the last ``::``.
RUST_STANDARD_TRAITS = frozenset(
    {
        # std::fmt
        "Display",
        "Debug",
        "Binary",
        "Octal",
        "LowerHex",
        "UpperHex",
        "LowerExp",
        "UpperExp",
        "Pointer",
        # comparison, hashing, cloning, defaults, destruction
        "Clone",
        "PartialEq",
        "Eq",
        "PartialOrd",
        "Ord",
        "Hash",
        "Default",
        "Drop",
        # conversion
        "From",
        "Into",
        "TryFrom",
        "TryInto",
        "FromStr",
        "AsRef",
        "AsMut",
        "Borrow",
        "BorrowMut",
        "ToOwned",
        "ToString",
        "Deref",
        "DerefMut",
        # iteration
        "Iterator",
        "IntoIterator",
        "DoubleEndedIterator",
        "ExactSizeIterator",
        "FusedIterator",
        "FromIterator",
        "Extend",
        "Sum",
        "Product",
        # std::ops
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Rem",
        "Neg",
        "Not",
        "BitAnd",
        "BitOr",
        "BitXor",
        "Shl",
        "Shr",
        "AddAssign",
        "SubAssign",
        "MulAssign",
        "DivAssign",
        "RemAssign",
        "BitAndAssign",
        "BitOrAssign",
        "BitXorAssign",
        "ShlAssign",
        "ShrAssign",
        "Index",
        "IndexMut",
        "Fn",
        "FnMut",
        "FnOnce",
        # std::error
        "Error",
    }
)


def extract_functions(language: str, text: str) -> list[dict[str, Any]]:
    """Every function/method of ``text`` with its code, documentation and qualified name.

    Returns dicts with ``func_name`` (``Class.method`` for methods), ``name``, ``code``,
    ``docstring`` (first paragraph, may be empty), ``code_lines`` (lines without the
    documentation), ``line`` (1-based start), ``constructor``, ``override`` (overrides a
    parent's or trait's method), ``test`` (marked as a test by the language, not by its name)
    and ``extension`` (operator or standard-trait method). No filtering here.
    """
    if language in C_FAMILY:
        return _extract_c_family(language, text)
    source = text.encode("utf-8", "surrogatepass")
    root = parser_for(language).parse(source).root_node
    definitions, comments = _definitions_and_comments(language, root)
    ends = [c.end_byte for c in comments]  # comments never nest: sorted like their starts
    out = []
    for node in definitions:
        fn = _function(language, node, source, comments, ends)
        if fn is not None:
            out.append(fn)
    return out


def filter_reason(language: str, fn: dict[str, Any]) -> str | None:
    """The CodeSearchNet rule that excludes ``fn``, or None if it is kept.

    A function the language marks as a test (Rust ``#[test]``) is ``test_function`` whatever
    its documentation; an undocumented override is ``override_without_docs``, so the counts
    say why it has no documentation. The other rules apply in CodeSearchNet's order.
    """
    name: str = fn["name"]
    if fn.get("test"):
        return "test_function"
    if not fn["docstring"]:
        return "override_without_docs" if fn.get("override") else "no_docstring"
    if len(fn["docstring"].split()) < 3:
        return "short_docstring"
    if fn["code_lines"] < 3:
        return "short_code"
    if "test" in name.lower():
        return "test_function"
    if fn["constructor"]:
        return "constructor"
    dunder = name.startswith("__") and (_MINING[language].magic_prefix or name.endswith("__"))
    if fn.get("extension") or dunder or name in _EXCLUDED_NAMES.get(language, ()):
        return "extension_method"
    return None


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
        if (
            anchor is not None
            and anchor.parent is not None
            and anchor.parent.type == "export_statement"
        ):
            anchor = anchor.parent
    elif node.parent is not None and node.parent.type in (
        "export_statement",
        "decorated_definition",
    ):
        anchor = node.parent
    if _inside_function(node):
        return None  # nested helpers are not part of a module's interface
    name = definition_name(node)
    if not name:
        return None
    mining = _MINING[language]
    if mining.owner == "receiver" and node.type == "method_declaration":
        owner = _go_receiver(node)
    else:
        owner = _enclosing_class(node)
    # `const f = (x) => {...};` is kept whole (without `export`), so the code is a definition.
    code_text = _node_text(node.parent if node.type == "variable_declarator" else node, source)
    if mining.doc == "docstring":
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
        "override": _marked_override(language, node, anchor),
        "test": False,
        "extension": False,
    }


_JAVA_OVERRIDE = re.compile(r"^@\s*(?:java\.lang\.)?Override\b")
_PYTHON_OVERRIDE = re.compile(r"^@\s*(?:typing(?:_extensions)?\.)?override\s*$")
_PHP_OVERRIDE = re.compile(r"#\[\s*\\?Override\b")


def _marked_override(language: str, node: Any, anchor: Any) -> bool:
    """Java ``@Override``, Python ``@override`` (PEP 698), PHP 8.3 ``#[\\Override]``,
    TypeScript's ``override`` modifier (the language's ``Mining.override``)."""
    marker = _MINING[language].override
    if marker == "annotation":
        modifiers = next((c for c in node.children if c.type == "modifiers"), None)
        return modifiers is not None and any(
            c.type in ("marker_annotation", "annotation") and _JAVA_OVERRIDE.match(_text(c))
            for c in modifiers.children
        )
    if marker == "decorator" and anchor.type == "decorated_definition":
        return any(
            c.type == "decorator" and _PYTHON_OVERRIDE.match(_text(c)) for c in anchor.children
        )
    if marker == "attribute":
        return any(
            c.type == "attribute_list" and _PHP_OVERRIDE.search(_text(c)) for c in node.children
        )
    if marker == "modifier":
        return any(c.type == "override_modifier" for c in node.children)
    return False


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
    mining = _MINING[language]
    start = anchor.start_byte
    block: list[Any] = []
    last = bisect.bisect_right(comment_ends, start)
    for comment in reversed(comments[:last]):
        gap = source[comment.end_byte : start]
        if gap.strip() or gap.count(b"\n") > 1:
            break
        block.append(comment)
        start = comment.start_byte
        if mining.doc == "block":
            break
    if not block:
        return None, 0
    texts = [c.text.decode("utf-8", "replace") for c in reversed(block)]
    if mining.doc == "block":
        text = texts[-1]
        if not text.startswith("/**"):
            return None, 0
        lines = text[3:-2].splitlines() if text.endswith("*/") else text[3:].splitlines()
        return "\n".join(re.sub(r"^\s*\*?\s?", "", line) for line in lines), 0
    marker = mining.line_marker
    lines = [t[len(marker) :] if t.startswith(marker) else t for t in texts]
    return "\n".join(line[1:] if line.startswith(" ") else line for line in lines), 0


@functools.cache
def _query(language: str) -> Any:
    """One tree-sitter query for the definitions and the comments of ``language``."""
    from tree_sitter import Query
    from tree_sitter_language_pack import get_language

    grammar = get_language(REGISTRY[language].tree_sitter_grammar)
    patterns = [f"({t}) @definition" for t in sorted(_DEFINITIONS[language])]
    patterns += [f"({t}) @comment" for t in sorted(_COMMENT_TYPES) if _has_node_type(grammar, t)]
    return Query(grammar, " ".join(patterns))


def _has_node_type(grammar: Any, node_type: str) -> bool:
    return grammar.id_for_node_kind(node_type, True) is not None


def _definitions_and_comments(language: str, root: Any) -> tuple[list[Any], list[Any]]:
    """Definition nodes and comment nodes of a tree, each in source order.

    A query runs the tree walk in C; walking every node from Python cost more than parsing.
    """
    from tree_sitter import QueryCursor

    captures = QueryCursor(_query(language)).captures(root)
    in_order = lambda nodes: sorted(nodes, key=lambda n: (n.start_byte, -n.end_byte))  # noqa: E731
    return in_order(captures.get("definition", [])), in_order(captures.get("comment", []))


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
    before = source[line_start : node.start_byte]
    indent = len(before) - len(before.lstrip())  # "export function f" keeps only the spaces
    text = source[node.start_byte : node.end_byte].decode("utf-8", "replace")
    return textwrap.dedent(" " * indent + text) + ("" if text.endswith("\n") else "\n")


def _text(node: Any) -> str:
    return node.text.decode("utf-8", "replace")


# --- C, C++ and Rust ------------------------------------------------------------------------
#
# These grammars are walked top-down through the nodes that can hold definitions (files,
# namespaces, class bodies, impl/trait blocks, modules, preprocessor branches), never into a
# function body: nested functions are left out as for the other languages, and the bodies,
# which hold most of the nodes, are never visited. Doc comments are the definition's preceding
# siblings, so no file-wide comment list is needed.

#: Nodes whose children may define functions (ERROR too: an unbalanced `extern "C" {` between
#: `#ifdef __cplusplus` lines leaves the rest of many C headers inside one ERROR node).
_C_CONTAINERS = frozenset(
    {
        "translation_unit",
        "namespace_definition",
        "declaration_list",
        "field_declaration_list",
        "template_declaration",
        "linkage_specification",
        "preproc_if",
        "preproc_ifdef",
        "preproc_else",
        "preproc_elif",
        "preproc_elifdef",
        "class_specifier",
        "struct_specifier",
        "union_specifier",
        "declaration",
        "field_declaration",
        "type_definition",
        "export_declaration",
        "friend_declaration",
        "ERROR",
    }
)
_RUST_CONTAINERS = frozenset(
    {"source_file", "mod_item", "declaration_list", "impl_item", "trait_item", "ERROR"}
)
_C_CLASSES = frozenset({"class_specifier", "struct_specifier", "union_specifier"})
_C_DECLARATOR_WRAPPERS = frozenset(
    {
        "function_declarator",
        "pointer_declarator",
        "reference_declarator",
        "parenthesized_declarator",
        "attributed_declarator",
    }
)
_RUST_TEST_ATTRIBUTE = re.compile(r"^#\[\s*(?:[\w:]+::)?(?:test|bench|test_case|rstest)\b")
_RUST_CFG_TEST = re.compile(r"^#\[\s*cfg\s*\((?:[^\]]*[(,\s])?test\s*[),]")
_RUST_CFG_NOT_TEST = re.compile(r"not\s*\(\s*test\s*\)")
_TRAILING_MEMBER_DOC = ("//!<", "///<", "/**<", "/*!<")


@dataclasses.dataclass(frozen=True)
class _Scope:
    """Where a C/C++/Rust definition sits: what names it, and what marks it."""

    owner: str | None = None  # class/struct, impl's type or trait
    trait: str | None = None  # Rust: Trait of `impl Trait for Type`
    test_module: bool = False  # Rust: inside a `#[cfg(test)]` module


def _extract_c_family(language: str, text: str) -> list[dict[str, Any]]:
    source = text.encode("utf-8", "surrogatepass")
    root = parser_for(language).parse(source).root_node
    namespaces: set[str] = {"std"}
    out: list[dict[str, Any]] = []
    stack: list[tuple[Any, _Scope]] = [(root, _Scope())]
    while stack:
        node, scope = stack.pop()
        for child in node.children:
            kind = child.type
            if kind in ("function_definition", "function_item"):
                fn = _c_family_function(language, child, scope, source, namespaces)
                if fn is not None:
                    out.append(fn)
            elif kind in (
                _RUST_CONTAINERS if _MINING[language].walker == "rust" else _C_CONTAINERS
            ):
                inner = _inner_scope(child, scope)
                if kind == "namespace_definition":
                    name = child.child_by_field_name("name")
                    if name is not None:
                        namespaces.update(_text(name).split("::"))
                stack.append((child, inner))
    out.sort(key=lambda fn: fn["line"])  # ERROR nodes and branches can interleave: source order
    return out


def _inner_scope(node: Any, scope: _Scope) -> _Scope:
    """The scope inside a container: a class or impl names its methods; a test module marks them."""
    kind = node.type
    if kind in _C_CLASSES and node.child_by_field_name("body") is not None:
        name = node.child_by_field_name("name")
        return _Scope(owner=_type_name(name) if name is not None else None)
    if kind == "friend_declaration":
        return _Scope()  # a friend defined in a class body is a free function, not a member
    if kind == "impl_item":
        trait = node.child_by_field_name("trait")
        return dataclasses.replace(
            scope,
            owner=_type_name(node.child_by_field_name("type")),
            trait=_type_name(trait) if trait is not None else None,
        )
    if kind == "trait_item":
        return dataclasses.replace(
            scope, owner=_type_name(node.child_by_field_name("name")), trait=None
        )
    if kind == "mod_item":
        return _Scope(
            test_module=scope.test_module
            or any(
                _RUST_CFG_TEST.match(a) and not _RUST_CFG_NOT_TEST.search(a)
                for a in _rust_preamble(node)[1]
            )
        )
    return scope


def _type_name(node: Any | None) -> str | None:
    """``Foo`` of ``Foo``, ``Foo<T>``, ``a::b::Foo``, ``&'a Foo``, ``Foo<int>`` (C++ specialisation)."""
    if node is None:
        return None
    while True:
        if node.type in ("type_identifier", "identifier", "namespace_identifier", "primitive_type"):
            return _text(node)
        inner = node.child_by_field_name("name") or node.child_by_field_name("type")
        if inner is None:
            inner = next(
                (c for c in node.named_children if c.type not in ("lifetime", "mutable_specifier")),
                None,
            )
        if inner is None:
            return _text(node)
        node = inner


def _c_family_function(
    language: str, node: Any, scope: _Scope, source: bytes, namespaces: set[str]
) -> dict[str, Any] | None:
    if node.child_by_field_name("body") is None:
        return None  # `= default;`, `= delete;`: declarations, not definitions
    anchor = node
    while anchor.parent is not None and anchor.parent.type in (
        "template_declaration",
        "friend_declaration",
    ):
        anchor = anchor.parent  # the doc comment sits before `template <...>` / `friend`
    if _MINING[language].walker == "rust":
        name = _text(node.child_by_field_name("name"))
        owner = scope.owner
        doc, attributes = _rust_preamble(node)
        constructor = name == "new"
        override = scope.trait is not None
        test = scope.test_module or any(_RUST_TEST_ATTRIBUTE.match(a) for a in attributes)
        extension = scope.trait in RUST_STANDARD_TRAITS
    else:
        found = _c_name(node)
        if found is None:
            return None
        qualifiers, name, declarators = found
        owner = scope.owner
        if qualifiers and qualifiers[-1] not in namespaces:
            owner = qualifiers[-1]  # `Foo::bar` -> Foo.bar; a known namespace is not an owner
        doc = _c_doc(anchor, source)
        if doc:
            doc = _without_own_name(doc, name)
        constructor = name.startswith("~") or (owner is not None and name == owner)
        override = any(
            c.type == "virtual_specifier" and _text(c) == "override"
            for d in declarators
            for c in d.children
        )
        test = False
        extension = name.startswith("operator") and not name[8:9].isalnum() and name[8:9] != "_"
    code = _node_text(anchor, source)
    return {
        "name": name,
        "func_name": f"{owner}.{name}" if owner else name,
        "code": code,
        "docstring": first_paragraph(_cut_doc_tags(doc)) if doc else "",
        "code_lines": sum(1 for line in code.splitlines() if line.strip()),
        "line": anchor.start_point[0] + 1,
        "constructor": constructor,
        "override": override,
        "test": test,
        "extension": extension,
    }


def _c_name(node: Any) -> tuple[list[str], str, list[Any]] | None:
    """(qualifiers, name, function declarators) of a C/C++ function definition.

    Follows the declarator chain through pointers, references and parentheses
    (``char *dup(...)``, ``int (*getfn(void))(int)``, ``const T& Foo::get()``).
    """
    top = node.child_by_field_name("declarator")
    target, declarators = _follow_declarators(top)
    if not declarators and (top is None or top.type != "operator_cast"):
        # A macro in the signature (`static MACRO T f() MACRO {`) makes tree-sitter recover with
        # `f()` inside an ERROR node, in the chain or beside it: take the first one before the body.
        body = node.child_by_field_name("body")
        inner = next(
            (
                n
                for child in node.children
                if child != body
                for n in _walk(child)
                if n.type == "function_declarator"
            ),
            None,
        )
        if inner is None:
            return None
        target, declarators = _follow_declarators(inner)
    if target is None:
        return None
    qualifiers: list[str] = []
    while target.type == "qualified_identifier":
        scope = target.child_by_field_name("scope")
        # A recovered parse can pair `Type\nname` with a MISSING `::`: not a qualifier then.
        if scope is not None and any(c.type == "::" and not c.is_missing for c in target.children):
            qualifiers.append(_type_name(scope) or _text(scope))
        target = target.child_by_field_name("name")
        if target is None:
            return None
    if target.type == "template_function":
        target = target.child_by_field_name("name") or target
    if target.type == "destructor_name":
        name = "~" + _text(target)[1:].strip()
    elif target.type == "operator_cast":
        cast = target.child_by_field_name("type")
        name = "operator " + " ".join(_text(cast).split()) if cast is not None else "operator"
    elif target.type == "operator_name":
        rest = " ".join(_text(target)[len("operator") :].split())
        name = "operator" + (
            " " + rest if rest[:1].isalpha() or rest[:1] == "_" else rest.replace(" ", "")
        )
    elif target.type in ("identifier", "field_identifier"):
        name = _text(target)
    else:
        return None  # a macro or a parse error in the declarator: no reliable name
    return qualifiers, name, declarators


def _follow_declarators(target: Any | None) -> tuple[Any | None, list[Any]]:
    """The declarator chain's innermost node (the name) and the function declarators on the way."""
    declarators = []
    while target is not None and target.type in _C_DECLARATOR_WRAPPERS:
        if target.type == "function_declarator":
            declarators.append(target)
        inner = target.child_by_field_name("declarator")
        if inner is None:  # parenthesized_declarator has no field
            inner = next(
                (
                    c
                    for c in target.named_children
                    if c.type.endswith("declarator")
                    or c.type in ("identifier", "field_identifier", "qualified_identifier")
                ),
                None,
            )
        target = inner
    return target, declarators


def _starts_line(node: Any, source: bytes) -> bool:
    line_start = source.rfind(b"\n", 0, node.start_byte) + 1
    return not source[line_start : node.start_byte].strip()


def _c_doc(anchor: Any, source: bytes) -> str | None:
    """The comment right before a C/C++ definition: one block comment or a run of ``//`` lines.

    Doxygen comments (``/** */``, ``/*! */``, ``///``, ``//!``) win: in a stack of comments
    touching the definition, the nearest Doxygen one is the documentation, as Doxygen reads it
    (libstdc++ puts plain ``// DR 123`` notes between its ``/** */`` and the template). With no
    Doxygen comment, the nearest plain comment counts, since many C code bases document with
    ``/* */`` or ``//`` lines. Each comment must start its own line, with no blank line
    between it and the definition; trailing member comments (``//!<``) do not count.
    """
    chain: list[str] = []  # nearest first
    nxt = anchor
    node = anchor.prev_sibling
    while node is not None and node.type == "comment":
        gap = source[node.end_byte : nxt.start_byte]
        text = _text(node)
        if (
            gap.strip()
            or gap.count(b"\n") > 1
            or not _starts_line(node, source)
            or text.startswith(_TRAILING_MEMBER_DOC)
        ):
            break
        chain.append(text)
        nxt, node = node, node.prev_sibling
    doxygen = [
        i
        for i, text in enumerate(chain)
        if text.startswith(("/**", "/*!", "///", "//!"))
        and not text.startswith(("/***", "/**/", "////"))
    ]
    if doxygen:
        chain = chain[doxygen[0] :]
    if not chain:
        return None
    if chain[0].startswith("/*"):
        return _block_comment_body(chain[0])
    lines: list[str] = []
    style = "doxygen" if doxygen else "plain"
    for text in chain:
        is_doxygen = text.startswith(("///", "//!")) and not text.startswith("////")
        if text.startswith("/*") or (style == "doxygen") != is_doxygen:
            break  # a block comment or a comment of the other kind is a separate comment
        lines.append(re.sub(r"^//[/!]?", "", text).rstrip("\r\n"))
    return "\n".join(line[1:] if line.startswith(" ") else line for line in reversed(lines))


def _without_own_name(doc: str, name: str) -> str:
    """The documentation without a leading kernel-doc or gtk-doc header naming the function.

    kernel-doc opens with ``name() - Summary.`` (the Linux kernel's doc-guide); gtk-doc with
    a ``name:`` line, then ``@arg:`` lines and a blank line, then the description (GLib,
    libxml2). Both name the function first; the summary is what follows.
    """
    lines = doc.strip().splitlines()
    if not lines:
        return doc
    head = re.match(rf"^\s*{re.escape(name)}\s*(?:\(\s*\))?\s*(:|-)\s*(.*)$", lines[0])
    if head is None:
        return doc
    if head.group(1) == "-" or head.group(2):  # kernel-doc: the summary is on the same line
        return "\n".join([head.group(2), *lines[1:]])
    rest = lines[1:]  # gtk-doc: skip the argument lines and blank lines before the description
    while rest and (not rest[0].strip() or re.match(r"^\s*@\w+\s*:", rest[0])):
        rest = rest[1:]
    return "\n".join(rest)


def _rust_preamble(node: Any) -> tuple[str | None, list[str]]:
    """The outer doc comments (``///``, ``/** */``) and ``#[...]`` attributes before a Rust item.

    Doc comments are read as rustdoc reads them: attributes and plain comments between the
    doc and the ``fn`` are skipped; inner doc comments (``//!``, ``/*! */``) document the
    enclosing module and are not read.
    """
    parts: list[str] = []
    attributes: list[str] = []
    sibling = node.prev_sibling
    while sibling is not None and sibling.type in (
        "attribute_item",
        "line_comment",
        "block_comment",
    ):
        text = _text(sibling)
        if sibling.type == "attribute_item":
            attributes.append(text)
        elif (
            sibling.type == "line_comment"
            and text.startswith("///")
            and not text.startswith("////")
        ):
            body = text[3:].rstrip("\r\n")
            parts.append(body[1:] if body.startswith(" ") else body)
        elif (
            sibling.type == "block_comment"
            and text.startswith("/**")
            and not text.startswith(("/***", "/**/"))
        ):
            parts.append(_block_comment_body(text))
        sibling = sibling.prev_sibling
    return ("\n".join(reversed(parts)) if parts else None), attributes


def _block_comment_body(text: str) -> str:
    """``/** ... */`` / ``/*! ... */`` / ``/* ... */`` without the markers and leading ``*``."""
    body = text[2:-2] if text.endswith("*/") and len(text) >= 4 else text[2:]
    body = body.lstrip("*!").rstrip("*")
    return "\n".join(re.sub(r"^\s*\*+ ?", "", line) for line in body.splitlines())


#: Doxygen commands that start the parameter list or other sections after the summary.
_DOXYGEN_SECTION = re.compile(
    r"^[\\@](?:param|tparam|return|returns|retval|result|throw|throws|exception|note|see|sa|pre|post|"
    r"warning|bug|todo|since|deprecated|code|example|details|par|remark|remarks|author|date|ingroup|"
    r"defgroup|addtogroup|file|internal|attention)\b"
)
_DOXYGEN_BRIEF = re.compile(r"^[\\@](?:brief|short|summary)\s+")
_FOLD_MARKER = re.compile(r"\s*(?:\{\{\{|\}\}\})\d*\s*")  # vim fold markers in C++ comments
_DOXYGEN_SUBJECT = re.compile(r"^[\\@](?:fn|class|struct|def|var|typedef|memberof|relates)\b")


def _cut_doc_tags(doc: str) -> str:
    """The documentation before its first Doxygen section, Rust heading (``# Examples``) or code fence.

    ``core.first_paragraph`` already stops at ``@param`` and ``>>>``; Doxygen's backslash
    commands and rustdoc's section headings (the Rust API guidelines' ``# Examples``,
    ``# Panics``, ``# Errors``, ``# Safety``) also end the summary. ``\\brief`` is unwrapped and
    ``\\fn``-style subject lines are dropped.
    """
    kept: list[str] = []
    for raw in doc.splitlines():
        line = raw.strip()
        if _DOXYGEN_SECTION.match(line) or re.match(r"#{1,6}\s", line) or line.startswith("```"):
            break
        if _DOXYGEN_SUBJECT.match(line):
            continue
        kept.append(_DOXYGEN_BRIEF.sub("", _FOLD_MARKER.sub("", line)))
    return "\n".join(kept)
