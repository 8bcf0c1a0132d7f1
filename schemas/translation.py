"""``Translation``: one translated program for one (pair, target language, attempt)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pyarrow as pa

from schemas._base import dataclass_from_row, row_from_dataclass, versioned

TRANSLATION_SCHEMA = versioned(
    pa.schema(
        [
            pa.field("pair_id", pa.string(), nullable=False),
            pa.field("target_language", pa.string(), nullable=False),
            pa.field("code", pa.string(), nullable=False),
            pa.field("translator", pa.string(), nullable=False),
            pa.field("prompt_version", pa.string(), nullable=False),
            pa.field("sampling", pa.string(), nullable=False),
            pa.field("attempt", pa.int32(), nullable=False),
            pa.field("latency_s", pa.float64(), nullable=False),
            pa.field("raw_reply", pa.string()),
            pa.field("repair_round", pa.int32(), nullable=False),
            pa.field("repair_of", pa.string()),
        ]
    ),
    "translation",
)


@dataclasses.dataclass(frozen=True, slots=True)
class Translation:
    """A translation of ``pair_id``'s code into ``target_language``.

    Attributes:
        translator: ``backend:model``, e.g. ``py2many:0.9`` or ``vllm:Qwen/Qwen2.5-Coder-7B-Instruct``.
        prompt_version: version of the prompt template (``none`` for rule-based backends).
        sampling: canonical JSON of the sampling parameters (temperature, max tokens, seed).
        attempt: 0-based sample index when several samples are drawn per target.
        raw_reply: the model's whole reply, kept so rejected rows can show it.
        repair_round: 0 for a first translation; r for the reply to the r-th feedback turn
            of the repair loop (``--repair_rounds``).
        repair_of: for a repair, the reason the first attempt was rejected (``parse_error``,
            ``compile_error``, ``failed`` ...); None for a first translation.
    """

    pair_id: str
    target_language: str
    code: str
    translator: str
    prompt_version: str = "none"
    sampling: str = "{}"
    attempt: int = 0
    latency_s: float = 0.0
    raw_reply: str | None = None
    repair_round: int = 0
    repair_of: str | None = None

    def to_row(self) -> dict[str, Any]:
        return row_from_dataclass(self, TRANSLATION_SCHEMA)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Translation:
        return dataclass_from_row(cls, row)
