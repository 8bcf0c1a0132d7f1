"""Shared core of the source readers: config, errors, reasons, languages and row validation.

Every reader turns its raw rows into plain field dicts and hands them to ``make_pair``, so
the checks that keep bad input out of the pipeline (missing fields, unknown language, empty
or oversized code, empty documentation) are written once and give the same ``RejectedRow``
(stage ``source``) whatever the source.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import inspect
from typing import Any

import languages
from pipeline.settings import setting
from pipeline.sources.doctests import doctest_cases_counted
from pipeline.sources.license_policy import LicensePolicy, parse_license_policy
from schemas import Candidate, RejectedRow, SourcePair, TestCase, dumps

STAGE = "source"

#: Default cap on one source function (UTF-8 bytes). CodeSearchNet functions are a few KB at
#: most; 100 KB keeps generated or minified blobs out while leaving any real function in. The
#: pipeline's ``--max_code_bytes`` overrides it.
DEFAULT_MAX_CODE_BYTES = 100_000

#: How much of a rejected row's raw text or code is kept in ``rejected/`` (enough to find it).
KEEP_CHARS = 2_000


class SourceError(Exception):
    """The source as a whole cannot be read (unknown spec, missing file, unusable dataset).

    Raised before the pipeline runs; its message is one line meant for the user.
    """


class Reason(enum.StrEnum):
    """Why a source row was rejected (the ``reason`` column of ``rejected/``)."""

    MALFORMED_JSON = "malformed_json"
    INVALID_UTF8 = "invalid_utf8"
    EMPTY_CODE = "empty_code"
    EMPTY_DOCSTRING = "empty_docstring"
    TOO_LARGE = "too_large"
    UNKNOWN_LANGUAGE = "unknown_language"
    MISSING_FIELD = "missing_field"
    DUPLICATE_PAIR = "duplicate_pair"
    READ_ERROR = "read_error"
    UNKNOWN_FORMAT = "unknown_format"
    LICENSE_UNKNOWN = "license_unknown"
    LICENSE_NOT_ALLOWED = "license_not_allowed"


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    """Settings of the source stage.

    Attributes:
        max_code_bytes: functions (and, for ``synthconl``, translations) larger than this
            many UTF-8 bytes are rejected as ``too_large``.
        hf_streaming: read ``hf:`` datasets with ``streaming=True`` (no full download first).
        max_repo_file_bytes: ``repo:`` files larger than this are not parsed (generated or
            minified code); they are counted as ``files_skipped_too_large``.
        licenses: which licenses pass (``--licenses``, see ``pipeline/sources/license_policy.py``;
            a policy string is parsed); a refused pair becomes a ``license_unknown`` or
            ``license_not_allowed`` row.
    """

    max_code_bytes: int = setting(
        DEFAULT_MAX_CODE_BYTES, type=int, help="larger source functions are rejected"
    )
    hf_streaming: bool = True
    max_repo_file_bytes: int = 2_000_000
    licenses: LicensePolicy = setting(
        LicensePolicy(),
        cli_default="any",
        parse=parse_license_policy,
        help="which source licenses pass: any | permissive | comma-separated SPDX ids (mit,apache-2.0); refused "
        "pairs are rejected as license_unknown / license_not_allowed",
    )

    def __post_init__(self) -> None:
        if self.max_code_bytes <= 0:
            raise ValueError(f"max_code_bytes must be positive, got {self.max_code_bytes}")
        if self.max_repo_file_bytes <= 0:
            raise ValueError(
                f"max_repo_file_bytes must be positive, got {self.max_repo_file_bytes}"
            )
        if isinstance(self.licenses, str):  # "permissive", "any" or "mit,apache-2.0"
            object.__setattr__(self, "licenses", parse_license_policy(self.licenses))
        if not isinstance(self.licenses, LicensePolicy):
            raise ValueError(
                f"licenses must be a LicensePolicy or a policy string, got {self.licenses!r}"
            )


@dataclasses.dataclass
class SourceStats:
    """Counts of one read (mutable on purpose: readers add to it as they go).

    ``total`` = ``kept`` + sum of ``dropped``; ``filtered`` counts functions a ``repo:``
    extraction passed over by CodeSearchNet's rules and ``files`` the files of a repository
    read or skipped (``read``, ``skipped_<reason>``); neither are rows, so not in ``total``.
    """

    total: int = 0
    kept: int = 0
    dropped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    filtered: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    files: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    repositories: int = 0
    #: ``(language, what) -> n`` for the per-language table of ``python -m pipeline.sources``:
    #: ``files_read`` and each ``filtered_<rule>`` (pure core only; not a Beam counter).
    by_language: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    tests_extracted: int = 0
    tests_skipped: int = 0
    pairs_with_tests: int = 0

    def observe(self, record: SourcePair | Candidate | RejectedRow) -> None:
        """Count one emitted record."""
        self.total += 1
        if isinstance(record, RejectedRow):
            self.dropped[record.reason] += 1
        else:
            self.kept += 1
            pair = record.pair if isinstance(record, Candidate) else record
            self.pairs_with_tests += bool(pair.tests)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "kept": self.kept,
            "dropped": sum(self.dropped.values()),
            **{f"dropped_{k}": v for k, v in sorted(self.dropped.items())},
            **{f"filtered_{k}": v for k, v in sorted(self.filtered.items())},
            **({"repositories": self.repositories} if self.repositories else {}),
            **{f"files_{k}": v for k, v in sorted(self.files.items())},
            "tests_extracted": self.tests_extracted,
            "tests_skipped": self.tests_skipped,
            "pairs_with_tests": self.pairs_with_tests,
        }


# --- languages -----------------------------------------------------------------------------

#: Languages a pair may be in: the language registry's (``languages/``).
LANGUAGES: tuple[str, ...] = languages.NAMES


def normalize_language(name: object) -> str | None:
    """Canonical lowercase language name (``Python`` -> ``python``, ``C++`` -> ``cpp``), or None.

    Names and aliases come from the language registry.
    """
    return languages.canonical(name) if isinstance(name, str) else None


# --- text helpers --------------------------------------------------------------------------


def first_paragraph(doc: str) -> str:
    """The documentation's first paragraph, lines joined by spaces.

    CodeSearchNet "truncated all documentation to the first full paragraph" (Husain et al.
    2019, arXiv:1909.09436, section 2.2); we also stop at the first doctest prompt (``>>>``)
    or Javadoc-style tag (``@param``), which start the examples and the parameter list.
    """
    lines: list[str] = []
    for raw in inspect.cleandoc(doc).splitlines():
        line = raw.strip()
        if not line:
            if lines:
                break
            continue
        if line.startswith(">>>") or (line.startswith("@") and lines):
            break
        lines.append(line)
    return " ".join(lines)


def clip(text: str | None, limit: int = KEEP_CHARS) -> str | None:
    """``text`` cut to ``limit`` characters (rejected rows keep a bounded excerpt)."""
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} more characters]"


# --- rejections ----------------------------------------------------------------------------


def reject(reason: Reason | str, where: str, message: str, **known: Any) -> RejectedRow:
    """A stage-``source`` rejected row: ``detail`` is ``where: message`` (``file:line``)."""
    code = known.pop("source_code", None)
    translated = known.pop("translated_code", None)
    record = known.pop("record", None)
    return RejectedRow(
        stage=STAGE,
        reason=str(reason),
        detail=f"{where}: {message}",
        source_code=clip(code),
        translated_code=clip(translated),
        record=clip(
            record if isinstance(record, str) or record is None else _dump_record(record), 10_000
        ),
        **known,
    )


def _dump_record(record: Any) -> str:
    try:
        return dumps(record)
    except (TypeError, ValueError):
        return repr(record)


# --- building pairs ------------------------------------------------------------------------

#: Fields every pair needs (SourcePair names), as filled in by the readers.
REQUIRED: tuple[str, ...] = (
    "repository_name",
    "func_path_in_repository",
    "func_name",
    "language",
    "code",
    "docstring",
)


def make_pair(
    fields: dict[str, Any], where: str, config: SourceConfig, stats: SourceStats, raw: Any = None
) -> SourcePair | RejectedRow:
    """Validate ``fields`` (SourcePair names) and build the pair, tests included.

    ``fields`` may carry ``tests`` (already known cases) and ``pair_id`` (kept as given, for
    rows that already have one, such as our release shards). Python pairs without tests get
    them from their doctests. Returns a ``RejectedRow`` on bad input, never raises.
    """
    known = {
        "repository_name": _str_or_none(fields.get("repository_name")),
        "func_path_in_repository": _str_or_none(fields.get("func_path_in_repository")),
        "func_name": _str_or_none(fields.get("func_name")),
        "language": _str_or_none(fields.get("language")),
        "source_code": _str_or_none(fields.get("code")),
        "record": raw,
    }
    missing = [name for name in REQUIRED if not isinstance(fields.get(name), str)]
    if missing:
        return reject(
            Reason.MISSING_FIELD,
            where,
            f"missing or non-string field(s) {', '.join(missing)}",
            **known,
        )
    language = normalize_language(fields["language"])
    if language is None:
        return reject(
            Reason.UNKNOWN_LANGUAGE,
            where,
            f"language {fields['language']!r} is not one of {', '.join(LANGUAGES)}",
            **known,
        )
    code: str = fields["code"]
    if not code.strip():
        return reject(Reason.EMPTY_CODE, where, "the function's code is empty", **known)
    size = len(code.encode("utf-8", "surrogatepass"))
    if size > config.max_code_bytes:
        return reject(
            Reason.TOO_LARGE,
            where,
            f"code is {size} bytes, over the {config.max_code_bytes}-byte limit",
            **known,
        )
    if not fields["docstring"].strip():
        return reject(Reason.EMPTY_DOCSTRING, where, "the function has no documentation", **known)
    refused = config.licenses.check(_str_or_none(fields.get("license")))
    if refused is not None:
        return reject(refused[0], where, refused[1], **known)

    tests = tuple(_tests(fields.get("tests")))
    if not tests and language == "python":
        cases, skipped = doctest_cases_counted(code, fields["func_name"], fields["docstring"])
        tests = tuple(cases)
        stats.tests_extracted += len(cases)
        stats.tests_skipped += skipped
    values = {
        "repository_name": fields["repository_name"],
        "func_path_in_repository": fields["func_path_in_repository"],
        "func_name": fields["func_name"],
        "language": language,
        "code": code,
        "docstring": fields["docstring"],
        "url": _str_or_none(fields.get("url")),
        "sha": _str_or_none(fields.get("sha")),
        "license": _str_or_none(fields.get("license")),
        "partition": _str_or_none(fields.get("partition")),
        "tests": tests,
    }
    pair_id = _str_or_none(fields.get("pair_id"))
    if pair_id:
        return SourcePair(pair_id=pair_id, **values)
    return SourcePair.create(**values)


def _tests(value: Any) -> list[TestCase]:
    out = []
    for t in value or ():
        if isinstance(t, TestCase):
            out.append(t)
        elif (
            isinstance(t, dict)
            and isinstance(t.get("args"), str)
            and isinstance(t.get("expected"), str)
        ):
            out.append(TestCase(t["args"], t["expected"], t.get("origin") or "doctest"))
    return out


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
