"""Ablation plan, trainer command lines, comparison rows and verdict (synthetic per-exit results)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.ablation import (
    LAST_HEAD,
    AblationConfig,
    comparison_rows,
    plan_runs,
    train_argv,
    verdict,
    with_last_exit_head,
)
from eval.retrieval import ExitResult, ModelResult

TASKS = ["text-to-code/all", "code-to-code/source->translation"]


def _result(name, exits, mrr_by_exit):
    return ModelResult(
        name=name,
        kind="mose",
        path=None,
        exits=tuple(
            ExitResult(
                exit=e,
                parameters=1000 * e,
                ms_per_item=0.1 * e,
                items_per_s=10.0 / e,
                tasks={t: {"mrr": mrr_by_exit[e], "r@1": mrr_by_exit[e] / 2} for t in TASKS},
            )
            for e in exits
        ),
    )


def test_plan_has_the_three_modes_under_one_exit_list():
    runs = {r.name: r for r in plan_runs([2, 4, 6])}
    assert list(runs) == ["self-distilled", "alone-2", "alone-4", "last-exit-only"]
    assert runs["self-distilled"].exits == (2, 4, 6) and runs["self-distilled"].self_distillation
    assert runs["alone-4"].num_layers == 4 and runs["alone-4"].exits == (4,)
    assert (
        runs["last-exit-only"].exits == (2, 4, 6) and not runs["last-exit-only"].self_distillation
    )


def test_every_run_gets_the_same_budget():
    cfg = AblationConfig(data="D", output="O", steps=50, pretrain_steps=20, seeds=(3,))
    lines = [
        train_argv(r, cfg, "contrastive", cfg.steps, 3, Path("o"), Path("p"))
        for r in plan_runs(cfg.exits)
    ]
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
        results[(LAST_HEAD, s)] = _result("c'", [2, 4, 6], {2: 0.3, 4: 0.4, 6: 0.69})
    rows = comparison_rows([2, 4, 6], results, seeds, TASKS)
    assert [r["exit"] for r in rows] == [2, 4, 6]
    assert rows[0]["delta_text_mrr"]["mean"] == pytest.approx(0.105)
    assert rows[1]["delta_text_mrr"]["mean"] == pytest.approx(-0.05)
    assert rows[2]["alone_model"] == "last-exit-only"  # at the top, (b) is (c)
    assert rows[0]["last-exit-only"]["text_mrr"]["mean"] == pytest.approx(0.1)
    assert rows[0][LAST_HEAD]["text_mrr"]["mean"] == pytest.approx(0.3)
    assert rows[0]["self-distilled"]["text_r@1"]["mean"] == pytest.approx((0.5 + 0.51) / 4)
    # equal steps, unequal compute: (b) at exit 2 of 6 runs a third of the layers per step
    assert [r["train_compute_alone"] for r in rows] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert rows[0]["self-distilled"]["parameters"] == 2000
    text = verdict(rows, noise=0.01)
    assert "1 of 2 lower exits (2)" in text and "spread (0.0100) at 2" in text
    assert "one seed only" in verdict(rows, noise=None)


def test_last_exit_head_is_applied_at_every_exit():
    """(c'): the lower exits of a last-exit-only model through the head that was trained."""
    import torch

    from model.config import make_config
    from model.modeling import MoseModel

    torch.manual_seed(0)
    model = MoseModel(make_config("tiny", vocab_size=300, max_length=64, pad_token_id=0)).eval()
    swapped = with_last_exit_head(model).eval()
    ids = torch.randint(5, 300, (2, 9))
    top = str(model.exits[-1])
    with torch.no_grad():
        out = swapped(ids).exit_embeddings
        for e in model.exits:
            cls = model.exit_norms[top](_residual(model, ids, e))[:, -1]
            expected = torch.nn.functional.normalize(model.projections[top](cls), dim=-1)
            torch.testing.assert_close(out[e], expected)
        original = model(ids).exit_embeddings
    assert torch.equal(original[model.exits[-1]], out[model.exits[-1]])
    assert not torch.allclose(original[2], out[2])  # the original model keeps its own heads


def _residual(model, ids, layer):
    """The residual stream after ``layer``, captured with a forward hook (no exit norm)."""
    import torch

    captured = {}
    handle = model.layers[layer - 1].register_forward_hook(
        lambda _m, _i, o: captured.setdefault("h", o)
    )
    with torch.no_grad():
        model(ids, exits=[e for e in model.exits if e >= layer][:1])
    handle.remove()
    return captured["h"]


@pytest.mark.slow
def test_ablation_end_to_end_on_tiny_shards(tmp_path):
    """Three 2-layer models, one training step each, evaluated per exit: table, json, plot."""
    import json

    from eval.ablation import main
    from tests.eval.shards import humaneval_rows, write_release_shards

    data = write_release_shards(
        tmp_path / "data", humaneval_rows(24, split_of=lambda i: "test" if i % 3 == 0 else "train")
    )
    out = tmp_path / "ablation"
    common = [
        f"--data={data}",
        f"--output={out}",
        "--exits=1,2",
        "--steps=1",
        "--pretrain_steps=0",
        "--max_length=64",
        "--latency_items=4",
        "--latency_repeats=1",
        "--train_arg=--batch_size=4",
        "--config=tiny",
    ]
    assert main([*common, "--jobs=2"]) == 0
    doc = json.loads((out / "ablation.json").read_text())
    assert [r["name"] for r in doc["runs"]] == ["self-distilled", "alone-1", "last-exit-only"]
    assert [r["exit"] for r in doc["rows"]] == [1, 2]
    assert doc["rows"][0]["self-distilled"]["text_mrr"]["mean"] is not None
    assert doc["rows"][0]["alone"]["text_mrr"]["mean"] is not None
    assert doc["rows"][0][LAST_HEAD]["text_mrr"]["mean"] is not None  # (c) with the trained head
    assert doc["chance"]["exits"][0]["tasks"]["text-to-code/all"]["mrr"] > 0
    table = (out / "ablation.md").read_text()
    assert "chance (random ranking)" in table and "(b) compute" in table
    assert "Verdict" in (out / "ablation.md").read_text()
    assert (out / "ablation.png").stat().st_size > 0 and (out / "eval" / "metrics.json").exists()
    # a repeated command reuses finished runs instead of retraining
    assert (out / "checkpoints" / "alone-1" / "seed0" / "contrastive.done").exists()
    # --evaluate_only with a seed never trained: the finished runs are evaluated, nothing trains
    assert main([*common, "--seeds=0,1", "--evaluate_only"]) == 0
    assert not (out / "checkpoints" / "alone-1" / "seed1").exists()
    again = json.loads((out / "ablation.json").read_text())
    assert (
        again["rows"][0]["self-distilled"]["text_mrr"]["mean"]
        == doc["rows"][0]["self-distilled"]["text_mrr"]["mean"]
    )
    # --config names a model preset; an unknown one stops with a message, before any training
    assert main([*common, "--config=huge", "--seeds=5"]) == 1
    assert not (out / "checkpoints" / "alone-1" / "seed5").exists()
