"""The trainer: losses fall, resume is exact, fine-tuning yields a loadable encoder."""

from __future__ import annotations

import json

import numpy as np
import torch
from safetensors.torch import load_file

from model.encode import MoseEncoder
from model.train import main

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
