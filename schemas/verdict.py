"""``Verdict``: what parse check and sandbox said of one translation."""

from __future__ import annotations

import dataclasses
from typing import Any

import pyarrow as pa

from schemas._base import dataclass_from_row, row_from_dataclass, versioned
from schemas.status import ExecStatus

VERDICT_SCHEMA = versioned(
    pa.schema(
        [
            pa.field("pair_id", pa.string(), nullable=False),
            pa.field("target_language", pa.string(), nullable=False),
            pa.field("attempt", pa.int32(), nullable=False),
            pa.field("parse_ok", pa.bool_(), nullable=False),
            pa.field("parse_error", pa.string()),
            pa.field("exec_status", pa.string(), nullable=False),
            pa.field("tests_passed", pa.int32(), nullable=False),
            pa.field("tests_total", pa.int32(), nullable=False),
            pa.field("stderr_tail", pa.string()),
            pa.field("wall_s", pa.float64(), nullable=False),
            pa.field("feedback", pa.string()),
        ]
    ),
    "verdict",
)


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """Parse and execution outcome of a translation (status vocabulary in ``schemas.status``).

    ``feedback`` is canonical JSON of what the repair loop may show the model about a
    rejected run (``pipeline.feedback.run_facts``): the compiler's or the program's own
    messages with every line about a held-out test case removed, and the given cases that
    failed with what came back. None where there is nothing to tell (or nothing ran).
    """

    pair_id: str
    target_language: str
    attempt: int = 0
    parse_ok: bool = False
    parse_error: str | None = None
    exec_status: ExecStatus = ExecStatus.NOT_RUN
    tests_passed: int = 0
    tests_total: int = 0
    stderr_tail: str | None = None
    wall_s: float = 0.0
    feedback: str | None = None

    def to_row(self) -> dict[str, Any]:
        return row_from_dataclass(self, VERDICT_SCHEMA)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Verdict:
        record = dataclass_from_row(cls, row)
        return dataclasses.replace(record, exec_status=ExecStatus(record.exec_status))
