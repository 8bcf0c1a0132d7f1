"""Ablation plan, trainer command lines, comparison rows and verdict (synthetic per-exit results)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.ablation import AblationConfig, comparison_rows, plan_runs, train_argv, verdict
from eval.retrieval import ExitResult, ModelResult

TASKS = ["text-to-code/all", "code-to-code/source->translation"]


def _result(name, exits, mrr_by_exit):
    return ModelResult(
        name=name, kind="mose", path=None,
        exits=tuple(
            ExitResult(exit=e, parameters=1000 * e, ms_per_item=0.1 * e, items_per_s=10.0 / e,
                       tasks={t: {"mrr": mrr_by_exit[e], "recall@1": mrr_by_exit[e] / 2} for t in TASKS})
            for e in exits
        ),
    )


def test_plan_has_the_three_modes_under_one_exit_list():
    runs = {r.name: r for r in plan_runs([2, 4, 6])}
    assert list(runs) == ["self-distilled", "alone-2", "alone-4", "last-exit-only"]
    assert runs["self-distilled"].exits == (2, 4, 6) and runs["self-distilled"].self_distillation
    assert runs["alone-4"].num_layers == 4 and runs["alone-4"].exits == (4,)
    assert runs["last-exit-only"].exits == (2, 4, 6) and not runs["last-exit-only"].self_distillation


def test_every_run_gets_the_same_budget():
    cfg = AblationConfig(data="D", output="O", steps=50, pretrain_steps=20, seeds=(3,))
    lines = [train_argv(r, cfg, "contrastive", cfg.steps, 3, Path("o"), Path("p")) for r in plan_runs(cfg.exits)]
    for argv in lines:
        assert "--steps=50" in argv and "--seed=3" in argv and "--data=D" in argv
        assert "--objective=contrastive" in argv and "--init=p" in argv
    assert "--no_self_distillation" in lines[-1]
    assert "--num_layers=2" in lines[1] and "--exits=2" in lines[1]


def test_bad_config_is_a_value_error():
    with pytest.raises(ValueError):
        AblationConfig(data="D", output="O", exits=(4, 2))
    with pytest.raises(ValueError):
        AblationConfig(data="D", output="O", steps=0)


def test_rows_compare_each_exit_with_its_own_k_layer_model():
    seeds = (0, 1)
    results = {}
    for s in seeds:
        results[("self-distilled", s)] = _result("a", [2, 4, 6], {2: 0.5 + s / 100, 4: 0.6, 6: 0.7})
        results[("alone-2", s)] = _result("b2", [2], {2: 0.4})
        results[("alone-4", s)] = _result("b4", [4], {4: 0.65})
        results[("last-exit-only", s)] = _result("c", [2, 4, 6], {2: 0.1, 4: 0.2, 6: 0.69})
    rows = comparison_rows([2, 4, 6], results, seeds, TASKS)
    assert [r["exit"] for r in rows] == [2, 4, 6]
    assert rows[0]["delta_text_mrr"]["mean"] == pytest.approx(0.105)
    assert rows[1]["delta_text_mrr"]["mean"] == pytest.approx(-0.05)
    assert rows[2]["alone_model"] == "last-exit-only"  # at the top, (b) is (c)
    assert rows[0]["last-exit-only"]["text_mrr"]["mean"] == pytest.approx(0.1)
    assert rows[0]["self-distilled"]["parameters"] == 2000
    text = verdict(rows, noise=0.01)
    assert "1 of 2 lower exits (2)" in text and "spread (0.0100) at 2" in text
    assert "one seed only" in verdict(rows, noise=None)


@pytest.mark.slow
def test_ablation_end_to_end_on_tiny_shards(tmp_path):
    """Three 2-layer models, one training step each, evaluated per exit: table, json, plot."""
    pytest.importorskip("model.train")
    import json

    from eval.ablation import main
    from tests.eval.shards import humaneval_rows, write_release_shards

    data = write_release_shards(tmp_path / "data", humaneval_rows(24, split_of=lambda i: "test" if i % 3 == 0 else "train"))
    out = tmp_path / "ablation"
    assert main([f"--data={data}", f"--output={out}", "--exits=1,2", "--steps=1", "--pretrain_steps=0",
                 "--max_length=64", "--latency_items=4", "--latency_repeats=1", "--train_arg=--batch_size=4",
                 "--jobs=2"]) == 0
    doc = json.loads((out / "ablation.json").read_text())
    assert [r["name"] for r in doc["runs"]] == ["self-distilled", "alone-1", "last-exit-only"]
    assert [r["exit"] for r in doc["rows"]] == [1, 2]
    assert doc["rows"][0]["self-distilled"]["text_mrr"]["mean"] is not None
    assert doc["rows"][0]["alone"]["text_mrr"]["mean"] is not None
    assert "Verdict" in (out / "ablation.md").read_text()
    assert (out / "ablation.png").stat().st_size > 0 and (out / "eval" / "metrics.json").exists()
    # a repeated command reuses finished runs instead of retraining
    assert (out / "checkpoints" / "alone-1" / "seed0" / "contrastive.done").exists()
