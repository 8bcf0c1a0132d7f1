"""Stop a server process, with its children, on every way its starter can exit.

Beam's vLLM handler starts the server with ``subprocess.Popen`` and stops it only from
``__del__`` of an object Beam keeps for the life of the process, so the server outlives the
pipeline (on a GPU it keeps its memory reserved and the next run cannot start). The ``vllm``
backend therefore stops it itself: at DoFn teardown and at interpreter exit (``atexit``),
and, for exits that run no Python code (SIGKILL, a crash, the OOM killer), through a
watchdog: ``python -m pipeline.translate.reaper PID START`` holds a pipe from the starter;
when the pipe closes without the word ``release`` (the starter died), it kills the server's
process tree. A server is identified by pid and start time, so a recycled pid is never hit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces or parentheses: split after its last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19])


def alive(pid: int, started: int | None = None) -> bool:
    """Whether ``pid`` runs (and is not a zombie), and is the same process when ``started`` is given."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return False
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return False
    return started is None or int(fields[19]) == started


def descendants(pid: int) -> list[int]:
    """All processes below ``pid`` (children first found, then theirs), read from ``/proc``."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_tree(pid: int, started: int | None = None, grace_s: float = 15.0) -> None:
    """SIGTERM ``pid`` (if it is still the process that ``started`` names), wait up to
    ``grace_s`` for it to shut down its workers, then SIGKILL it and whatever is left below it."""
    if not alive(pid, started):
        return
    children = descendants(pid)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and alive(pid, started):
        time.sleep(0.1)
    for victim in [pid, *children]:
        try:
            if victim == pid and not alive(pid, started):
                continue
            os.kill(victim, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def argv(pid: int) -> list[str]:
    """The arguments ``pid`` was started with, or [] if it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return []


def runs_module(pid: int, module: str) -> bool:
    """Whether ``pid`` is ``python -m MODULE ...`` (the watchdog, which names it, is not)."""
    args = argv(pid)
    return any(a == "-m" and b == module for a, b in zip(args, args[1:], strict=False))


def matching_descendants(pid: int, module: str) -> list[int]:
    """Live processes below ``pid`` that run ``python -m module``."""
    return [child for child in descendants(pid) if runs_module(child, module) and alive(child)]


class Watchdog:
    """A watchdog process for this process's servers (``python -m <marker>`` processes).

    While this process lives, the watchdog notes (every ``interval_s``) each descendant
    running that module, by pid and start time, from the moment it is spawned (a server that
    is still starting is covered). When this process dies, its end of the pipe closes, and the
    watchdog kills the noted servers that still run, with their process trees. ``release()``
    ends the watchdog without killing anything (the servers were stopped normally).
    """

    def __init__(self, marker: str, interval_s: float = 1.0) -> None:
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline.translate.reaper",
                str(os.getpid()),
                marker,
                str(interval_s),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal must not kill the watchdog first
        )

    @property
    def pid(self) -> int:
        return self._proc.pid

    def release(self) -> None:
        """End the watchdog without killing anything."""
        if self._proc.poll() is None:
            try:
                self._proc.stdin.write(b"release\n")
                self._proc.stdin.close()
            except (BrokenPipeError, ValueError):
                pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def main(argv: list[str] | None = None) -> int:
    """``reaper PARENT MARKER INTERVAL``: note PARENT's matching descendants until stdin closes;
    unless told ``release``, kill the noted ones that still run."""
    import threading

    args = sys.argv[1:] if argv is None else argv
    parent, marker, interval = int(args[0]), args[1], float(args[2])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    message: list[bytes] = []
    done = threading.Event()

    def read() -> None:
        message.append(sys.stdin.buffer.read())  # returns at EOF: a release, or the parent's death
        done.set()

    threading.Thread(target=read, daemon=True).start()
    noted: dict[int, int | None] = {}
    while True:
        for pid in matching_descendants(parent, marker):
            noted.setdefault(pid, start_time(pid))
        if done.wait(interval):
            break
    if message and message[0].strip() == b"release":
        return 0
    for pid, started in noted.items():
        kill_tree(pid, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
