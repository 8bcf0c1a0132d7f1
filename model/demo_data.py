"""Release shards mined offline from Python sources, for demos and benchmarks of the trainer.

When the pipeline's shards are not at hand (no translator, no network), this turns any tree
of Python files (e.g. the installed packages under ``site-packages``) into release shards with
``schemas.RELEASE_SCHEMA``: ``func1_CSN`` is a documented function with its docstring removed
(as CodeSearchNet's code/docstring split does), ``func_documentation_string`` its docstring's
first paragraph, ``repository_name`` the top-level package. These rows carry NO translation:
``func2`` and ``language2`` are empty and ``translator`` is ``"none"``, so only
text-to-code pairs and MLM/ICC contexts come from them; code-to-code needs the pipeline.

    python -m model.demo_data --source=DIR --output=OUT [--max_functions=N]
        [--max_per_repository=200] [--test_fraction=0.1]
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import RELEASE_SCHEMA, ReleaseRow


def _docless_source(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    body = node.body
    if not (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)):
        return None
    doc_node = body[0]
    start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
    kept = lines[start : doc_node.lineno - 1] + lines[doc_node.end_lineno : node.end_lineno]
    if len(body) == 1:  # nothing but a docstring
        return None
    indent = len(kept[0]) - len(kept[0].lstrip())
    return "\n".join(line[indent:] for line in kept).rstrip() + "\n"


def mine_functions(path: Path, repository: str, min_doc_words: int = 3) -> list[ReleaseRow]:
    """Documented functions of one file as release rows (no translation)."""
    try:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
        return []
    lines = text.splitlines()
    rows = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        doc = ast.get_docstring(node)
        if not doc:
            continue
        summary = doc.strip().split("\n\n")[0].replace("\n", " ").strip()
        code = _docless_source(lines, node)
        if code is None or len(summary.split()) < min_doc_words or not 40 <= len(code) <= 4000:
            continue
        pair_id = hashlib.sha1(f"{repository}\0{path}\0{node.name}\0{code}".encode()).hexdigest()[
            :16
        ]
        rows.append(
            ReleaseRow(
                repository_name=repository,
                func_path_in_repository=str(path),
                language2="",
                func2="",
                language1_CSN="python",
                func1_CSN=code,
                func_documentation_string=summary,
                func_code_url=None,
                pair_id=pair_id,
                translator="none",
            )
        )
    return rows


def mine_tree(source: Path, max_functions: int, max_per_repository: int = 200) -> list[ReleaseRow]:
    """Walk ``source``; its first-level entries are the repositories, visited in sorted order.

    At most ``max_per_repository`` functions per repository, so that one big package does not
    make up the whole set; test files are skipped.
    """
    rows: list[ReleaseRow] = []
    seen: set[str] = set()
    per_repo: dict[str, int] = {}
    for path in sorted(source.rglob("*.py")):
        relative = path.relative_to(source)
        if len(relative.parts) < 2 or "test" in str(relative).lower():
            continue
        repository = relative.parts[0]
        if per_repo.get(repository, 0) >= max_per_repository:
            continue
        for row in mine_functions(path, repository):
            if row.func1_CSN not in seen and per_repo.get(repository, 0) < max_per_repository:
                seen.add(row.func1_CSN)
                rows.append(row)
                per_repo[repository] = per_repo.get(repository, 0) + 1
        if len(rows) >= max_functions:
            break
    return rows[:max_functions]


def split_of(repository: str, test_fraction: float) -> str:
    """Repository-disjoint split from a hash of the name (docs/design.md, "Dedup, decontamination and splits")."""
    bucket = int(hashlib.sha1(repository.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if bucket < test_fraction else "train"


def write_shards(rows: list[ReleaseRow], output: Path, test_fraction: float) -> dict[str, int]:
    """``OUTPUT/data/{split}-00000-of-00001.parquet``; returns rows per split."""
    by_split: dict[str, list[dict]] = {}
    for row in rows:
        split = split_of(row.repository_name, test_fraction)
        record = row.to_row()
        record["split"] = split
        by_split.setdefault(split, []).append(record)
    data = output / "data"
    data.mkdir(parents=True, exist_ok=True)
    for split, records in by_split.items():
        table = pa.Table.from_pylist(records, schema=RELEASE_SCHEMA)
        pq.write_table(table, data / f"{split}-00000-of-00001.parquet")
    return {split: len(records) for split, records in by_split.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model.demo_data", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--source", required=True, help="directory of packages/repositories")
    parser.add_argument("--output", required=True)
    parser.add_argument("--max_functions", type=int, default=5000)
    parser.add_argument("--max_per_repository", type=int, default=200)
    parser.add_argument("--test_fraction", type=float, default=0.1)
    args = parser.parse_args(argv)
    source = Path(args.source)
    if not source.is_dir():
        print(f"error: {source} is not a directory", file=sys.stderr)
        return 2
    counts = write_shards(
        mine_tree(source, args.max_functions, args.max_per_repository),
        Path(args.output),
        args.test_fraction,
    )
    print({"rows": counts, "output": args.output})
    return 0 if counts else 1


if __name__ == "__main__":
    sys.exit(main())
