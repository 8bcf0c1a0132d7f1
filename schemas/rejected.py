"""The rejected row: a record as far as it got, plus the ``stage`` and ``reason`` that stopped it.

One schema for every stage, so ``rejected/*.parquet`` can be read as one table and the
accounting (input rows = released rows + rejected rows) is a sum over files.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pyarrow as pa

from schemas._base import dataclass_from_row, row_from_dataclass, versioned

REJECTED_SCHEMA = versioned(
    pa.schema(
        [
            pa.field("stage", pa.string(), nullable=False),
            pa.field("reason", pa.string(), nullable=False),
            pa.field("detail", pa.string()),
            pa.field("pair_id", pa.string()),
            pa.field("repository_name", pa.string()),
            pa.field("func_path_in_repository", pa.string()),
            pa.field("func_name", pa.string()),
            pa.field("language", pa.string()),
            pa.field("target_language", pa.string()),
            pa.field("attempt", pa.int32()),
            pa.field("repair_round", pa.int32()),
            pa.field("source_code", pa.string()),
            pa.field("translated_code", pa.string()),
            pa.field("raw_reply", pa.string()),
            pa.field("record", pa.string()),
        ]
    ),
    "rejected_row",
)


@dataclasses.dataclass(frozen=True, slots=True)
class RejectedRow:
    """Why a row left the pipeline.

    Attributes:
        stage: the stage that rejected it (``source``, ``translate``, ``parse``, ``execute``,
            ``dedup``, ``decontaminate``).
        reason: a short machine-readable reason (``empty_code``, ``compile_error``,
            ``near_duplicate``, ``contaminated:humaneval`` ...). Counted in ``stats.json``.
        detail: human-readable detail (the parser's first error location, stderr tail ...).
        repair_round: the repair round whose attempt this row is (0: the first translation;
            None: no translation was asked for, e.g. rejected at the source).
        record: JSON of the whole record as far as it got.
    """

    stage: str
    reason: str
    detail: str | None = None
    pair_id: str | None = None
    repository_name: str | None = None
    func_path_in_repository: str | None = None
    func_name: str | None = None
    language: str | None = None
    target_language: str | None = None
    attempt: int | None = None
    repair_round: int | None = None
    source_code: str | None = None
    translated_code: str | None = None
    raw_reply: str | None = None
    record: str | None = None

    def to_row(self) -> dict[str, Any]:
        return row_from_dataclass(self, REJECTED_SCHEMA)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RejectedRow:
        return dataclass_from_row(cls, row)
