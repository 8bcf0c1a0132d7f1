"""The only process spawner for untrusted code: one hardened ``spawn`` call.

Every process this package starts (a bwrap sandbox on the host, a compiler or a program inside
a sandbox) goes through :func:`spawn`. It is stdlib-only and imports nothing else of the
package, because the in-sandbox agent (``agent.py``) runs it inside containers that hold only
the interpreter.

Hardening, after MultiPL-E's ``safe_subprocess.run`` (nuprl/MultiPL-E,
``evaluation/src/safe_subprocess``) and what was checked on the hosts we run on:

* a new session (``setsid``): the whole process group is killed at the end, whatever happened;
* stdout and stderr are drained while the process runs and capped: once a stream passes the cap
  the process group is killed (``output_exceeded``) or, for compilers, the rest is discarded;
  an unread full pipe would otherwise block the writer and turn a flood into a timeout;
* a wall-clock timer that fires *before* the CPU rlimit (``cpu_s`` defaults to the wall limit
  plus one second, soft limit first, so SIGXCPU comes before SIGKILL) so a CPU-bound loop reads
  as a timeout, not as a crash;
* rlimits for CPU, file size, open files, processes and core dumps (``RLIMIT_NPROC`` only binds
  an unprivileged uid: the sandboxes run every program as its own unprivileged uid);
* optionally, a switch to that uid (no supplementary groups) and a last hook before exec
  (the agent installs the seccomp filter of ``syscall_filter.py`` there);
* optional ``oom_score_adj`` so that, in a memory cgroup shared with the agent, the kernel kills
  the program rather than the agent;
* the pipes are enlarged past the cap, so a flood's verdict does not depend on timing;
* stdin is fed from a thread and a closed stdin (``BrokenPipeError``) is ignored.
"""

from __future__ import annotations

import fcntl
import math
import os
import resource
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

#: Bytes kept per stream unless the caller says otherwise.
DEFAULT_OUTPUT_BYTES = 64 * 1024
#: After the main process exits, how long to keep reading pipes that a leftover child holds.
_DRAIN_GRACE_S = 0.2


@dataclass(frozen=True)
class Limits:
    """Per-process limits. ``None`` leaves a limit as inherited."""

    wall_s: float = 10.0
    cpu_s: float | None = None  # None: ceil(wall_s) + 1, so the wall timer fires first
    output_bytes: int = DEFAULT_OUTPUT_BYTES
    kill_on_output_cap: bool = True
    file_size_bytes: int | None = None
    nproc: int | None = None
    nofile: int | None = None
    address_space_mb: int | None = None  # RLIMIT_AS: only for hosts without memory cgroups
    oom_score_adj: int | None = None
    set_cpu_limit: bool = True

    def __post_init__(self) -> None:
        if not self.wall_s > 0:
            raise ValueError(f"wall_s must be > 0, got {self.wall_s!r}")
        if self.output_bytes < 0:
            raise ValueError(f"output_bytes must be >= 0, got {self.output_bytes!r}")

    @property
    def effective_cpu_s(self) -> int:
        return (
            int(math.ceil(self.cpu_s))
            if self.cpu_s is not None
            else int(math.ceil(self.wall_s)) + 1
        )


@dataclass(frozen=True)
class ProcessOutcome:
    """Raw facts about one finished process; :mod:`sandboxes.status` turns them into a status."""

    exit_code: int | None  # returncode: >= 0 an exit status, < 0 minus the killing signal
    timed_out: bool
    output_exceeded: bool
    stdout: bytes
    stderr: bytes
    wall_s: float
    spawn_error: str | None = None

    @property
    def signal(self) -> int | None:
        return -self.exit_code if self.exit_code is not None and self.exit_code < 0 else None


def _child_setup(
    limits: Limits,
    cgroup_procs: tuple[str, ...],
    user: int | None,
    pre_exec: Callable[[], None] | None,
) -> None:
    """Runs in the child between fork and exec (async-signal-safe enough for CPython's use).

    Order: join cgroups and set ``oom_score_adj`` while still privileged, set the rlimits,
    drop to ``user`` (uid and gid, no supplementary groups), then ``pre_exec``.
    """
    for path in cgroup_procs:  # join cgroups first: every descendant inherits them
        with open(path, "w") as fh:
            fh.write(str(os.getpid()))
    if limits.oom_score_adj is not None:
        try:
            with open("/proc/self/oom_score_adj", "w") as fh:
                fh.write(str(limits.oom_score_adj))
        except OSError:
            pass
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if limits.set_cpu_limit:
        cpu = limits.effective_cpu_s
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if limits.file_size_bytes is not None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_bytes,) * 2)
    if limits.nofile is not None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.nofile,) * 2)
    if limits.nproc is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.nproc,) * 2)
    if limits.address_space_mb is not None:
        cap = limits.address_space_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    if user is not None:
        os.setgroups([])
        os.setresgid(user, user, user)
        os.setresuid(user, user, user)
    if pre_exec is not None:
        pre_exec()


