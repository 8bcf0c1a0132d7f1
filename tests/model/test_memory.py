"""--dry_run_memory: the fake-tensor measurement equals the real one, and the accounting."""

from __future__ import annotations

import pytest

from model.memory import estimate, format_report, measure_step
from model.train import TrainConfig, main


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(data="", output="", config="tiny", **kw)


@pytest.mark.parametrize(
    "kw",
    [{}, {"gradient_checkpointing": True}, {"objective": "contrastive", "contrastive_chunk": 2}],
)
def test_fake_tensors_measure_what_real_tensors_use(kw):
    cfg = _cfg(**kw)
    real = measure_step(cfg, 2, 64, fake=False, vocab_size=300)
    fake = measure_step(cfg, 2, 64, fake=True, vocab_size=300)
    assert real.peak > 0
    assert fake.saved == pytest.approx(real.saved, rel=1e-3)
    assert fake.peak == pytest.approx(real.peak, rel=1e-3)
    assert (fake.parameters, fake.trainable) == (real.parameters, real.trainable)


def test_checkpointing_and_gradcache_cut_activations():
    plain = measure_step(_cfg(), 4, 128, vocab_size=300)
    ckpt = measure_step(_cfg(gradient_checkpointing=True), 4, 128, vocab_size=300)
    assert ckpt.saved < plain.saved / 3
    whole = measure_step(_cfg(objective="contrastive"), 8, 128, vocab_size=300)
    chunked = measure_step(
        _cfg(objective="contrastive", contrastive_chunk=2), 8, 128, vocab_size=300
    )
    assert chunked.peak_activations < whole.peak_activations / 2


def test_fsdp_shards_weights_gradients_and_adam_state():
    step = measure_step(_cfg(), 2, 64, vocab_size=300)
    ddp = estimate(_cfg(batch_size=2, max_length=64), world_size=4, step=step)
    fsdp = estimate(_cfg(batch_size=2, max_length=64, fsdp=True), world_size=4, step=step)
    assert ddp.param_bytes == 4 * step.parameters and ddp.optimizer_bytes == 8 * step.trainable
    assert (
        fsdp.param_bytes == ddp.param_bytes // 4
        and fsdp.optimizer_bytes == ddp.optimizer_bytes // 4
    )
    assert fsdp.peak_activation_bytes == ddp.peak_activation_bytes and fsdp.fsdp_gather_bytes > 0
    assert "FSDP x 4" in format_report(fsdp)


def test_dry_run_memory_cli(capsys):
    argv = ["--dry_run_memory", "--batch_size=2", "--max_length=64", "--vocab_size=300"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "tiny pretrain, 2 x 64 tokens per GPU" in out and "| AdamW state (2 x fp32) |" in out
