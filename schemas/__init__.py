"""The data contract every stage reads and writes (docs/design.md, "Data contract").

Each record kind has a pyarrow schema (with ``schema_version`` in its metadata) and a
frozen dataclass with ``to_row()`` / ``from_row()``. Nothing here imports the rest of the
project.
"""

from schemas._base import SCHEMA_VERSION, dumps, schema_version_of
from schemas.candidate import Candidate
from schemas.rejected import REJECTED_SCHEMA, RejectedRow
from schemas.release import RELEASE_SCHEMA, SPLITS, SYNTHCONL_COLUMNS, ReleaseRow
from schemas.repo_file import REPO_FILE_SCHEMA, RepoFile
from schemas.source_pair import SOURCE_PAIR_SCHEMA, SourcePair, TestCase, make_pair_id
from schemas.status import COMPILED_STATUSES, PROGRAM_STATUSES, ExecStatus, parse_status
from schemas.translation import TRANSLATION_SCHEMA, Translation
from schemas.verdict import VERDICT_SCHEMA, Verdict

__all__ = [
    "COMPILED_STATUSES",
    "PROGRAM_STATUSES",
    "REJECTED_SCHEMA",
    "RELEASE_SCHEMA",
    "REPO_FILE_SCHEMA",
    "SCHEMA_VERSION",
    "SOURCE_PAIR_SCHEMA",
    "SPLITS",
    "SYNTHCONL_COLUMNS",
    "TRANSLATION_SCHEMA",
    "VERDICT_SCHEMA",
    "Candidate",
    "ExecStatus",
    "RejectedRow",
    "ReleaseRow",
    "RepoFile",
    "SourcePair",
    "TestCase",
    "Translation",
    "Verdict",
    "dumps",
    "make_pair_id",
    "parse_status",
    "schema_version_of",
]
