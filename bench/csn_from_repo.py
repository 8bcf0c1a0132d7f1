"""Build CodeSearchNet-format evaluation sets from local source trees (generated, never committed).

    .venv/bin/python bench/csn_from_repo.py --output=/tmp/csn_stdlib \
        [--roots=LIB/email,LIB/json,...] [--query_fraction=0.5] [--seed=0]

Functions come from the pipeline's repository reader (``pipeline.sources`` ``repo:`` spec:
tree-sitter extraction with CodeSearchNet's filters). Two layouts are written:

- ``OUTPUT/csn/<language>_test_0.jsonl``: CodeSearchNet's record shape (``repo``, ``path``,
  ``func_name``, ``original_string``, ``language``, ``code``, ``code_tokens``, ``docstring``,
  ``docstring_tokens``, ``url``, ``partition``). As in CodeSearchNet, ``code`` and
  ``original_string`` keep the docstring, while ``code_tokens`` are the tree-sitter leaves of
  the function without its docstring and without comments (a string literal is one token).
- ``OUTPUT/codesearch/<language>/{test,codebase}.jsonl``: the CodeXGLUE/UniXcoder code-search
  split: a ``--query_fraction`` of the functions are queries (``test.jsonl``), the codebase is
  every function (the rest are distractors), matched by ``url``.

The set is for checking the evaluation protocol on real documented code; its numbers are not
comparable with the published CodeSearchNet test sets.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import sysconfig
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.docstrings import grammar_name, strip_documentation  # noqa: E402
from pipeline.sources.core import SourceConfig, SourceStats  # noqa: E402
from pipeline.sources.spec import read_source  # noqa: E402
from schemas import SourcePair  # noqa: E402

_STDLIB = Path(sysconfig.get_paths()["stdlib"])
DEFAULT_ROOTS = ",".join(
    str(_STDLIB / name)
    for name in ("email", "json", "http", "urllib", "logging", "importlib", "concurrent")
)


def code_tokens(code: str, language: str, docstring: str) -> list[str]:
    """CodeSearchNet-style tokens: tree-sitter leaves without docstring and comments."""
    from tree_sitter_language_pack import get_parser

    stripped = strip_documentation(code, language, docstring)
    source = stripped.encode("utf-8")
    root = get_parser(grammar_name(language)).parse(source).root_node
    tokens, stack = [], [root]
    while stack:
        node = stack.pop()
        if "comment" in node.type:
            continue
        if node.child_count == 0 or node.type == "string":
            text = source[node.start_byte : node.end_byte].decode("utf-8", "replace").strip()
            if text:
                tokens.append(text)
            continue
        stack.extend(reversed(node.children))
    return tokens


def docstring_tokens(docstring: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]", docstring)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", required=True)
    p.add_argument("--roots", default=DEFAULT_ROOTS, help="comma-separated source trees")
    p.add_argument("--query_fraction", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.output)
    by_lang: dict[str, list[dict]] = defaultdict(list)
    for record in read_source(f"repo:{args.roots}", SourceConfig(), SourceStats()):
        if (
            not isinstance(record, SourcePair)
            or not record.docstring
            or grammar_name(record.language) is None
        ):
            continue
        url = (
            f"local://{record.repository_name}/{record.func_path_in_repository}#{record.func_name}"
        )
        by_lang[record.language].append(
            {
                "repo": record.repository_name,
                "path": record.func_path_in_repository,
                "func_name": record.func_name,
                "original_string": record.code,
                "language": record.language,
                "code": record.code,
                "code_tokens": code_tokens(record.code, record.language, record.docstring),
                "docstring": record.docstring,
                "docstring_tokens": docstring_tokens(record.docstring),
                "url": url,
                "partition": "test",
            }
        )
    rng = random.Random(args.seed)
    for lang, records in sorted(by_lang.items()):
        seen, unique = set(), []
        for r in records:  # one record per url (overloads of one name in one file keep the first)
            if r["url"] not in seen:
                seen.add(r["url"])
                unique.append(r)
        (out / "csn").mkdir(parents=True, exist_ok=True)
        with open(out / "csn" / f"{lang}_test_0.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in unique)
        queries = rng.sample(unique, max(1, int(len(unique) * args.query_fraction)))
        folder = out / "codesearch" / lang
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "test.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in sorted(queries, key=lambda r: r["url"]))
        with open(folder / "codebase.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in unique)
        print(f"{lang}: {len(unique)} functions, {len(queries)} queries -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
