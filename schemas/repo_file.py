"""One whole source file of a repository: the corpus of the trainer's in-context loss.

MoSE pretrains with MLM plus in-context classification, which packs several snippets into one
context and asks whether they come from the same repository (docs/design.md, "The model"). That needs
whole repositories, not isolated functions: ``python -m pipeline.run ... --emit_repo_corpus``
(or ``python -m pipeline.sources.corpus``) writes these rows to ``repo_corpus/*.parquet``,
which ``python -m model.train --corpus=DIR/repo_corpus`` reads back grouped by repository.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pyarrow as pa

from schemas._base import dataclass_from_row, row_from_dataclass, versioned

REPO_FILE_SCHEMA = versioned(
    pa.schema(
        [
            pa.field("repository_name", pa.string(), nullable=False),
            pa.field("path", pa.string(), nullable=False),
            pa.field("language", pa.string(), nullable=False),
            pa.field("content", pa.string(), nullable=False),
            pa.field("size_bytes", pa.int64(), nullable=False),
            pa.field("license", pa.string()),
            pa.field("sha", pa.string()),
        ]
    ),
    "repo_file",
)


@dataclasses.dataclass(frozen=True, slots=True)
class RepoFile:
    """A source file of a repository, whole.

    Attributes:
        repository_name: ``org/name`` (from the git remote) or the directory's name.
        path: POSIX path inside the repository.
        language: canonical language name (``python``, ``cpp`` ...).
        content: the file's text (UTF-8).
        size_bytes: the file's size on disk.
        license: the repository's license as a lower-case SPDX expression, or None.
        sha: the checked-out commit, or None outside git.
    """

    repository_name: str
    path: str
    language: str
    content: str
    size_bytes: int
    license: str | None = None
    sha: str | None = None

    def to_row(self) -> dict[str, Any]:
        return row_from_dataclass(self, REPO_FILE_SCHEMA)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RepoFile:
        return dataclass_from_row(cls, row)
