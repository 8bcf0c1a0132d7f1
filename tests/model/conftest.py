"""Fixtures: tiny release shards written with schemas.RELEASE_SCHEMA in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import RELEASE_SCHEMA, ReleaseRow

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# (name, doc, python body expression, javascript body expression)
_OPS = [
    ("add", "Add two numbers.", "a + b", "a + b"),
    ("subtract", "Subtract b from a.", "a - b", "a - b"),
    ("multiply", "Multiply two numbers.", "a * b", "a * b"),
    ("maximum", "Return the larger of two numbers.", "max(a, b)", "Math.max(a, b)"),
    ("minimum", "Return the smaller of two numbers.", "min(a, b)", "Math.min(a, b)"),
    ("power", "Raise a to the power b.", "a ** b", "a ** b"),
    ("average", "Mean of two numbers.", "(a + b) / 2", "(a + b) / 2"),
    ("modulo", "Remainder of a divided by b.", "a % b", "a % b"),
    ("hypot", "Length of the hypotenuse.", "(a * a + b * b) ** 0.5", "Math.sqrt(a * a + b * b)"),
    ("distance", "Absolute difference of a and b.", "abs(a - b)", "Math.abs(a - b)"),
    ("both_positive", "True when both are positive.", "a > 0 and b > 0", "a > 0 && b > 0"),
    (
        "same_sign",
        "True when a and b share a sign.",
        "(a >= 0) == (b >= 0)",
        "(a >= 0) === (b >= 0)",
    ),
]


def release_rows(repeat: int = 1) -> list[dict]:
    """Rows over four repositories: a Python function, its JavaScript translation, its doc."""
    rows = []
    for r in range(repeat):
        for i, (name, doc, py, js) in enumerate(_OPS):
            fname = f"{name}_{r}" if r else name
            python = f'def {fname}(a, b):\n    """{doc}"""\n    return {py}\n'
            javascript = f"function {fname}(a, b) {{\n  return {js};\n}}\n"
            rows.append(
                ReleaseRow(
                    repository_name=f"org/repo{i % 4}",
                    func_path_in_repository=f"src/{fname}.py",
                    language2="javascript",
                    func2=javascript,
                    language1_CSN="python",
                    func1_CSN=python,
                    func_documentation_string=doc,
                    func_code_url=None,
                    pair_id=f"{r}-{i}",
                    split="train",
                ).to_row()
            )
    return rows


def write_shards(directory: Path, rows: list[dict]) -> Path:
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=RELEASE_SCHEMA)
    pq.write_table(table, data / "train-00000-of-00001.parquet")
    return directory


@pytest.fixture
def shard_dir(tmp_path: Path) -> Path:
    return write_shards(tmp_path / "release", release_rows(repeat=2))
