"""The release row: what a Hub user loads (docs/design.md, "Data contract").

SynthCoNL's eight columns come first with the same names, so our shards are a drop-in
replacement for code that reads SynthCoNL; provenance and verdict columns follow.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pyarrow as pa

from schemas._base import dataclass_from_row, row_from_dataclass, versioned

#: SynthCoNL's column names, in its order (the released dataset's eight string columns).
SYNTHCONL_COLUMNS: tuple[str, ...] = (
    "repository_name",
    "func_path_in_repository",
    "language2",
    "func2",
    "language1_CSN",
    "func1_CSN",
    "func_documentation_string",
    "func_code_url",
)

RELEASE_SCHEMA = versioned(
    pa.schema(
        [pa.field(name, pa.string()) for name in SYNTHCONL_COLUMNS]
        + [
            pa.field("pair_id", pa.string(), nullable=False),
            pa.field("license", pa.string()),
            pa.field("translator", pa.string()),
            pa.field("prompt_version", pa.string()),
            pa.field("attempt", pa.int32()),
            pa.field("repair_round", pa.int32()),
            pa.field("parse_ok", pa.bool_()),
            pa.field("exec_status", pa.string()),
            pa.field("tests_passed", pa.int32()),
            pa.field("tests_total", pa.int32()),
            pa.field("dedup_cluster", pa.string()),
            pa.field("split", pa.string()),
        ]
    ),
    "release_row",
)

SPLITS: tuple[str, ...] = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True, slots=True)
class ReleaseRow:
    """One text/code/code triplet: documentation, source function and its translation."""

    repository_name: str
    func_path_in_repository: str
    language2: str
    func2: str
    language1_CSN: str
    func1_CSN: str
    func_documentation_string: str
    func_code_url: str | None
    pair_id: str
    license: str | None = None
    translator: str | None = None
    prompt_version: str | None = None
    attempt: int = 0
    repair_round: int = 0
    parse_ok: bool = True
    exec_status: str = "not_run"
    tests_passed: int = 0
    tests_total: int = 0
    dedup_cluster: str | None = None
    split: str | None = None

    def to_row(self) -> dict[str, Any]:
        return row_from_dataclass(self, RELEASE_SCHEMA)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ReleaseRow:
        return dataclass_from_row(cls, row)
