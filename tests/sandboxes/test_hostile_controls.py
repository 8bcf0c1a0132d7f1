"""Positive controls for the hostile programs: without the sandbox, each one does its harm.

``test_hostile.py`` runs every program of ``fixtures/hostile/`` in the sandboxes and expects a
status (``runtime_error`` for writing outside, reading a secret, connecting to the host; a
limit's status for the bombs). A program that crashed for an unrelated reason (a typo, a
missing library, bad input) would get ``runtime_error`` too. So here each one runs on the host
with the project's spawner (``sandboxes.runner.spawn``) and no sandbox, as a throw-away
unprivileged uid (never root: ``write_outside`` would then write into ``/usr``), against
throw-away targets made by the test: a world-writable temp dir, a readable temp file, a
loopback listener. Each must do exactly the harm the sandbox prevents; the bombs run under a
cap of their own (a process limit for the uid, an RSS watcher, a short wall clock) that shows
they exceed the sandbox's limits and would not stop by themselves.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from sandboxes import LANGUAGES
from sandboxes.runner import Limits, ProcessOutcome, spawn
from tests.support import missing, require_root

from .conftest import FIXTURES
from .test_hostile import _MEMORY_MB, EXPECTED

HOSTILE = FIXTURES / "hostile"
CASES = sorted(path.name for path in HOSTILE.iterdir())
_EXT = {lang.extension: name for name, lang in LANGUAGES.items()}
#: A uid no sandbox uses (they take 20000..65533) and no account has: RLIMIT_NPROC counts
#: only this test's processes, and killing everything of the uid kills only them.
CONTROL_UID = 100_000 + os.getpid() % 50_000
#: The fork bomb's own cap on the host: enough to show it multiplies, far from harming it.
FORK_CAP = 48


def _tool(language: str, name: str) -> str:
    path = shutil.which(
        name,
        path=os.pathsep.join(
            (*LANGUAGES[language].path, "/usr/bin", "/bin", os.environ.get("PATH", ""))
        ),
    )
    if path is None:
        missing(
            language,
            f"{name} is not installed, so the {language} hostile program "
            "cannot run without the sandbox",
        )
    return path


@functools.cache
def _workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="codetrans-controls-"))
    path.chmod(0o755)  # the unprivileged uid runs what is built here
    return path


def _argv(case: str) -> list[str]:
    """Build ``case`` on the host (trusted compilers, as root) and return how to run it as the
    program itself, with no sandbox flags (no heap caps: those are part of the sandbox)."""
    kind, ext = case.rsplit(".", 1)
    language = _EXT["." + ext]
    src = HOSTILE / case
    build = _workdir() / case.replace(".", "_")
    build.mkdir(exist_ok=True)
    build.chmod(0o755)
    exe = str(build / "main")

    def compile_(*argv: str, env: dict | None = None) -> None:
        done = subprocess.run(argv, cwd=build, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{case} does not build on the host: {done.stderr[-2000:]}"

    if language == "c":
        compile_(_tool("c", "gcc"), "-O1", "-o", exe, str(src))
        return [exe]
    if language == "go":
        shutil.copy(src, build / "main.go")
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(build),
            "GOCACHE": str(build / ".gocache"),
            "GOPATH": str(build / ".gopath"),
            "GO111MODULE": "off",
            "CGO_ENABLED": "0",
        }
        compile_(_tool("go", "go"), "build", "-o", exe, "main.go", env=env)
        return [exe]
    if language == "java":
        shutil.copy(src, build / "Main.java")
        compile_(_tool("java", "javac"), "-d", str(build), "Main.java")
        return [_tool("java", "java"), "-XX:-UsePerfData", "-cp", str(build), "Main"]
    interpreter = {
        "python": ("python3", "-I"),
        "javascript": ("node",),
        "ruby": ("ruby",),
        "php": ("php", "-n"),
    }[language]
    shutil.copy(src, build / src.name)
    (build / src.name).chmod(0o644)
    return [_tool(language, interpreter[0]), *interpreter[1:], str(build / src.name)]


def _pids_of(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(entry))
    return pids


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class _Watch:
    """Samples the program's process group while it runs: the most processes and the most
    resident memory seen; past ``kill_above_mb`` it kills the group (the memory bomb's cap)."""

    def __init__(self, kill_above_mb: float | None = None) -> None:
        self.kill_above_mb = kill_above_mb
        self.max_procs = 0
        self.max_rss_mb = 0.0
        self.killed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, pid: int) -> None:
        self._thread = threading.Thread(target=self._run, args=(pid,), daemon=True)
        self._thread.start()

    def _run(self, pgid: int) -> None:
        while not self._stop.is_set():
            pids = _pids_of(pgid)
            self.max_procs = max(self.max_procs, len(pids))
            rss = _rss_mb(pids)
            self.max_rss_mb = max(self.max_rss_mb, rss)
            if self.kill_above_mb is not None and rss > self.kill_above_mb:
                self.killed = True
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                return
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _run(
    argv: list[str], limits: Limits, stdin: str = "", watch: _Watch | None = None
) -> ProcessOutcome:
    """Run unsandboxed as ``CONTROL_UID`` (when root; else as the unprivileged caller)."""
    user = CONTROL_UID if os.geteuid() == 0 else None
    home = _workdir()
    try:
        return spawn(
            argv,
            limits=limits,
            cwd=str(home),
            stdin=stdin.encode(),
            user=user,
            env={"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"},
            on_start=watch.start if watch is not None else None,
        )
    finally:
        if watch is not None:
            watch.stop()
        _kill_uid_leftovers()


