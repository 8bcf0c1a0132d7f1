"""The parse check: does a translation parse in its target language? (tree-sitter)

A translation whose syntax tree contains an ERROR or MISSING node is rejected (stage
``parse``, reason ``parse_error``) with the first such node's ``line:col`` (1-based) and a
short snippet of the offending source line, so a reader sees at once what went wrong.
Parsers come from ``tree_sitter_language_pack`` 0.13 (grammars ship in its wheel; 1.x
downloads them at run time and fails offline) and are built once per worker in
``DoFn.setup()``.

Function-level snippets are not always whole programs, so two wrappers are tried before
declaring an error: PHP code without an opening ``<?php`` tag gets one (the grammar would
otherwise read it as inline HTML and accept anything), and Java, JavaScript, TypeScript or PHP
*methods* (CSN's Java functions are methods) are retried inside a class body when they fail at
top level. The wrappers are the language registry's (``languages/<name>.py``, ``Parsing``). Reported
positions are always in the original code's coordinates.
"""

from __future__ import annotations

import dataclasses
import re
import time

import apache_beam as beam

from languages import REGISTRY
from pipeline.stage import StageFn
from schemas import Candidate, ExecStatus, Verdict

STAGE = "parse"
REASON = "parse_error"
NAMESPACE = "parse"

#: Our language name -> tree-sitter-language-pack grammar name, from the language registry.
GRAMMARS: dict[str, str] = {name: spec.tree_sitter_grammar for name, spec in REGISTRY.items()}

#: (prefix, suffix) tried when the bare code does not parse (methods outside a class).
_CLASS_WRAPPERS: dict[str, tuple[str, str]] = {
    name: spec.parsing.class_wrapper
    for name, spec in REGISTRY.items()
    if spec.parsing.class_wrapper
}

#: (marker, text): ``text`` is prepended when the code does not start with ``marker``.
_OPEN_TAGS: dict[str, tuple[str, str]] = {
    name: spec.parsing.open_tag for name, spec in REGISTRY.items() if spec.parsing.open_tag
}

# A class method (``async get name(...) {``) rather than a function: parse it inside a class
# body first, saving a failed top-level parse.
_METHODS: dict[str, re.Pattern[str]] = {
    name: re.compile(spec.parsing.method_first)
    for name, spec in REGISTRY.items()
    if spec.parsing.method_first
}

_SNIPPET_CHARS = 60


class ParseChecker:
    """Parse code with tree-sitter; ``check(language, code) -> (ok, error)``.

    Not picklable (it holds parsers): build it in ``DoFn.setup()``.
    """

    def __init__(self, languages: tuple[str, ...] = tuple(GRAMMARS)) -> None:
        from tree_sitter_language_pack import get_parser

        unknown = sorted(set(languages) - set(GRAMMARS))
        if unknown:
            raise ValueError(f"no grammar for {', '.join(unknown)}; valid: {', '.join(GRAMMARS)}")
        self._parsers = {lang: get_parser(GRAMMARS[lang]) for lang in languages}

    def check(self, language: str, code: str) -> tuple[bool, str | None]:
        """(True, None) when ``code`` parses; else (False, "line:col: kind near 'snippet'")."""
        parser = self._parser_for(language)
        if not code.strip():
            return False, "1:1: empty code"
        prefix = ""
        open_tag = _OPEN_TAGS.get(language)
        if open_tag is not None and not code.lstrip().startswith(open_tag[0]):
            prefix = open_tag[1]
        wrapper = _CLASS_WRAPPERS.get(language)
        method = _METHODS.get(language)
        if wrapper is not None and method is not None and method.match(code):
            method_error = self._first_error(parser, wrapper[0], code, wrapper[1])
            if method_error is None or self._first_error(parser, prefix, code, "") is None:
                return True, None
            return False, method_error
        error = self._first_error(parser, prefix, code, "")
        if error is None:
            return True, None
        if wrapper is not None and self._first_error(parser, wrapper[0], code, wrapper[1]) is None:
            return True, None
        return False, error

    def _parser_for(self, language: str):
        parser = self._parsers.get(language)
        if parser is None:
            raise ValueError(f"no parser for {language!r}; valid: {', '.join(self._parsers)}")
        return parser

    def _first_error(self, parser, prefix: str, code: str, suffix: str) -> str | None:
        data = (prefix + code + suffix).encode("utf-8", "surrogatepass")
        root = parser.parse(data).root_node
        if not root.has_error:
            return None
        node = _first_error_node(root)
        line_offset = prefix.count("\n")
        if node is None:  # has_error without a visible node: report the root
            return "1:1: syntax error"
        row, col = node.start_point
        row -= line_offset
        if row < 0 or (row == 0 and prefix and not prefix.endswith("\n")):
            row, col = 0, 0
        lines = code.splitlines() or [""]
        row = min(max(row, 0), len(lines) - 1)
        kind = f"missing {node.type}" if node.is_missing else "syntax error"
        snippet = lines[row].strip()[:_SNIPPET_CHARS]
        return f"{row + 1}:{col + 1}: {kind} near {snippet!r}"


def _first_error_node(root):
    """The first ERROR or MISSING node in document order, descending only into erroneous subtrees."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            # An ERROR node may hold a MISSING/ERROR child that starts earlier: prefer the node itself.
            return node
        children = [c for c in node.children if c.has_error or c.is_missing]
        stack.extend(reversed(children))
    return None


class _ParseCheckFn(StageFn):
    """Candidate -> Candidate with a parse verdict, or a rejected row (tagged ``rejected``)."""

    NAMESPACE = NAMESPACE

    def setup(self) -> None:
        self._checker = ParseChecker()

    def process(self, candidate: Candidate):
        self.seen()
        t = candidate.translation
        if t is None:
            raise ValueError(f"parse check got candidate {candidate.key} without a translation")
        started = time.perf_counter()
        if t.target_language in GRAMMARS:
            ok, error = self._checker.check(t.target_language, t.code)
        else:
            ok, error = False, f"no tree-sitter grammar for {t.target_language!r}"
        elapsed = time.perf_counter() - started
        self.latency(elapsed * 1000)
        verdict = Verdict(
            pair_id=t.pair_id,
            target_language=t.target_language,
            attempt=t.attempt,
            parse_ok=ok,
            parse_error=error,
            exec_status=ExecStatus.NOT_RUN,
            wall_s=round(elapsed, 6),
        )
        checked = dataclasses.replace(candidate, verdict=verdict)
        if ok:
            yield self.keep(checked)
        else:
            yield self.reject(checked.reject(STAGE, REASON, error), REASON)


class ParseCheck(beam.PTransform):
    """Candidate -> outputs ``candidates`` (verdict: parse_ok=True, exec_status=not_run) and ``rejected``."""

    def expand(self, candidates):
        return candidates | "Parse" >> beam.ParDo(_ParseCheckFn()).with_outputs(
            "rejected", main="candidates"
        )
