"""Shared plumbing for record kinds: schema versioning and dataclass <-> row conversion."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeVar

import pyarrow as pa

#: Bump on any change to a schema's columns or their meaning; written into every file.
#: 1.1: ``repair_round`` (release and rejected rows, translations), ``repair_of``
#: (translations) and ``feedback`` (verdicts), for the repair loop (``--repair_rounds``).
SCHEMA_VERSION = "1.1"
SCHEMA_VERSION_KEY = b"schema_version"
RECORD_KIND_KEY = b"record_kind"

T = TypeVar("T")


def versioned(schema: pa.Schema, kind: str) -> pa.Schema:
    """Attach ``schema_version`` and ``record_kind`` to a schema's metadata."""
    return schema.with_metadata(
        {SCHEMA_VERSION_KEY: SCHEMA_VERSION.encode(), RECORD_KIND_KEY: kind.encode()}
    )


def schema_version_of(schema: pa.Schema) -> str | None:
    """The ``schema_version`` stored in a file's schema metadata, or None."""
    meta = schema.metadata or {}
    value = meta.get(SCHEMA_VERSION_KEY)
    return value.decode() if value is not None else None


def row_from_dataclass(record: Any, schema: pa.Schema) -> dict[str, Any]:
    """A row dict with exactly the schema's columns (every key filled: Beam issue 35791)."""
    out: dict[str, Any] = {}
    for field in schema:
        value = getattr(record, field.name)
        if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            value = [dataclasses.asdict(v) for v in value]
        elif isinstance(value, tuple):
            value = list(value)
        elif hasattr(value, "value") and isinstance(value.value, str):
            value = value.value  # enums
        out[field.name] = value
    return out


def dataclass_from_row(cls: type[T], row: dict[str, Any]) -> T:
    """Build ``cls`` from a row, ignoring unknown columns and defaulting missing ones."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in row.items() if k in names})


def dumps(value: Any) -> str:
    """Canonical JSON (sorted keys, no spaces): stable across workers for hashing/caching."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
