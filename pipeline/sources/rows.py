"""Row shapes the file and Hub readers accept, and their conversion to pairs and candidates.

Shapes (detected from the column names; see docs/sources.md):

* ``csn``: CodeSearchNet's JSONL (``repo``, ``path``, ``func_name``, ``original_string``,
  ``language``, ``code``, ``docstring``, ``sha``, ``url``, ``partition``), also the bundled
  sample, which adds ``license``.
* ``csn_hub``: the Hub's ``code_search_net`` columns (``repository_name``,
  ``func_path_in_repository``, ``func_name``, ``whole_func_string``/``func_code_string``,
  ``func_documentation_string``, ``func_code_url``, ``split_name``).
* ``source_pair``: ``schemas.SOURCE_PAIR_SCHEMA`` columns.
* ``synthconl``: SynthCoNL's eight columns (our release rows have them first).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pipeline.sources.core import (
    LANGUAGES,
    Reason,
    SourceConfig,
    SourceStats,
    make_pair,
    normalize_language,
    reject,
)
from pipeline.sources.names import function_name
from schemas import SYNTHCONL_COLUMNS, Candidate, RejectedRow, SourcePair, Translation

SHAPES: tuple[str, ...] = ("source_pair", "synthconl", "csn_hub", "csn")

_SOURCE_PAIR_COLUMNS = frozenset(
    {"repository_name", "func_path_in_repository", "func_name", "language", "code", "docstring"}
)
_CSN_HUB_COLUMNS = frozenset(
    {"repository_name", "func_path_in_repository", "language", "func_documentation_string"}
)


def detect_shape(columns: Collection[str]) -> str | None:
    """Which row shape these columns are (``SHAPES``), or None if none fits."""
    cols = set(columns)
    if set(SYNTHCONL_COLUMNS) <= cols:
        return "synthconl"
    if _SOURCE_PAIR_COLUMNS <= cols:
        return "source_pair"
    if _CSN_HUB_COLUMNS <= cols and cols & {"whole_func_string", "func_code_string"}:
        return "csn_hub"
    if {"repo", "path", "language"} <= cols and cols & {"code", "original_string"}:
        return "csn"
    return None


def pair_fields(row: dict[str, Any], shape: str) -> dict[str, Any]:
    """``row`` (of ``shape``) mapped onto SourcePair field names; absent fields stay absent."""
    if shape == "source_pair":
        return dict(row)
    if shape == "csn":
        code = row.get("code")
        if not isinstance(code, str) or not code.strip():
            code = row.get("original_string", code)
        return _present(
            repository_name=row.get("repo"),
            func_path_in_repository=row.get("path"),
            func_name=row.get("func_name"),
            language=row.get("language"),
            code=code,
            docstring=row.get("docstring"),
            url=row.get("url"),
            sha=row.get("sha"),
            license=row.get("license"),
            partition=row.get("partition"),
        )
    if shape == "csn_hub":
        code = row.get("whole_func_string") or row.get("func_code_string")
        return _present(
            repository_name=row.get("repository_name"),
            func_path_in_repository=row.get("func_path_in_repository"),
            func_name=row.get("func_name"),
            language=row.get("language"),
            code=code,
            docstring=row.get("func_documentation_string"),
            url=row.get("func_code_url"),
            license=row.get("license"),
            partition=row.get("split_name") or row.get("partition"),
        )
    if shape == "synthconl":
        return _synthconl_source_fields(row)
    raise ValueError(f"unknown row shape {shape!r}; valid: {', '.join(SHAPES)}")


def row_to_pair(
    row: dict[str, Any], shape: str, where: str, config: SourceConfig, stats: SourceStats
) -> SourcePair | RejectedRow:
    """One row of a pair-shaped source (``csn``, ``csn_hub``, ``source_pair``, ``synthconl``)."""
    return make_pair(pair_fields(row, shape), where, config, stats, raw=row)


def row_to_candidate(
    row: dict[str, Any], where: str, config: SourceConfig, stats: SourceStats
) -> Candidate | RejectedRow:
    """One SynthCoNL/release row as a ready-made candidate (validate-only mode).

    The source side (``func1_CSN`` in ``language1_CSN``, with the documentation) becomes the
    pair, tests from its doctests when it is Python; ``func2`` in ``language2`` becomes the
    translation, with the row's ``translator`` column if it has one, else ``synthconl``.
    """
    pair = make_pair(_synthconl_source_fields(row), where, config, stats, raw=row)
    if isinstance(pair, RejectedRow):
        return pair
    known = {
        "pair_id": pair.pair_id,
        "repository_name": pair.repository_name,
        "func_path_in_repository": pair.func_path_in_repository,
        "func_name": pair.func_name,
        "language": pair.language,
        "source_code": pair.code,
        "record": row,
    }
    target_raw, code = row.get("language2"), row.get("func2")
    if not isinstance(target_raw, str) or not isinstance(code, str):
        missing = [
            n for n, v in (("language2", target_raw), ("func2", code)) if not isinstance(v, str)
        ]
        return reject(
            Reason.MISSING_FIELD,
            where,
            f"missing or non-string field(s) {', '.join(missing)}",
            **known,
        )
    target = normalize_language(target_raw)
    known["target_language"] = target or target_raw
    known["translated_code"] = code
    if target is None:
        return reject(
            Reason.UNKNOWN_LANGUAGE,
            where,
            f"language2 {target_raw!r} is not one of {', '.join(LANGUAGES)}",
            **known,
        )
    if not code.strip():
        return reject(Reason.EMPTY_CODE, where, "the translation (func2) is empty", **known)
    size = len(code.encode("utf-8", "surrogatepass"))
    if size > config.max_code_bytes:
        return reject(
            Reason.TOO_LARGE,
            where,
            f"func2 is {size} bytes, over the {config.max_code_bytes}-byte limit",
            **known,
        )
    attempt = row.get("attempt")
    translation = Translation(
        pair_id=pair.pair_id,
        target_language=target,
        code=code,
        translator=row.get("translator") or "synthconl",
        prompt_version=row.get("prompt_version") or "none",
        attempt=attempt if isinstance(attempt, int) else 0,
    )
    return Candidate(pair=pair, translation=translation)


def _synthconl_source_fields(row: dict[str, Any]) -> dict[str, Any]:
    language, code = row.get("language1_CSN"), row.get("func1_CSN")
    name = row.get("func_name")
    if not isinstance(name, str) and isinstance(code, str):
        name = function_name(normalize_language(language) or "", code) or ""
    return _present(
        repository_name=row.get("repository_name"),
        func_path_in_repository=row.get("func_path_in_repository"),
        func_name=name,
        language=language,
        code=code,
        docstring=row.get("func_documentation_string"),
        url=row.get("func_code_url"),
        license=row.get("license"),
        pair_id=row.get("pair_id"),
        partition=row.get("split"),
    )


def _present(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}
