"""The translator flags of ``python -m pipeline.run``, each through ``main(argv)`` with an
assertion on what reaches the backend: the request bodies and headers an OpenAI-compatible
endpoint receives, the batches and device of the ``hf`` backend, the arguments of the vLLM
server Beam starts.

The openai endpoint is ``_ScriptedEndpoint`` (a stdlib server on 127.0.0.1 that records what
it is sent: the real ``transformers serve`` cannot report the headers it got); the hf and vLLM
runs use a random tiny Llama saved in the test, the vLLM one through the stand-in of vLLM's
server module that Beam's real handler launches.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from pipeline.run import main
from pipeline.translate.hf import HFTranslator
from tests.pipeline.local_model import server_processes, use_vllm_standin
from tests.pipeline.test_translate_hf import save_tiny_model
from tests.pipeline.test_translate_openai import OK, serve  # noqa: F401 - the fixture

FUNCS = {
    "inc": "def inc(x: int) -> int:\n    return x + 1\n",
    "dec": "def dec(x: int) -> int:\n    return x - 1\n",
    "double": "def double(x: int) -> int:\n    return x * 2\n",
}


def _source(tmp_path: Path) -> str:
    rows = [
        {
            "repo": "o/r",
            "path": f"{name}.py",
            "func_name": name,
            "language": "python",
            "code": code,
            "original_string": code,
            "docstring": f"The {name} function of x.",
            "sha": "0" * 40,
            "url": "u",
            "partition": "train",
        }
        for name, code in FUNCS.items()
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f"--source=csn:{path}"


def _common(tmp_path: Path, name: str) -> list[str]:
    # Translator flags only: no sandbox run (said on purpose), Go only, no decontamination.
    return [
        _source(tmp_path),
        "--runner=DirectRunner",
        "--sandbox=none",
        "--target_languages=go",
        "--decontaminate=",
        f"--output={tmp_path / name}",
    ]


def _stats(tmp_path: Path, name: str) -> dict:
    return json.loads((tmp_path / name / "stats.json").read_text())


def test_openai_sampling_key_and_concurrency_flags(serve, tmp_path, monkeypatch):  # noqa: F811
    in_flight, peak = [0], [0]
    lock = threading.Lock()

    def script(index, body):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.5 if body.get("max_tokens") != 1 else 0)  # the preflight answers at once
        with lock:
            in_flight[0] -= 1
        return OK

    server = serve(script)
    monkeypatch.setenv("CODETRANS_TEST_KEY", "sk-from-my-variable")
    argv = [
        *_common(tmp_path, "out"),
        "--translator=openai",
        f"--openai_base_url={server.base_url}",
        "--model=qwen-coder",
        "--temperature=0.4",
        "--max_tokens=77",
        "--num_samples=3",
        "--openai_api_key_env=CODETRANS_TEST_KEY",
        "--openai_concurrency=2",
    ]
    assert main(argv) == 0
    work = [b for b in server.bodies if b.get("max_tokens") != 1]
    assert len(work) == 3 * len(FUNCS)  # 3 samples per pair
    assert {b["temperature"] for b in work} == {0.4}
    assert {b["max_tokens"] for b in work} == {77}
    assert {h["authorization"] for h in server.headers} == {"Bearer sk-from-my-variable"}
    assert len({b.get("seed") for b in work}) == len(work)  # a distinct seed per sample
    # One worker process: never more than --openai_concurrency requests at once, and it does
    # use that many (nine half-second requests cannot all run one after another here).
    assert peak[0] == 2
    assert _stats(tmp_path, "out")["accounting"]["balanced"]


def test_openai_timeout_and_retries_flags(serve, tmp_path):  # noqa: F811
    def script(index, body):
        slow = body.get("max_tokens") != 1
        return (*OK[:2], 3.0 if slow else 0, None)  # every real request outlives the timeout

    server = serve(script)
    argv = [
        *_common(tmp_path, "out"),
        "--translator=openai",
        f"--openai_base_url={server.base_url}",
        "--model=qwen-coder",
        "--openai_timeout_s=0.5",
        "--openai_retries=1",
    ]
    assert main(argv) == 0
    work = [b for b in server.bodies if b.get("max_tokens") != 1]
    assert len(work) == 2 * len(FUNCS)  # one try and one retry per request, then given up
    stats = _stats(tmp_path, "out")
    assert stats["accounting"]["balanced"] and stats["released_rows"] == 0
    assert stats["rejection_reasons"]["translate"] == {"request_failed": len(FUNCS)}  # transient
    assert (
        not list((tmp_path / "out" / "cache").rglob("*.sqlite*")) or _cached(tmp_path / "out") == 0
    )


def _cached(out: Path) -> int:
    """Translations stored in the run's cache (a transient failure must not be)."""
    import sqlite3

    total = 0
    for db in (out / "cache").rglob("*.sqlite"):
        with sqlite3.connect(db) as conn:
            tables = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            total += sum(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables)
    return total


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> str:
    return save_tiny_model(tmp_path_factory.mktemp("tiny-llama"), context=1024)


def test_hf_device_and_batch_size_flags(tiny_llama, tmp_path, monkeypatch):
    batches: list[tuple[str, int]] = []
    real = HFTranslator._generate

    def recording(self, requests, prompts):
        batches.append((self.device, len(prompts)))
        return real(self, requests, prompts)

    monkeypatch.setattr(HFTranslator, "_generate", recording)
    argv = [
        *_common(tmp_path, "out"),
        "--translator=hf",
        f"--model={tiny_llama}",
        "--hf_device=cpu",
        "--hf_batch_size=2",
        "--max_tokens=8",
        "--num_samples=2",
        "--temperature=0.7",
    ]
    assert main(argv) == 0
    assert {device for device, _ in batches} == {"cpu"}
    assert max(size for _, size in batches) == 2 and sum(size for _, size in batches) == 2 * len(
        FUNCS
    )
    assert _stats(tmp_path, "out")["accounting"]["balanced"]


@pytest.mark.slow
def test_vllm_server_kwargs_and_chat_template_flags(tiny_llama, tmp_path, monkeypatch):
    use_vllm_standin(monkeypatch)
    record = tmp_path / "server_args.jsonl"
    monkeypatch.setenv("VLLM_STANDIN_RECORD", str(record))
    marker = str(uuid.uuid4().int % 10**9)  # a seed flag that tells this test's server apart
    template = tmp_path / "template.jinja"
    template.write_text(
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}<assistant>"
    )
    argv = [
        *_common(tmp_path, "out"),
        "--translator=vllm",
        f"--model={tiny_llama}",
        "--max_tokens=8",
        f"--vllm_server_kwargs=seed={marker},enforce-eager,max-model-len=1024",
        f"--vllm_chat_template_path={template}",
    ]
    assert main(argv) == 0
    [started] = [json.loads(line) for line in record.read_text().splitlines()]  # one server
    assert started["enforce_eager"] is True and started["max_model_len"] == 1024  # bare flag, value
    assert started["seed"] == int(marker)
    # Beam hands the server a copy of the template: ours, kept out of the working directory.
    served = Path(started["chat_template"])
    assert (
        served.parent == Path(tempfile.gettempdir()) and served.read_text() == template.read_text()
    )
    assert not list(Path.cwd().glob("template-*.jinja"))
    assert server_processes(marker) == []  # no server left behind
    assert _stats(tmp_path, "out")["accounting"]["balanced"]
