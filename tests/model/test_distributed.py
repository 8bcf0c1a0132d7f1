"""torchrun on CPU/gloo: 2 ranks x B train as 1 process x 2B; checkpoints cross world sizes.

Each test launches ``python -m torch.distributed.run --standalone --nproc_per_node=2 -m
model.train`` (real process group, gloo backend, real DDP / FSDP2) on the tiny preset for a
few steps. Stated tolerance: per-step losses within 1e-5 relative of the single-process run
(float32 sums reduced in another order: measured differences are ~1e-8 relative), final
weights within 1e-4 absolute, a tenth of the largest move one AdamW step makes at lr 1e-3
(Adam divides by the root of tiny second moments, which magnifies rounding for parameters
whose gradient is ~0: 3.7e-5 was seen).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from model.data import read_release
from model.tokenizer import MoseTokenizer
from model.train import main

from .conftest import release_rows, write_shards

pytestmark = pytest.mark.slow  # each test starts torchrun: ~30-60 s on 2 shared cores

COMMON = ["--max_length=96", "--num_threads=1", "--log_every=1", "--num_workers=0"]


def _torchrun(argv: list[str], nproc: int = 2) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "model.train",
        *argv,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]


def _log(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path / "losses.jsonl").read_text().splitlines()]


def _assert_same_curve(got: list[dict], want: list[dict]) -> None:
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for a, b in zip(got, want, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5), a["step"]
        for e, parts in b["exits"].items():
            for name, value in parts.items():
                assert a["exits"][e][name] == pytest.approx(value, rel=1e-5), (a["step"], e, name)


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=1e-4)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    """Shards, a saved tokenizer (every run uses the same one) and the 1-process pretraining
    reference: 4 steps of 4 contexts."""
    root = tmp_path_factory.mktemp("dist")
    data = write_shards(root / "release", release_rows(repeat=2))
    rows = read_release(data)
    MoseTokenizer.train([r["func1_CSN"] for r in rows] + [r["func2"] for r in rows], 400).save(
        root / "tok"
    )
    base = [f"--data={data}", f"--tokenizer={root / 'tok'}", "--steps=4", *COMMON]
    assert main([*base, f"--output={root / 'one'}", "--batch_size=4"]) == 0
    return {"root": root, "data": data, "tok": root / "tok", "one": root / "one"}


def test_two_ranks_pretrain_like_one_process_with_the_whole_batch(setup):
    """DDP, 2 ranks x 2 contexts == 1 process x 4 == 1 process x 2 x --grad_accum=2."""
    root = setup["root"]
    base = [f"--data={setup['data']}", f"--tokenizer={setup['tok']}", "--steps=4", *COMMON]
    _torchrun([*base, f"--output={root / 'two'}", "--batch_size=2"])
    assert main([*base, f"--output={root / 'accum'}", "--batch_size=2", "--grad_accum=2"]) == 0
    reference = _log(setup["one"])
    _assert_same_curve(_log(root / "two"), reference)
    _assert_same_curve(_log(root / "accum"), reference)
    _assert_same_weights(root / "two", setup["one"])
    # MLM really trained through the shared head (not a constant curve)
    assert reference[-1]["exits"]["6"]["mlm"] < reference[0]["exits"]["6"]["mlm"]


def test_two_ranks_contrastive_with_chunks_like_one_process_whole_batch(setup):
    """Each rank encodes its 4 pairs 2 at a time (GradCache); InfoNCE over all 8 pairs of
    both ranks equals one process scoring the 8 pairs at once."""
    root = setup["root"]
    base = [
        f"--data={setup['data']}",
        f"--init={setup['one']}",
        "--objective=contrastive",
        "--steps=3",
        "--lr=1e-3",
        *COMMON,
    ]
    _torchrun([*base, f"--output={root / 'c2'}", "--batch_size=4", "--contrastive_chunk=2"])
    assert main([*base, f"--output={root / 'c1'}", "--batch_size=8"]) == 0
    reference = _log(root / "c1")
    _assert_same_curve(_log(root / "c2"), reference)
    _assert_same_weights(root / "c2", root / "c1")
    assert reference[-1]["loss"] < reference[0]["loss"]


def test_an_fsdp_checkpoint_resumes_on_one_process(setup):
    """FSDP2 on 2 ranks stops at step 2; one process resumes to step 4 and ends where the
    uninterrupted single-process run ended (optimizer state keyed by name, unsharded)."""
    root = setup["root"]
    base = [f"--data={setup['data']}", f"--tokenizer={setup['tok']}", "--steps=4", *COMMON]
    out = root / "fsdp"
    _torchrun([*base, f"--output={out}", "--batch_size=2", "--fsdp", "--stop_at=2"])
    state = torch.load(out / "train_state.pt", weights_only=False)
    assert state["step"] == 2 and state["world_size"] == 2 and state["global_batch"] == 4
    assert main([*base, f"--output={out}", "--batch_size=4", "--resume"]) == 0
    _assert_same_curve(_log(out), _log(setup["one"]))
    _assert_same_weights(out, setup["one"])
