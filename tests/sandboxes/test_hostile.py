"""Hostile programs on both backends: each gets the right status, the host stays unharmed.

All hostile programs of a backend run as one batch (the production path: one warm container
per language on Docker), each followed by a harmless canary program that must still pass, so
a hostile program cannot affect the next one's verdict. Host-side state is checked afterwards:
no process left, no file written, the secret never printed, no connection reached the server.
``test_hostile_controls.py`` runs each program without a sandbox, where it does its harm: the
statuses here are containment, not programs that crash on their own.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import socket
import tempfile
import threading
from pathlib import Path

import pytest

from sandboxes import LANGUAGES, Program, RunResult, RunStatus

from .conftest import BACKENDS, FIXTURES, get_sandbox, leftover_pids

HOSTILE = FIXTURES / "hostile"
_EXT = {lang.extension: name for name, lang in LANGUAGES.items()}
#: expected status and Program options per hostile program kind. Short timeouts only where the
#: expected status is ``timeout`` (a loaded host cannot make those end sooner); where another
#: limit must be reached first, a timeout that a busy host's slow JVM start cannot reach.
EXPECTED: dict[str, tuple[RunStatus, dict]] = {
    "fork_bomb": (RunStatus.TIMEOUT, {"timeout_s": 2}),
    "memory_bomb": (RunStatus.MEMORY_EXCEEDED, {"memory_mb": 128, "timeout_s": 60}),
    "infinite_loop": (RunStatus.TIMEOUT, {"timeout_s": 1}),
    "output_flood": (RunStatus.OUTPUT_EXCEEDED, {"timeout_s": 60}),
    "sleep": (RunStatus.TIMEOUT, {"timeout_s": 1}),
    "write_outside": (RunStatus.RUNTIME_ERROR, {}),
    "read_secret": (RunStatus.RUNTIME_ERROR, {}),
    "connect_loopback": (RunStatus.RUNTIME_ERROR, {}),
}
#: runtimes that need more than 128 MiB just to start
_MEMORY_MB = {"java": 256, "javascript": 256}
CASES = sorted(path.name for path in HOSTILE.iterdir())
CANARY = (FIXTURES / "python" / "ok.py").read_text()


class HostileWorld:
    """What a hostile program would like to reach on the host."""

    def __init__(self) -> None:
        token = secrets.token_hex(8)  # names the files; the content is another random value
        self.secret_text = f"s3cret-{secrets.token_hex(16)}"
        self.secret_paths = [
            Path(tempfile.gettempdir()) / f"codetrans-secret-{token}.txt",
            Path("/root") / f"codetrans-secret-{token}.txt",
        ]
        for path, mode in zip(self.secret_paths, (0o644, 0o600), strict=True):
            try:
                path.write_text(self.secret_text)
                path.chmod(mode)
            except OSError:
                pass  # /root not writable when not root; the /tmp one remains
        self.write_dir = Path(tempfile.mkdtemp(prefix="codetrans-writable-"))
        self.write_dir.chmod(0o777)  # writable by anyone on the host: only the sandbox stops it
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
                self.connections += 1
                conn.close()
            except OSError:
                continue

    def stdin_for(self, kind: str) -> str:
        if kind == "write_outside":
            return f"{self.write_dir}\n{Path.cwd()}\n"
        if kind == "read_secret":
            return "\n".join(str(p) for p in self.secret_paths) + "\n"
        if kind == "connect_loopback":
            return f"{self.port}\n"
        return ""

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.server.close()
        for path in self.secret_paths:
            path.unlink(missing_ok=True)
        shutil.rmtree(self.write_dir, ignore_errors=True)


@functools.cache
def _world() -> HostileWorld:
    return HostileWorld()


@functools.cache
def _results(backend: str) -> dict[str, tuple[RunResult, RunResult]]:
    sandbox = get_sandbox(backend)
    world = _world()
    programs = []
    for case in CASES:
        kind, ext = case.rsplit(".", 1)
        lang = _EXT["." + ext]
        status, options = EXPECTED[kind]
        options = dict(options)
        if "memory_mb" in options:
            options["memory_mb"] = _MEMORY_MB.get(lang, options["memory_mb"])
        programs.append(
            Program(lang, (HOSTILE / case).read_text(), stdin=world.stdin_for(kind), **options)
        )
        programs.append(Program("python", CANARY, stdin="1 2 3 4 5"))
    results = sandbox.run_batch(programs)
    return {case: (results[2 * i], results[2 * i + 1]) for i, case in enumerate(CASES)}


def teardown_module(module) -> None:
    if _world.cache_info().currsize:
        _world().close()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES)
def test_hostile_program(backend, case):
    kind = case.rsplit(".", 1)[0]
    result, canary = _results(backend)[case]
    world = _world()
    expected = EXPECTED[kind][0]
    assert result.status is expected, result
    # the next program in the same sandbox batch is unaffected
    assert canary.status is RunStatus.OK and canary.stdout.strip() == "sum 15", canary
    # nothing of it survives on the host
    assert leftover_pids(get_sandbox(backend).token) == []
    if kind == "write_outside":
        assert "WROTE" not in result.stdout
        assert list(world.write_dir.iterdir()) == []
        for host_dir in ("/usr", "/etc", "/root", "/", "/home", str(Path.cwd())):
            assert not Path(host_dir, "pwned.txt").exists()
    if kind == "read_secret":
        assert world.secret_text not in result.stdout + result.stderr
    if kind == "connect_loopback":
        assert "CONNECTED" not in result.stdout
        assert world.connections == 0
    if kind == "output_flood":
        assert len(result.stdout) <= 64 * 1024
    if kind in ("sleep", "infinite_loop"):
        assert result.wall_s < 60  # stopped at its 1 s limit, not after the 120 s sleep


@pytest.mark.parametrize("backend", BACKENDS)
def test_fork_bomb_alone_leaves_nothing(backend):
    """One program, one sandbox (no batch to hide behind): the host's process table is clean."""
    sandbox = get_sandbox(backend)
    before = len(os.listdir("/proc"))
    result = sandbox.run(Program("c", (HOSTILE / "fork_bomb.c").read_text(), timeout_s=1))
    assert result.status is RunStatus.TIMEOUT
    assert leftover_pids(sandbox.token) == []
    assert len(os.listdir("/proc")) < before + 50


_TAMPER_GO = """package main

import (
	"fmt"
	"os"
)

func main() {
	// overwrite the next program's compiled binary, left by the batch compile
	if err := os.WriteFile("/work/j1/main", []byte("#!/bin/sh\\necho hacked\\n"), 0o755); err != nil {
		fmt.Println("denied:", err)
	} else {
		fmt.Println("tampered")
	}
}
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_compile_cannot_be_tampered_with(backend):
    """A program cannot rewrite a later program's batch-compiled binary: the later program's
    dir belongs to another uid (and a changed dir would be recompiled alone)."""
    sandbox = get_sandbox(backend)
    ok = (FIXTURES / "go" / "ok.go").read_text()
    tamper, victim = sandbox.run_batch(
        [Program("go", _TAMPER_GO), Program("go", ok, stdin="1 2 3 4 5")]
    )
    assert tamper.status is RunStatus.OK, tamper
    assert tamper.stdout.startswith("denied:") and "permission denied" in tamper.stdout, tamper
    assert victim.status is RunStatus.OK and victim.stdout.strip() == "sum 15", victim
    assert leftover_pids(sandbox.token) == []
