"""``SourcePair``: one text-to-code pair as it enters the pipeline (docs/design.md, "Data contract")."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pyarrow as pa

from schemas._base import dataclass_from_row, row_from_dataclass, versioned


@dataclasses.dataclass(frozen=True, slots=True)
class TestCase:
    """One (arguments, expected result) example usable as a test of the source function.

    Both fields are Python literal source text (``ast.literal_eval`` reads them back):
    ``args`` is the tuple of positional arguments, ``expected`` the return value.
    ``origin`` says where the case came from: ``doctest``, ``humaneval`` or ``generated``.
    """

    __test__ = False  # not a pytest class

    args: str
    expected: str
    origin: str = "doctest"


TEST_CASE_TYPE = pa.struct(
    [
        pa.field("args", pa.string(), nullable=False),
        pa.field("expected", pa.string(), nullable=False),
        pa.field("origin", pa.string(), nullable=False),
    ]
)

SOURCE_PAIR_SCHEMA = versioned(
    pa.schema(
        [
            pa.field("pair_id", pa.string(), nullable=False),
            pa.field("repository_name", pa.string(), nullable=False),
            pa.field("func_path_in_repository", pa.string(), nullable=False),
            pa.field("func_name", pa.string(), nullable=False),
            pa.field("language", pa.string(), nullable=False),
            pa.field("code", pa.string(), nullable=False),
            pa.field("docstring", pa.string(), nullable=False),
            pa.field("url", pa.string()),
            pa.field("sha", pa.string()),
            pa.field("license", pa.string()),
            pa.field("partition", pa.string()),
            pa.field("tests", pa.list_(TEST_CASE_TYPE)),
        ]
    ),
    "source_pair",
)


def make_pair_id(repository_name: str, path: str, func_name: str, code: str) -> str:
    """Stable id: sha1 of repo, path, function name and code (16 hex digits).

    Stable across runs and workers, so caches and resumes can key on it.
    """
    h = hashlib.sha1()
    for part in (repository_name, path, func_name, code):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


@dataclasses.dataclass(frozen=True, slots=True)
class SourcePair:
    """A function with its documentation, from CSN, the Hub, a repository or the sample."""

    pair_id: str
    repository_name: str
    func_path_in_repository: str
    func_name: str
    language: str
    code: str
    docstring: str
    url: str | None = None
    sha: str | None = None
    license: str | None = None
    partition: str | None = None
    tests: tuple[TestCase, ...] = ()

    @classmethod
    def create(cls, **fields: Any) -> SourcePair:
        """Build a pair, computing ``pair_id`` from repo, path, name and code."""
        tests = tuple(
            t if isinstance(t, TestCase) else TestCase(**t) for t in fields.pop("tests", ())
        )
        pair_id = make_pair_id(
            fields["repository_name"],
            fields["func_path_in_repository"],
            fields["func_name"],
            fields["code"],
        )
        return cls(pair_id=pair_id, tests=tests, **fields)

    def to_row(self) -> dict[str, Any]:
        return row_from_dataclass(self, SOURCE_PAIR_SCHEMA)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SourcePair:
        record = dataclass_from_row(cls, row)
        tests = tuple(
            t if isinstance(t, TestCase) else TestCase(**t) for t in (row.get("tests") or ())
        )
        return dataclasses.replace(record, tests=tests)
