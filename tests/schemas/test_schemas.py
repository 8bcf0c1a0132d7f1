"""The data contract: schemas, round trips, versioning and the status vocabulary."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import schemas
from schemas import (
    PROGRAM_STATUSES,
    REJECTED_SCHEMA,
    RELEASE_SCHEMA,
    SOURCE_PAIR_SCHEMA,
    SYNTHCONL_COLUMNS,
    Candidate,
    ExecStatus,
    SourcePair,
    Translation,
    Verdict,
    parse_status,
    schema_version_of,
)


def _pair(**kw):
    fields = dict(
        repository_name="org/repo",
        func_path_in_repository="m.py",
        func_name="add",
        language="python",
        code="def add(a: int, b: int) -> int:\n    return a + b\n",
        docstring="Add two numbers.",
        tests=[{"args": "(1, 2)", "expected": "3", "origin": "doctest"}],
    )
    fields.update(kw)
    return SourcePair.create(**fields)


def test_release_row_starts_with_synthconl_columns():
    assert tuple(RELEASE_SCHEMA.names[:8]) == SYNTHCONL_COLUMNS
    assert {
        "pair_id",
        "license",
        "translator",
        "parse_ok",
        "exec_status",
        "tests_passed",
        "tests_total",
        "dedup_cluster",
        "split",
    } <= set(RELEASE_SCHEMA.names)


@pytest.mark.parametrize(
    "schema",
    [
        SOURCE_PAIR_SCHEMA,
        RELEASE_SCHEMA,
        REJECTED_SCHEMA,
        schemas.TRANSLATION_SCHEMA,
        schemas.VERDICT_SCHEMA,
    ],
)
def test_every_schema_carries_its_version_into_parquet(tmp_path, schema):
    path = tmp_path / "x.parquet"
    pq.write_table(schema.empty_table(), path)
    assert schema_version_of(pq.read_schema(path)) == schemas.SCHEMA_VERSION


def test_pair_id_is_stable_and_depends_on_code():
    assert _pair().pair_id == _pair().pair_id
    assert _pair().pair_id != _pair(code="def add(a, b):\n    return b + a\n").pair_id


def test_source_pair_round_trips_through_parquet(tmp_path):
    pair = _pair()
    path = tmp_path / "p.parquet"
    pq.write_table(pa.Table.from_pylist([pair.to_row()], schema=SOURCE_PAIR_SCHEMA), path)
    assert SourcePair.from_row(pq.read_table(path).to_pylist()[0]) == pair


def test_candidate_becomes_release_or_rejected_row_without_losing_fields():
    pair = _pair()
    tr = Translation(
        pair_id=pair.pair_id,
        target_language="go",
        code="func add(a, b int) int { return a + b }",
        translator="py2many:0.9",
        raw_reply="raw",
    )
    verdict = Verdict(
        pair.pair_id,
        "go",
        parse_ok=True,
        exec_status=ExecStatus.PASSED,
        tests_passed=1,
        tests_total=1,
    )
    cand = Candidate(pair, tr, verdict)
    row = cand.to_release_row().to_row()
    pa.Table.from_pylist([row], schema=RELEASE_SCHEMA)  # conforms
    assert (row["language1_CSN"], row["language2"], row["exec_status"]) == (
        "python",
        "go",
        "passed",
    )
    rej = cand.reject("execute", "failed", "case 1").to_row()
    pa.Table.from_pylist([rej], schema=REJECTED_SCHEMA)
    assert (
        rej["translated_code"] == tr.code
        and rej["raw_reply"] == "raw"
        and '"verdict"' in rej["record"]
    )


def test_status_vocabulary_is_one_enum():
    assert {s.value for s in PROGRAM_STATUSES} == {
        "ok",
        "compile_error",
        "runtime_error",
        "timeout",
        "memory_exceeded",
        "output_exceeded",
        "sandbox_error",
    }
    assert parse_status("passed") is ExecStatus.PASSED
    with pytest.raises(ValueError, match="valid: ok"):
        parse_status("crashed")


def test_repair_columns_and_a_rejected_row_turns_back_into_its_candidate():
    """Schema 1.1: which repair round produced a row; a rejected row keeps its whole candidate,
    which the repair loop reads back to continue the conversation."""
    assert schemas.SCHEMA_VERSION == "1.1"
    assert "repair_round" in RELEASE_SCHEMA.names and "repair_round" in REJECTED_SCHEMA.names
    assert {"repair_round", "repair_of"} <= set(schemas.TRANSLATION_SCHEMA.names)
    assert "feedback" in schemas.VERDICT_SCHEMA.names
    pair = _pair()
    tr = Translation(
        pair_id=pair.pair_id,
        target_language="go",
        code="func Add() {}",
        translator="openai:m",
        raw_reply="```go\nfunc Add() {}\n```",
        repair_round=2,
        repair_of="compile_error",
    )
    verdict = Verdict(
        pair.pair_id,
        "go",
        parse_ok=True,
        exec_status=ExecStatus.FAILED,
        feedback='{"cases":[],"given_failed":0,"held_out_failed":true}',
    )
    cand = Candidate(pair, tr, verdict)
    assert cand.to_release_row().repair_round == 2
    row = cand.reject("execute", "failed")
    assert row.repair_round == 2
    assert Candidate.from_rejected(row) == cand
    assert Candidate(pair).reject("source", "empty_code").repair_round is None
    with pytest.raises(ValueError, match="keeps no record"):
        Candidate.from_rejected(schemas.RejectedRow(stage="source", reason="x"))
