"""Throughput plumbing: sandbox batches of one target language, per-stage CPU credits, and the
per-stage rates of ``stats.json`` (end to end: ``tests/pipeline/test_run.py``)."""

from __future__ import annotations

import logging

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import GlobalWindow

from pipeline import progress
from pipeline.execute import BatchByTarget
from pipeline.stats import RATE_STAGES, stage_rates
from schemas import Candidate, RejectedRow, SourcePair, Translation, Verdict


def _cand(i: int, language: str) -> Candidate:
    p = SourcePair.create(
        repository_name="t/repo",
        func_path_in_repository="m.py",
        func_name=f"f{i}",
        language="python",
        code=f"def f{i}(n):\n    return n\n",
        docstring="doc",
    )
    return Candidate(
        p,
        Translation(p.pair_id, language, "code", "test:hand"),
        Verdict(p.pair_id, language, 0, parse_ok=True),
    )


def _langs(batch) -> list[str]:
    return [c.translation.target_language for c in batch]


def test_batches_hold_one_target_language_and_fill_up_before_they_go():
    fn = BatchByTarget(batch_size=3)
    fn.start_bundle()
    stream = [
        _cand(i, lang)
        for i, lang in enumerate(["go", "rust", "go", "cpp", "go", "rust", "go", "rust"])
    ]
    window = GlobalWindow()
    full = [batch for c in stream for batch in fn.process(c, window=window)]
    rest = [wv.value for wv in fn.finish_bundle()]
    assert [_langs(b) for b in full] == [["go", "go", "go"], ["rust", "rust", "rust"]]
    assert sorted(_langs(b)[0] for b in rest) == ["cpp", "go"] and all(
        len(set(_langs(b))) == 1 for b in rest
    )
    assert sorted(c.pair.func_name for b in full + rest for c in b) == sorted(
        c.pair.func_name for c in stream
    )
    assert all(wv.windows == (window,) for wv in fn.finish_bundle()) and not list(
        fn.finish_bundle()
    )


def test_batch_by_target_in_a_pipeline_loses_nothing():
    stream = [_cand(i, ("go", "rust", "cpp")[i % 3]) for i in range(20)]
    with test_pipeline.TestPipeline() as p:
        batches = p | beam.Create(stream) | beam.ParDo(BatchByTarget(batch_size=4))
        flat = batches | beam.FlatMap(
            lambda b: [(c.translation.target_language, c.pair.func_name) for c in b]
        )
        assert_that(
            flat, equal_to([(c.translation.target_language, c.pair.func_name) for c in stream])
        )
        mixed = batches | "Mixed" >> beam.Filter(
            lambda b: len(set(_langs(b))) != 1 or not 1 <= len(b) <= 4
        )
        assert_that(mixed, equal_to([]), label="NoMixedBatches")


def test_checkpoints_credit_the_cpu_since_the_last_one(monkeypatch):
    clock = iter([10.0, 10.5, 12.0])
    monkeypatch.setattr(progress, "process_cpu_s", lambda: next(clock))
    monkeypatch.setattr(progress, "_last_cpu", {})
    assert progress.checkpoint() == 0.0  # the first one starts the count
    assert progress.checkpoint() == pytest.approx(0.5)
    assert progress.checkpoint() == pytest.approx(1.5)


def test_rejected_rows_credit_their_own_stage(monkeypatch):
    credited = []
    fn = progress._ProgressFn("rejected", every_s=1e9, by_rejected_stage=True)
    fn.setup()
    monkeypatch.setattr(progress, "checkpoint", lambda: 0.25)
    monkeypatch.setattr(fn, "_credit", lambda stage, cpu: credited.append((stage, cpu)))
    row = RejectedRow(stage="translate", reason="translator_error", pair_id="p", language="python")
    assert list(fn.process(row)) == [row]
    assert credited == [("translate", 0.25)]


def _stages(**flow):
    names = ("source", "translate", "parse", "execute", "select", "dedup", "decontaminate")
    return [
        {"stage": s, "in": flow[s][0], "out": flow[s][1], "rejected": flow[s][0] - flow[s][1]}
        for s in names
    ]