def _grow_pipe(fd: int, cap: int) -> None:
    """Make the pipe hold more than the cap, so a flood always *reaches* the cap.

    Runtimes that write stdout asynchronously (node's libuv) stop writing when the default
    64 KiB pipe is full and their event loop never runs again; with a pipe larger than the cap
    the verdict is ``output_exceeded`` whatever the reader's timing, instead of sometimes
    ``timeout``.
    """
    size = min(1024 * 1024, max(65536, 2 * cap))
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    except (OSError, AttributeError):
        pass


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _feed_stdin(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError, ValueError):
        pass
    finally:
        try:
            pipe.close()
        except (BrokenPipeError, OSError):
            pass


def spawn(
    argv: Sequence[str],
    *,
    limits: Limits,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes = b"",
    cgroup_procs: tuple[str, ...] = (),
    on_start=None,
    user: int | None = None,
    pre_exec: Callable[[], None] | None = None,
    pass_fds: tuple[int, ...] = (),
) -> ProcessOutcome:
    """Run ``argv`` to completion under ``limits`` and return what happened.

    ``cgroup_procs`` are ``cgroup.procs`` files the child joins before exec (needs root).
    ``user``: run as this uid and gid (needs CAP_SETUID/CAP_SETGID). ``pre_exec`` runs in the
    child last, just before exec; if it raises, the program does not start (``spawn_error``).
    ``pass_fds``: descriptors the child keeps open (e.g. bwrap's ``--seccomp FD``).
    ``on_start(pid)`` is called once the child runs (the bwrap backend records it).
    Never raises for a failing program; a program that cannot be started yields
    ``spawn_error``.
    """
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
            pass_fds=pass_fds,
            preexec_fn=lambda: _child_setup(limits, cgroup_procs, user, pre_exec),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return ProcessOutcome(None, False, False, b"", b"", time.monotonic() - start, str(exc))
    if on_start is not None:
        on_start(proc.pid)
    feeder = None
    if stdin:
        feeder = threading.Thread(target=_feed_stdin, args=(proc.stdin, stdin), daemon=True)
        feeder.start()

    deadline = start + limits.wall_s
    cap = limits.output_bytes
    out_buf, err_buf = bytearray(), bytearray()
    bufs = {proc.stdout.fileno(): out_buf, proc.stderr.fileno(): err_buf}
    sel = selectors.DefaultSelector()
    for pipe in (proc.stdout, proc.stderr):
        _grow_pipe(pipe.fileno(), cap)
        os.set_blocking(pipe.fileno(), False)
        sel.register(pipe.fileno(), selectors.EVENT_READ)
    timed_out = output_exceeded = False
    drain_until: float | None = None
    try:
        while sel.get_map():
            now = time.monotonic()
            if drain_until is None:
                if now >= deadline:
                    timed_out = True
                    _kill_group(proc.pid)
                    drain_until = now + _DRAIN_GRACE_S
                elif proc.poll() is not None:
                    # main process gone: kill what is left of its group, read what is buffered
                    _kill_group(proc.pid)
                    drain_until = now + _DRAIN_GRACE_S
            elif now >= drain_until:
                break  # an escaped child holds the pipe; stop reading
            wait = (drain_until if drain_until is not None else deadline) - now
            for key, _ in sel.select(timeout=max(0.0, min(wait, 0.05))):
                fd = key.fd
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(fd)
                    continue
                buf = bufs[fd]
                room = cap - len(buf)
                if room > 0:
                    buf += chunk[:room]
                if len(chunk) > room and not output_exceeded:
                    output_exceeded = True
                    if limits.kill_on_output_cap and drain_until is None:
                        _kill_group(proc.pid)
                        drain_until = time.monotonic() + _DRAIN_GRACE_S
    finally:
        sel.close()
        if drain_until is None:  # pipes closed but no verdict yet: wait for the exit status
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
        _kill_group(proc.pid)
        try:
            returncode = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # unkillable (D state): report, don't hang
            proc.kill()
            returncode = proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            pipe.close()
        if feeder is not None:
            feeder.join(timeout=1)
    if returncode == -signal.SIGXCPU and not output_exceeded:
        timed_out = True  # the CPU rlimit is a time limit too
    return ProcessOutcome(
        exit_code=returncode,
        timed_out=timed_out,
        output_exceeded=output_exceeded,
        stdout=bytes(out_buf),
        stderr=bytes(err_buf),
        wall_s=time.monotonic() - start,
    )