def _kill_uid_leftovers() -> None:
    """Whatever of ``CONTROL_UID`` escaped the group kill (nothing should): kill and wait."""
    if os.geteuid() != 0:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = [
            int(e) for e in os.listdir("/proc") if e.isdigit() and _uid_of(int(e)) == CONTROL_UID
        ]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"processes of uid {CONTROL_UID} survive: {pids}")


def _uid_of(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


class _Listener:
    """A loopback server the test owns: counts connections and keeps what they sent."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while chunk := conn.recv(4096):
                        data += chunk
                except OSError:
                    pass
                self.received.append(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.close()


def _scratch(mode: int) -> Path:
    """A fresh dir under the workdir (pytest's ``tmp_path`` is 0700: the uid could not reach it)."""
    path = Path(tempfile.mkdtemp(dir=_workdir()))
    path.chmod(mode)
    return path


def _write_outside(argv):
    require_root(
        f"the control runs as uid {CONTROL_UID}: as the caller it could write into "
        "whatever the caller may write"
    )
    target = _scratch(0o777)  # anyone on the host may write here: only a sandbox stops a program
    out = _run(argv, Limits(wall_s=60), stdin=f"{target}\n")
    assert out.exit_code == 0 and f"WROTE {target}" in out.stdout.decode(), out
    assert (target / "pwned.txt").read_text() == "pwned"


def _read_secret(argv):
    secret = f"s3cret-{secrets.token_hex(16)}"
    path = _scratch(0o755) / "secret.txt"
    path.write_text(secret)
    path.chmod(0o644)
    out = _run(argv, Limits(wall_s=60), stdin=f"{path}\n")
    assert out.exit_code == 0 and secret in out.stdout.decode(), out


def _connect_loopback(argv):
    listener = _Listener()
    try:
        out = _run(argv, Limits(wall_s=60), stdin=f"{listener.port}\n")
        deadline = time.monotonic() + 10
        while not listener.received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.close()
    assert out.exit_code == 0 and "CONNECTED" in out.stdout.decode(), out
    assert listener.received == [b"hello from the sandbox"]


def _fork_bomb(argv):
    require_root(
        f"the fork bomb's control runs as uid {CONTROL_UID}, whose process count RLIMIT_NPROC caps"
    )
    watch = _Watch()
    out = _run(argv, Limits(wall_s=3, nproc=FORK_CAP), watch=watch)
    assert out.timed_out, out  # it never ends by itself
    assert watch.max_procs >= FORK_CAP // 2, watch.max_procs  # it multiplies up to any cap


def _memory_bomb(argv, language):
    limit = _MEMORY_MB.get(language, EXPECTED["memory_bomb"][1]["memory_mb"])
    watch = _Watch(kill_above_mb=2 * limit)
    out = _run(argv, Limits(wall_s=120), watch=watch)
    assert watch.killed and watch.max_rss_mb > 2 * limit, (watch.max_rss_mb, out)


def _never_ends(argv, kind):
    sandbox_limit = EXPECTED[kind][1]["timeout_s"]
    out = _run(argv, Limits(wall_s=3 * sandbox_limit))
    assert out.timed_out and out.signal == signal.SIGKILL, out  # still running at 3x the limit
    assert b"woke up" not in out.stdout


def _output_flood(argv):
    out = _run(argv, Limits(wall_s=120, output_bytes=1024 * 1024))
    assert out.output_exceeded and len(out.stdout) == 1024 * 1024, out  # 16x the sandbox's cap


@pytest.mark.parametrize("case", CASES)
def test_without_the_sandbox_the_program_does_its_harm(case):
    kind, ext = case.rsplit(".", 1)
    language = _EXT["." + ext]
    argv = _argv(case)
    controls = {
        "write_outside": lambda: _write_outside(argv),
        "read_secret": lambda: _read_secret(argv),
        "connect_loopback": lambda: _connect_loopback(argv),
        "fork_bomb": lambda: _fork_bomb(argv),
        "memory_bomb": lambda: _memory_bomb(argv, language),
        "infinite_loop": lambda: _never_ends(argv, kind),
        "sleep": lambda: _never_ends(argv, kind),
        "output_flood": lambda: _output_flood(argv),
    }
    assert kind in controls, f"{case}: a hostile program needs a positive control here"
    controls[kind]()


def teardown_module(module) -> None:
    if _workdir.cache_info().currsize:
        shutil.rmtree(_workdir(), ignore_errors=True)
