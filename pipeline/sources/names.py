"""The name of the (first) function defined in a snippet, for rows that do not carry it.

SynthCoNL rows and our release rows have no ``func_name`` column; the pair id and the
doctest extraction need one. Python is read with ``ast``; other languages with tree-sitter
(``tree_sitter_language_pack``, grammars shipped in the wheel).
"""

from __future__ import annotations

import ast
import functools
import textwrap
from typing import Any

from languages import REGISTRY

#: Node types that define a function or method, per language (the registry's mining rules;
#: ``const f = () => ...`` declarators are left out here: they are not always functions).
DEFINITION_TYPES: dict[str, frozenset[str]] = {
    name: frozenset(spec.mining.definitions) - {"variable_declarator"}
    for name, spec in REGISTRY.items()
    if name != "python"
}


@functools.cache
def parser_for(language: str) -> Any:
    """A cached tree-sitter parser for one of our languages (one per language and process)."""
    from tree_sitter_language_pack import get_parser

    return get_parser(REGISTRY[language].tree_sitter_grammar)


def function_name(language: str, code: str) -> str | None:
    """Name of the first function defined in ``code``, or None if there is none."""
    if language == "python":
        try:
            tree = ast.parse(textwrap.dedent(code))
        except (SyntaxError, ValueError):
            return None
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return node.name
        return None
    types = DEFINITION_TYPES.get(language)
    if types is None:
        return None
    open_tag = REGISTRY[language].parsing.open_tag
    source = (
        code if open_tag is None or code.lstrip().startswith(open_tag[0]) else open_tag[1] + code
    )
    root = parser_for(language).parse(source.encode("utf-8", "surrogatepass")).root_node
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type in types:
            name = definition_name(node)
            if name:
                return name
        stack.extend(reversed(node.children))
    return None


def definition_name(node: Any) -> str | None:
    """The identifier a definition node declares (C/C++ dig through their declarators)."""
    name = node.child_by_field_name("name")
    if name is None:
        declarator = node.child_by_field_name("declarator")
        while declarator is not None and declarator.child_by_field_name("declarator") is not None:
            declarator = declarator.child_by_field_name("declarator")
        name = declarator
    if name is None:
        return None
    return name.text.decode("utf-8", "replace")
