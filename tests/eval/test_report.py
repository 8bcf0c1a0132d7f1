"""Evaluator + report on a stand-in encoder (test double): metrics.json, report.md, frontier.png."""

from __future__ import annotations

import json

import pytest

from eval.metrics import METRIC_NAMES
from eval.report import write_report
from eval.retrieval import EvalConfig, ModelResult, evaluate_bm25, evaluate_chance, evaluate_encoder
from eval.tasks import tasks_from_release
from tests.eval.shards import humaneval_rows, write_release_shards
from tests.eval.standin import StandInEncoder


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    root = write_release_shards(tmp_path_factory.mktemp("shards"), humaneval_rows(60))
    return tasks_from_release(root, "test")


def test_every_exit_has_every_metric_and_a_cost(tasks):
    config = EvalConfig(latency_items=16, latency_repeats=1)
    result = evaluate_encoder(StandInEncoder(), tasks, "standin", config=config)
    assert [e.exit for e in result.exits] == [1, 2]
    for e in result.exits:
        assert e.parameters == {1: 32, 2: 256}[e.exit]
        assert e.ms_per_item > 0 and e.items_per_s > 0
        assert set(e.tasks) == {t.name for t in tasks}
        for metrics in e.tasks.values():
            assert set(metrics) == set(METRIC_NAMES)
            assert all(0.0 <= v <= 1.0 for v in metrics.values())
    # wider hashing collides less: exit 2 retrieves translations at least as well as exit 1
    c2c = "code-to-code/source->translation"
    assert result.exits[1].tasks[c2c]["mrr"] >= result.exits[0].tasks[c2c]["mrr"]
    assert ModelResult.from_json(json.loads(json.dumps(result.to_json()))) == result


def test_report_files(tasks, tmp_path):
    config = EvalConfig(latency_items=8, latency_repeats=1)
    results = [
        evaluate_encoder(StandInEncoder(), tasks, "standin", config=config),
        evaluate_bm25(tasks),
        evaluate_chance(tasks),
    ]
    paths = write_report(tmp_path, results, tasks, {"data": "fixture", "split": "test"})
    doc = json.loads(paths["metrics"].read_text())
    assert [m["name"] for m in doc["models"]] == ["standin", "BM25", "chance"]
    assert {t["name"] for t in doc["tasks"]} == {t.name for t in tasks}
    assert all(t["pool_size"] > 0 and t["ranking"] == "full pool" for t in doc["tasks"])
    report = paths["report"].read_text()
    for task in tasks:
        assert f"## {task.name}" in report
    assert report.count("| BM25 | - |") == len(tasks) + 1  # each task table + the cost table
    assert report.count("| chance | - |") == len(tasks) + 1  # small pools get their floor too
    # the cost claim is what was timed: 8 distinct items, one run
    assert "median of 1 runs over 8 code items" in report
    assert all(f"pool {t.pool_size}" in report for t in tasks)
    assert "| standin | 2 |" in report
    png = paths["frontier"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
