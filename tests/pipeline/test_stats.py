"""``RunStats`` is stats.json as a typed record, and ``StageFn`` the stages' shared counters."""

from __future__ import annotations

import json

import apache_beam as beam

from pipeline.stage import StageFn
from pipeline.stats import Accounting, RunStats, StageCount, beam_metrics

#: A stats.json as ``pipeline.run`` writes it: every key, in the file's order.
FULL = {
    "run_id": "20260101T000000-abcd",
    "schema_version": "1.2",
    "started_at": "2026-01-01T00:00:00+00:00",
    "finished_at": "2026-01-01T00:01:00+00:00",
    "wall_s": 60.0,
    "runner": "DirectRunner",
    "translator": "py2many",
    "target_languages": ["cpp", "go", "rust"],
    "config": {"source": "sample", "seed": 1234, "split_fractions": [0.8, 0.1, 0.1]},
    "sandbox": {"requested": "bwrap", "backend": "bwrap", "warning": None},
    "translation": {"requests": 3},
    "released_rows": 2,
    "rejected_rows": 1,
    "splits": {"train": 2, "validation": 0, "test": 0},
    "translators": {"py2many (prompt none)": 2},
    "licenses": {"mit": 2},
    "repositories_per_split": {"train": 1, "validation": 0, "test": 0},
    "stages": [{"stage": "source", "in": 2, "out": 1, "rejected": 1}],
    "rejection_reasons": {"source": {"too_large": 1}},
    "language_matrix": {"python": {"go": 2}},
    "verdicts": {"go": {"passed": 2}},
    "dedup": {"exact_duplicate_rows": 0, "near_duplicate_rows": 0, "contaminated_rows": {}},
    "stage_rates": {
        "stages": [
            {
                "stage": "source",
                "in": 2,
                "out": 1,
                "busy_s": 0.1,
                "rows_per_s": 20.0,
                "cpu_s": 0.2,
                "cpu_s_per_released_row": 0.1,
            }
        ],
        "cpu_s": 0.2,
    },
    "source_files": {},
    "repo_corpus": {},
    "accounting": {
        "source_rows": 2,
        "pairs": 1,
        "ready_candidates": 0,
        "rejected_at_source": 1,
        "translation_requests": 2,
        "released_rows": 2,
        "rejected_after_source": 0,
        "source_balanced": True,
        "flow_balanced": True,
        "balanced": True,
    },
    "metrics": {"counters": {"ledger/pairs": 1}, "distributions": {}},
}


def test_a_stats_file_round_trips_unchanged_key_order_included():
    stats = RunStats.from_json(json.loads(json.dumps(FULL)))
    assert stats.stages == [StageCount("source", 2, 1, 1)]
    assert isinstance(stats.accounting, Accounting) and stats.accounting.balanced
    assert stats.sandbox.backend == "bwrap" and stats.dedup.near_duplicate_rows == 0
    assert json.dumps(stats.to_json()) == json.dumps(FULL)


def test_unknown_keys_survive_and_missing_ones_read_as_absent():
    stats = RunStats.from_json({**FULL, "added_later": {"x": 1}})
    assert stats.to_json()["added_later"] == {"x": 1}
    minimal = RunStats.from_json({"run_id": "r", "splits": {"train": 1}})
    assert (minimal.run_id, minimal.splits, minimal.released_rows, minimal.accounting) == (
        "r",
        {"train": 1},
        None,
        None,
    )
    assert "wall_s" not in minimal.to_json()  # run facts not given stay out of the file
    older = {k: v for k, v in FULL.items() if k != "stage_rates"}  # a file from before the rates
    assert json.dumps(RunStats.from_json(older).to_json()) == json.dumps(older)


class _Halves(StageFn):
    NAMESPACE = "halves"

    def process(self, n):
        self.seen()
        with self.timed():
            even = n % 2 == 0
        if even:
            yield self.keep(n)
        else:
            yield self.reject(n, "odd")


def test_stage_fn_counts_kept_and_rejected_by_reason():
    p = beam.Pipeline("DirectRunner")
    out = p | beam.Create(range(5)) | beam.ParDo(_Halves()).with_outputs("rejected", main="kept")
    _ = out.kept, out.rejected
    counters = beam_metrics(p.run())["counters"]
    assert {k: v for k, v in counters.items() if k.startswith("halves/")} == {
        "halves/total": 5,
        "halves/kept": 3,
        "halves/dropped": 2,
        "halves/dropped_odd": 2,
    }
