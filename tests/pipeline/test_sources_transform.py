"""``ReadSource`` under Beam: tagged outputs, sharding by file, counters in namespace ``source``."""

from __future__ import annotations

import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.sources import (
    ReadSource,
    SourceConfig,
    SourceError,
    SourceStats,
    read_source,
    resolve_spec,
)
from pipeline.sources.spec import expand_unit
from schemas import RELEASE_SCHEMA, ReleaseRow

INC = 'def inc(x: int) -> int:\n    """Add one.\n\n    >>> inc(1)\n    2\n    >>> inc(x=1)\n    2\n    """\n    return x + 1\n'


def row(i: int, **over) -> dict:
    r = {
        "repo": f"o/r{i % 3}",
        "path": f"m{i}.py",
        "func_name": "inc",
        "language": "python",
        "code": INC,
        "docstring": "Add one.",
        "sha": None,
        "url": None,
        "partition": "train",
    }
    r.update(over)
    return r


def counters(result) -> dict[str, int]:
    metrics = result.metrics().query(MetricsFilter().with_namespace("source"))
    return {m.key.metric.name: m.committed for m in metrics["counters"]}


def test_read_source_sharded_by_file_with_tagged_outputs(tmp_path):
    for shard in range(3):
        lines = [json.dumps(row(10 * shard + i)) for i in range(4)]
        lines.append("{broken" if shard == 1 else json.dumps(row(99 + shard, language="cobol")))
        (tmp_path / f"part-{shard}.jsonl").write_text("\n".join(lines) + "\n")
    spec = f"csn:{tmp_path}"
    transform = ReadSource(spec)
    assert len(transform.units) == 3  # one unit per file: the read is spread over workers
    expected = [r for r in read_source(spec)]
    pairs = sorted(r.pair_id for r in expected if hasattr(r, "tests"))
    reasons = sorted(r.reason for r in expected if hasattr(r, "stage"))

    p = BeamTestPipeline()
    out = p | transform
    assert_that(out["pairs"] | beam.Map(lambda r: r.pair_id), equal_to(pairs), label="Pairs")
    assert_that(out["rejected"] | beam.Map(lambda r: r.reason), equal_to(reasons), label="Rejected")
    assert_that(out["candidates"], equal_to([]), label="NoCandidates")
    result = p.run()
    result.wait_until_finish()
    assert len(pairs) == 12 and reasons == [
        "malformed_json",
        "unknown_language",
        "unknown_language",
    ]
    c = counters(result)
    assert c["total"] == 15 and c["kept"] == 12 and c["dropped"] == 3
    assert c["dropped_unknown_language"] == 2 and c["dropped_malformed_json"] == 1
    assert c["tests_extracted"] == 12 and c["tests_skipped"] == 12 and c["pairs_with_tests"] == 12


def test_synthconl_release_shard_goes_to_candidates(tmp_path):
    rows = [
        ReleaseRow(
            repository_name="o/r",
            func_path_in_repository="m.py",
            language2=target,
            func2=code,
            language1_CSN="python",
            func1_CSN=INC,
            func_documentation_string="Add one.",
            func_code_url=None,
            pair_id="00ff00ff00ff00ff",
            translator="vllm:Qwen/Qwen2.5-Coder-7B-Instruct",
            split="train",
        ).to_row()
        for target, code in (
            ("go", "func inc(x int) int {\n\treturn x + 1\n}\n"),
            ("ruby", "def inc(x)\n  x + 1\nend\n"),
        )
    ]
    pq.write_table(
        pa.Table.from_pylist(rows, schema=RELEASE_SCHEMA), tmp_path / "train-00000-of-00001.parquet"
    )
    p = BeamTestPipeline()
    out = p | ReadSource(f"synthconl:{tmp_path}")
    keys = out["candidates"] | beam.Map(
        lambda c: (c.key, c.translation.translator, len(c.pair.tests))
    )
    assert_that(
        keys,
        equal_to(
            [
                ("00ff00ff00ff00ff/go/0", "vllm:Qwen/Qwen2.5-Coder-7B-Instruct", 1),
                ("00ff00ff00ff00ff/ruby/0", "vllm:Qwen/Qwen2.5-Coder-7B-Instruct", 1),
            ]
        ),
    )
    assert_that(out["pairs"], equal_to([]), label="NoPairs")
    p.run().wait_until_finish()


def test_bad_spec_fails_when_the_transform_is_built():
    with pytest.raises(SourceError):
        ReadSource("csn:/nonexistent/x.jsonl")
    assert len(resolve_spec("sample")) == 1


def test_repository_is_read_one_file_per_unit(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.py").write_text(
            f'def {name}(x):\n    """Return x scaled by two here."""\n    y = 2 * x\n    return y\n'
        )
    (tmp_path / "notes.txt").write_text("not code\n")
    transform = ReadSource(f"repo:{tmp_path}")
    assert [u.kind for u in transform.units] == ["repo_root"]  # walking is left to the workers
    files = list(expand_unit(transform.units[0], SourceConfig(), SourceStats()))
    assert [(u.kind, u.location) for u in files] == [("repo", "a.py"), ("repo", "b.py")]
    p = BeamTestPipeline()
    out = p | transform
    assert_that(
        out["pairs"] | beam.Map(lambda r: (r.func_name, r.repository_name)),
        equal_to([("a", tmp_path.name), ("b", tmp_path.name)]),
    )
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}
    assert counters["files_read"] == 2 and counters["files_skipped_unknown_language"] == 1
    assert counters["repositories"] == 1