def test_stage_rates_from_counters_and_step_times():
    stages = _stages(
        source=(10, 10),
        translate=(10, 8),
        parse=(8, 6),
        execute=(6, 3),
        select=(3, 3),
        dedup=(3, 2),
        decontaminate=(2, 2),
    )
    counters = {
        "progress/source_cpu_us": 1_000_000,
        "progress/translate_cpu_us": 8_000_000,
        "progress/parse_cpu_us": 500_000,
        "progress/execute_cpu_us": 2_000_000,
        "progress/dedup_cpu_us": 100_000,
        "progress/release_cpu_us": 300_000,
        "execute/sandbox_cpu_us": 6_000_000,
    }
    busy = {
        "Translate/Run": 4000,
        "CountRequests": 1000,
        "Execute/Run": 12000,
        "Execute/BatchByTarget": 0,
        "ReadSource/Read": 500,
        "DedupAndSplit/Exact": 200,
        "WriteRelease/Write": 900,
    }
    rates = stage_rates(
        stages, counters, busy, released=2, usage={"wall_s": 40.0, "process_cpu_s": 15.0}
    )
    rows = {r["stage"]: r for r in rates["stages"]}
    assert list(rows) == [*RATE_STAGES, "other"]
    assert rows["translate"] == {
        "stage": "translate",
        "in": 10,
        "out": 8,
        "busy_s": 5.0,
        "rows_per_s": 2.0,
        "cpu_s": 8.0,
        "cpu_s_per_released_row": 4.0,
    }
    assert (
        rows["execute"]["cpu_s"] == 8.0 and rows["execute"]["rows_per_s"] == 0.5
    )  # + the containers' 6 s
    assert (
        rows["finalize"]["cpu_s"] == 0.4
        and rows["finalize"]["in"] == 3
        and rows["finalize"]["out"] == 2
    )
    assert (
        rates["cpu_s"] == 21.0
        and rates["sandbox_cpu_s"] == 6.0
        and rates["cpu_s_per_released_row"] == 10.5
    )
    assert rows["other"]["cpu_s"] == pytest.approx(21.0 - 17.9)  # start-up, sinks, shuffles
    assert rows["select"]["busy_s"] == 0.0 and rows["select"]["rows_per_s"] is None
    assert rates["released_rows_per_s"] == 0.05


def test_without_step_times_busy_and_rates_are_unknown():
    stages = _stages(
        source=(1, 1),
        translate=(1, 1),
        parse=(1, 1),
        execute=(1, 1),
        select=(1, 1),
        dedup=(1, 1),
        decontaminate=(1, 1),
    )
    rates = stage_rates(stages, {}, {}, released=0, usage={})
    assert all(r["busy_s"] is None and r["rows_per_s"] is None for r in rates["stages"])
    assert rates["cpu_s_per_released_row"] is None


def _worker_record(level: int, message: str, location: str) -> logging.LogRecord:
    entry = (
        f'severity: INFO timestamp {{ seconds: 1 }} message: "{message}" instruction_id: "bundle_1" '
        f'transform_id: "X" log_location: "{location}:99" thread: "Thread-1"'
    )
    return logging.LogRecord(
        "apache_beam.runners.portability.local_job_service",
        level,
        "f",
        1,
        "Worker: %s",
        (entry,),
        None,
    )


def test_the_launcher_shows_the_workers_progress_lines_and_nothing_else_of_their_info():
    flt = progress._WorkerProgress()
    ours = _worker_record(
        logging.INFO, "[execute] 64 rows (2.0 rows/s, pid 7)", "/x/pipeline/progress.py"
    )
    assert flt.filter(ours) and ours.getMessage() == "worker: [execute] 64 rows (2.0 rows/s, pid 7)"
    assert not flt.filter(
        _worker_record(logging.INFO, "BatchElements statistics", "/x/apache_beam/util.py")
    )
    assert flt.filter(
        _worker_record(logging.WARNING, "Discarding unparseable args", "/x/apache_beam/o.py")
    )
