"""The tuning flags of ``python -m model.train`` through ``main(argv)``, each with an
assertion on what it changes (schedule, optimizer, masking, data read, checkpoints)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file

import model.train as train_module
from model.train import main
from schemas import RELEASE_SCHEMA
from tests.model.conftest import release_rows

COMMON = [
    "--max_length=96",
    "--vocab_size=400",
    "--batch_size=4",
    "--num_threads=1",
    "--num_workers=0",
]


def _log(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path / "losses.jsonl").read_text().splitlines()]


def _vocab(path: Path) -> set[str]:
    return set(json.loads((path / "tokenizer.json").read_text())["model"]["vocab"])


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


def test_schedule_and_optimizer_flags(shard_dir, tmp_path):
    base = [f"--data={shard_dir}", "--steps=5", "--lr=1e-3", "--warmup=1", *COMMON]
    assert main([*base, f"--output={tmp_path / 'cosine'}"]) == 0
    assert (
        main([*base, f"--output={tmp_path / 'flat'}", "--min_lr_ratio=1.0", "--weight_decay=0.05"])
        == 0
    )
    cosine = [r["lr"] for r in _log(tmp_path / "cosine")]
    assert cosine[1] == pytest.approx(1e-3) and cosine[-1] < 0.5e-3  # decays towards 0.1 x peak
    assert [r["lr"] for r in _log(tmp_path / "flat")] == pytest.approx([1e-3] * 5)  # floor = peak
    groups = torch.load(tmp_path / "flat" / "train_state.pt", weights_only=False)["optimizer"][
        "param_groups"
    ]
    assert sorted(g["weight_decay"] for g in groups) == [0.0, 0.05]


def test_grad_clip_bounds_the_update(shard_dir, tmp_path):
    base = [
        f"--data={shard_dir}",
        "--steps=2",
        "--lr=1e-2",
        "--warmup=1",
        "--weight_decay=0",
        *COMMON,
    ]
    assert (
        main([*base, f"--output={tmp_path / 'init'}", "--lr=1e-30"]) == 0
    )  # ~ the initial weights
    assert main([*base, f"--output={tmp_path / 'free'}", "--grad_clip=0"]) == 0
    assert main([*base, f"--output={tmp_path / 'clipped'}", "--grad_clip=1e-12"]) == 0
    init, free, clipped = (_weights(tmp_path / n) for n in ("init", "free", "clipped"))
    moved = lambda w: max(float((w[k] - init[k]).abs().max()) for k in init)  # noqa: E731
    # AdamW normalises the step, but a gradient clipped far below its eps cannot move a weight.
    assert moved(free) > 1e-3 and moved(clipped) < 1e-3 * moved(free)
    assert (
        _log(tmp_path / "clipped")[0]["grad_norm"] > 1e-12
    )  # the log keeps the norm before clipping


def test_mlm_probability_sets_the_masked_share(shard_dir, tmp_path):
    base = [f"--data={shard_dir}", "--steps=2", *COMMON]
    assert main([*base, f"--output={tmp_path / 'low'}", "--mlm_probability=0.15"]) == 0
    assert main([*base, f"--output={tmp_path / 'high'}", "--mlm_probability=0.6"]) == 0
    low = sum(r["masked_tokens"] for r in _log(tmp_path / "low"))
    high = sum(r["masked_tokens"] for r in _log(tmp_path / "high"))
    assert 2.5 < high / low < 6  # ~4x the tokens masked, on the very same batches


def test_temperature_flag(shard_dir, tmp_path):
    pre = tmp_path / "pre"
    assert main([f"--data={shard_dir}", f"--output={pre}", "--steps=1", *COMMON]) == 0
    base = [
        f"--data={shard_dir}",
        f"--init={pre}",
        "--objective=contrastive",
        "--steps=1",
        "--lr=1e-30",
        *COMMON,
    ]
    assert main([*base, f"--output={tmp_path / 'hot'}", "--temperature=1e6"]) == 0
    assert main([*base, f"--output={tmp_path / 'learned'}", "--temperature=learnable"]) == 0
    # At a huge temperature every logit is ~0: InfoNCE is ln(candidates) per direction.
    hot = _log(tmp_path / "hot")[0]
    assert "temperature" not in hot
    for exit_record in hot["exits"].values():
        assert exit_record["loss"] / math.log(4) == pytest.approx(
            round(exit_record["loss"] / math.log(4)), abs=1e-3
        )
    assert set(_log(tmp_path / "learned")[0]["temperature"]) == set(hot["exits"])


def test_split_tokenizer_corpus_flags(tmp_path):
    rows = release_rows()
    held = [
        {
            **r,
            "split": "validation",
            "pair_id": f"v{i}",
            "func1_CSN": r["func1_CSN"].replace("a, b", "quokkaval, b"),
        }
        for i, r in enumerate(release_rows())
    ]
    data = tmp_path / "release" / "data"
    data.mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist(rows + held * 8, schema=RELEASE_SCHEMA),
        data / "train-00000-of-00001.parquet",
    )
    release = tmp_path / "release"
    base = [f"--data={release}", "--steps=1", *COMMON]
    assert main([*base, f"--output={tmp_path / 'train'}"]) == 0
    assert main([*base, f"--output={tmp_path / 'val'}", "--split=validation"]) == 0
    assert not any("quokka" in t for t in _vocab(tmp_path / "train"))
    assert any("quokka" in t for t in _vocab(tmp_path / "val"))
    assert main([*base, f"--output={tmp_path / 'none'}", "--split=test"]) == 2  # no such rows

    corpus = tmp_path / "corpus"
    for repo, word in (("a_repo", "wombatcode"), ("b_repo", "platypuscode")):
        (corpus / repo).mkdir(parents=True)
        body = "".join(f"def {word}_{i}(x):\n    return {word}_{i} + x\n\n" for i in range(60))
        (corpus / repo / "mod.py").write_text(body)
    assert main([*base, f"--output={tmp_path / 'both'}", f"--corpus={corpus}"]) == 0
    assert (
        main([*base, f"--output={tmp_path / 'one'}", f"--corpus={corpus}", "--corpus_max_files=1"])
        == 0
    )
    both, one = _vocab(tmp_path / "both"), _vocab(tmp_path / "one")
    assert any("wombat" in t for t in both) and any("platypus" in t for t in both)
    assert any("wombat" in t for t in one) and not any("platypus" in t for t in one)

    # --tokenizer: a given tokenizer is used as is (no new BPE is trained, --vocab_size ignored).
    given = tmp_path / "both" / "tokenizer.json"
    assert (
        main([*base, f"--output={tmp_path / 'reused'}", f"--tokenizer={given}", "--vocab_size=300"])
        == 0
    )
    assert _vocab(tmp_path / "reused") == both


def test_save_every_and_device(shard_dir, tmp_path, monkeypatch, caplog):
    saved: list[int] = []
    real = train_module.save_checkpoint

    def recording(output, stepper, tokenizer, step, layout):
        saved.append(step)
        return real(output, stepper, tokenizer, step, layout)

    monkeypatch.setattr(train_module, "save_checkpoint", recording)
    base = [f"--data={shard_dir}", "--steps=4", *COMMON]
    assert main([*base, f"--output={tmp_path / 'a'}", "--device=cpu"]) == 0
    assert saved == [4]
    saved.clear()
    assert main([*base, f"--output={tmp_path / 'b'}", "--save_every=2", "--device=cpu"]) == 0
    assert saved == [2, 4]
    if not torch.cuda.is_available():
        assert main([*base, f"--output={tmp_path / 'c'}", "--device=cuda"]) == 2
        assert "no CUDA device" in caplog.text  # one line, not torch's assertion traceback
