"""The trainer: losses fall, resume is exact, fine-tuning yields a loadable encoder, recipes."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from model.encode import MoseEncoder
from model.train import TrainConfig, get_lr, main

COMMON = [
    "--max_length=96",
    "--vocab_size=400",
    "--batch_size=4",
    "--num_threads=1",
    "--log_every=5",
]


def _log(path):
    return [json.loads(line) for line in (path / "losses.jsonl").read_text().splitlines()]


def test_pretraining_reduces_every_exit_loss(shard_dir, tmp_path):
    out = tmp_path / "ckpt"
    argv = [f"--data={shard_dir}", f"--output={out}", "--steps=24", "--lr=3e-3", *COMMON]
    assert main(argv) == 0
    records = _log(out)
    assert [r["step"] for r in records] == list(range(1, 25))
    for e in ("2", "4", "6"):
        first = np.mean([r["exits"][e]["mlm"] for r in records[:4]])
        last = np.mean([r["exits"][e]["mlm"] for r in records[-4:]])
        assert last < first - 0.5, (e, first, last)
    # fine-tune from it: text-to-code + code-to-code InfoNCE on every exit
    tuned = tmp_path / "tuned"
    argv = [f"--data={shard_dir}", f"--output={tuned}", "--objective=contrastive", f"--init={out}"]
    assert main([*argv, "--steps=16", "--lr=1e-3", *COMMON]) == 0
    records = _log(tuned)
    for e in ("2", "4", "6"):
        first = np.mean([r["exits"][e]["loss"] for r in records[:3]])
        last = np.mean([r["exits"][e]["loss"] for r in records[-3:]])
        assert last < first, (e, first, last)
    encoder = MoseEncoder.from_pretrained(tuned, device="cpu")
    vectors = encoder.encode_text(["Add two numbers."])
    assert sorted(vectors) == [2, 4, 6] and vectors[6].shape == (1, 128)


def test_no_self_distillation_trains_only_the_last_exit(shard_dir, tmp_path):
    out = tmp_path / "last"
    argv = [
        f"--data={shard_dir}",
        f"--output={out}",
        "--steps=2",
        "--no_self_distillation",
        *COMMON,
    ]
    assert main(argv) == 0
    assert set(_log(out)[0]["exits"]) == {"6"}
    weights = load_file(out / "model.safetensors")
    # exits 2 and 4 got no gradient: their projection heads keep their initial values
    init = tmp_path / "init"
    assert (
        main(
            [
                *argv[:1],
                f"--output={init}",
                "--steps=1",
                "--lr=1e-12",
                "--no_self_distillation",
                *COMMON,
            ]
        )
        == 0
    )
    init_weights = load_file(init / "model.safetensors")
    assert torch.equal(weights["exit_norms.2.weight"], init_weights["exit_norms.2.weight"])
    assert not torch.equal(weights["exit_norms.6.weight"], init_weights["exit_norms.6.weight"])


def test_resume_continues_bit_for_bit(shard_dir, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    base = [f"--data={shard_dir}", "--steps=6", "--seed=3", *COMMON]
    assert main([*base, f"--output={straight}"]) == 0
    assert main([*base, f"--output={resumed}", "--stop_at=3"]) == 0
    assert len(_log(resumed)) == 3
    assert main([*base, f"--output={resumed}", "--resume"]) == 0
    a = load_file(straight / "model.safetensors")
    b = load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert _log(straight) == _log(resumed)
    assert torch.load(resumed / "train_state.pt", weights_only=False)["step"] == 6


def test_bad_arguments_are_reported(shard_dir, tmp_path):
    assert main([f"--data={tmp_path / 'none'}", f"--output={tmp_path / 'o'}"]) == 2
    assert main([f"--data={shard_dir}", f"--output={tmp_path / 'o'}", "--exits=2,3", *COMMON]) == 2


def test_batch_workers_change_speed_not_data(shard_dir, tmp_path):
    base = [f"--data={shard_dir}", "--steps=3", *COMMON]
    assert main([*base, f"--output={tmp_path / 'sync'}", "--num_workers=0"]) == 0
    assert main([*base, f"--output={tmp_path / 'workers'}", "--num_workers=2", "--prefetch=1"]) == 0
    assert _log(tmp_path / "sync") == _log(tmp_path / "workers")


def test_paper_recipe(shard_dir, tmp_path):
    """--recipe=paper: dropout 0.1 everywhere, AdamW (0.9, 0.95) eps 1e-6 decay 0.1, warm-up
    then multi-step decay, and a learned CLIP temperature."""
    pre, out = tmp_path / "pre", tmp_path / "paper"
    assert main([f"--data={shard_dir}", f"--output={pre}", "--steps=1", *COMMON]) == 0
    argv = [
        f"--data={shard_dir}",
        f"--output={out}",
        f"--init={pre}",
        "--objective=contrastive",
        "--recipe=paper",
        "--steps=4",
        "--warmup=1",
        "--lr_milestones=0.5",
        "--lr=1e-3",
        *COMMON,
    ]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["attention_dropout"] == config["residual_dropout"] == 0.1
    assert config["embedding_dropout"] == 0.1
    state = torch.load(out / "train_state.pt", weights_only=False)
    groups = state["optimizer"]["param_groups"]
    assert all(tuple(g["betas"]) == (0.9, 0.95) and g["eps"] == 1e-6 for g in groups)
    assert sorted(g["weight_decay"] for g in groups) == [0.0, 0.1]
    records = _log(out)
    assert [r["lr"] for r in records] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4])
    temperatures = [r["temperature"]["6"] for r in records]
    assert temperatures[0] != pytest.approx(0.07, abs=1e-9) and len(set(temperatures)) == 4
    assert "temperature" in state


def test_multistep_schedule_of_the_paper_recipe():
    cfg = TrainConfig(data="", output="", config="1b", recipe="paper", steps=100_000)
    assert get_lr(0, cfg) == pytest.approx(2e-4 / 4000)
    assert get_lr(3999, cfg) == pytest.approx(2e-4)
    assert get_lr(49_999, cfg) == pytest.approx(2e-4)
    assert get_lr(50_000, cfg) == pytest.approx(2e-5)
    assert get_lr(75_000, cfg) == pytest.approx(2e-6)
    assert cfg.fixed_temperature() is None and cfg.dropout_rate() == 0.1
    assert cfg.checkpointing()  # on by default for 1b
    assert not TrainConfig(data="", output="").checkpointing()
    assert not TrainConfig(
        data="", output="", config="1b", gradient_checkpointing=False
    ).checkpointing()


def test_attention_kernels_agree_and_flash_needs_its_package(shard_dir, tmp_path):
    base = [f"--data={shard_dir}", "--steps=1", *COMMON]
    assert main([*base, f"--output={tmp_path / 's'}", "--attn_implementation=sdpa"]) == 0
    assert main([*base, f"--output={tmp_path / 'e'}", "--attn_implementation=eager"]) == 0
    assert _log(tmp_path / "e")[0]["loss"] == pytest.approx(
        _log(tmp_path / "s")[0]["loss"], rel=1e-5
    )
    if importlib.util.find_spec("flash_attn") is None:
        argv = [*base, f"--output={tmp_path / 'f'}", "--attn_implementation=flash_attention_2"]
        assert main(argv) == 2


def test_gradient_checkpointing_gives_the_same_step(shard_dir, tmp_path):
    base = [f"--data={shard_dir}", "--steps=2", *COMMON]
    assert main([*base, f"--output={tmp_path / 'plain'}"]) == 0
    assert main([*base, f"--output={tmp_path / 'ckpt'}", "--gradient_checkpointing"]) == 0
    for a, b in zip(_log(tmp_path / "plain"), _log(tmp_path / "ckpt"), strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
