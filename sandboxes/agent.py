"""In-sandbox agent: runs a batch of jobs, one after another, each in a fresh work dir.

Started as ``python3 /opt/sandbox/agent.py /job/batch.json`` inside a Docker container or a
bubblewrap sandbox, as uid 65534 and as PID 1 of the sandbox's own PID namespace (so no program
can kill it: PID 1 ignores signals it has no handler for). Stdlib only; it imports nothing but
``runner.py`` from the same directory, because the sandbox holds only an interpreter.

Per job: a fresh ``0700`` work dir, the job's files written, each step (compile, then run)
spawned through :func:`runner.spawn` with fresh rlimits, a wall timer and output caps; after the
job every process left in the sandbox is killed (``kill(-1)``: everything this uid may signal
in this PID namespace, never the agent itself) and the work dir, ``/tmp`` and ``/dev/shm`` are
wiped, so nothing of one program reaches the next. The agent is made non-dumpable so a program
running as the same uid cannot ptrace it or open its stdout through ``/proc``.

It prints one JSON line of raw facts per job on its stdout (the only channel back to the host);
the host classifies them (``sandboxes.status.classify``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time

if __package__:
    from .runner import Limits, spawn
else:  # run as a script inside the sandbox (python3 -I: the script's dir is not on sys.path)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from runner import Limits, spawn  # type: ignore[no-redef]

_PR_SET_DUMPABLE = 4


def _harden() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)  # PID 1 without a handler ignores them
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _oom_kills(path: str | None) -> int:
    if not path:
        return 0
    try:
        with open(path) as fh:
            for line in fh:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    except OSError:
        pass
    return 0


def _kill_everything() -> None:
    """Kill every process this uid may signal in the sandbox, then reap (only as PID 1)."""
    if os.getpid() != 1:
        return  # outside a PID namespace kill(-1) would reach the host's processes
    try:
        os.kill(-1, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.005)


def _wipe(path: str, keep_root: bool = True) -> None:
    if not os.path.isdir(path):
        return
    if not keep_root:
        shutil.rmtree(path, ignore_errors=True)
        return
    for name in os.listdir(path):
        full = os.path.join(path, name)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            try:
                os.unlink(full)
            except OSError:
                pass


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def run_job(job: dict, index: int, spec: dict) -> dict:
    """Run one job's steps in a fresh dir; return its raw facts (see module docstring)."""
    work = os.path.join(spec.get("work_root", "/work"), f"j{index}")
    result = {"id": job.get("id", index), "phase": "setup", "exit_code": None,
              "timed_out": False, "oom_killed": False, "output_exceeded": False,
              "stdout": "", "stderr": "", "wall_s": 0.0, "error": None}
    start = time.monotonic()
    try:
        os.mkdir(work, 0o700)
        for name, content in job["files"]:
            path = os.path.join(work, name)
            if os.path.dirname(name):
                os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(content)
    except (OSError, KeyError, ValueError) as exc:
        result["error"] = f"could not prepare the work dir: {exc}"
        return result
    env = {key: value.replace("{dir}", work) for key, value in job.get("env", {}).items()}
    env.setdefault("HOME", work)
    env.setdefault("TMPDIR", work)
    oom_path = spec.get("oom_control")
    for step in job["steps"]:
        limits = Limits(
            wall_s=float(step["timeout_s"]),
            output_bytes=int(job.get("output_bytes", 65536)),
            kill_on_output_cap=step["phase"] == "run",
            file_size_bytes=job.get("file_size_bytes"),
            nproc=job.get("nproc"),
            nofile=job.get("nofile"),
            address_space_mb=job.get("address_space_mb"),
            oom_score_adj=1000,
        )
        before = _oom_kills(oom_path)
        outcome = spawn(step["argv"], limits=limits, cwd=work, env=env,
                        stdin=step.get("stdin", "").encode("utf-8"))
        _kill_everything()
        oom = _oom_kills(oom_path) > before
        result.update(phase=step["phase"], exit_code=outcome.exit_code,
                      timed_out=outcome.timed_out, oom_killed=oom,
                      output_exceeded=outcome.output_exceeded, stdout=_text(outcome.stdout),
                      stderr=_text(outcome.stderr), error=outcome.spawn_error)
        if outcome.spawn_error is not None:
            result["phase"] = "setup"
            break
        if outcome.exit_code != 0 or outcome.timed_out or oom or (
            outcome.output_exceeded and step["phase"] == "run"
        ):
            break
    result["wall_s"] = round(time.monotonic() - start, 4)
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: agent.py BATCH.json", file=sys.stderr)
        return 2
    _harden()
    with open(args[0], encoding="utf-8") as fh:
        spec = json.load(fh)
    for index, job in enumerate(spec["jobs"]):
        result = run_job(job, index, spec)
        _kill_everything()
        _wipe(os.path.join(spec.get("work_root", "/work"), f"j{index}"), keep_root=False)
        for path in spec.get("wipe", ("/tmp", "/dev/shm")):
            _wipe(path)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
