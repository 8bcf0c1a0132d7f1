"""In-sandbox agent: runs a batch of jobs one after another, each isolated from the others.

Started as ``python3 -I -S -B /opt/sandbox/agent.py MANIFEST`` inside a Docker container or a
bubblewrap sandbox, as PID 1 of the sandbox's own PID namespace (so no program can kill it:
PID 1 ignores signals it has no handler for). ``MANIFEST`` is the batch's job list: a file only
the agent can read (Docker: ``/job/batch.json``, mode 0600) or ``-`` for stdin (bubblewrap), so
no program sees the other programs of its batch. Stdlib only; it imports nothing but
``runner.py`` and ``syscall_filter.py`` from the same directory, because the sandbox holds only
an interpreter.

The agent runs as root inside the sandbox with only the capabilities it needs (CAP_SETUID,
CAP_SETGID, CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_KILL; no CAP_SYS_ADMIN) and is made
non-dumpable. Program i of the batch runs as its own unprivileged uid ``uid_base + i`` (gid the
same, no supplementary groups), with ``no_new_privs``, the seccomp filter of
``syscall_filter.py`` (installed here when the manifest asks, i.e. under Docker; bubblewrap
installs it for the whole sandbox), fresh rlimits, a wall timer and output caps (``runner.spawn``), in its
own job dir ``/work/j<i>`` (mode 0700, owned by that uid) under a root-owned ``/work`` (0755):
it can write nowhere but its dir, ``/tmp``, ``/dev/shm`` and ``/dev/mqueue``, cannot touch the
dirs of the programs after it, and cannot signal or trace the agent.

After each job the agent kills every process left in the sandbox (``kill(-1)`` from PID 1) and
removes everything the program could have left: its job dir, the contents of ``/tmp``,
``/dev/shm`` and ``/dev/mqueue``, anything else in ``/work``, and every System V IPC object
(each removed as its creator: ``IPC_RMID`` needs the creator's uid without CAP_SYS_ADMIN). The
removal is iterative (any depth), fixes modes before deleting, follows no symlink and never
raises. It then checks that the sandbox's unreclaimable memory (anonymous + shmem, from the
memory cgroup) is back at its level from before the first program; if anything is left, or
the check fails, the agent reports this job and exits ("retires"): the host re-runs the rest
of the batch in a fresh sandbox (``Sandbox._run_chunk``). So a program's verdict is the one it
gets alone, whatever ran before it.

Without the capabilities to switch uids (bubblewrap run by an unprivileged user, where the
whole sandbox is one uid) the manifest carries no ``uid_base`` and every program runs as the
agent's own uid; the cleanup and the memory check still run.

It prints one JSON line of raw facts per job on its stdout (the only channel back to the host);
the host classifies them (``sandboxes.status.classify``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

if __package__:
    from . import syscall_filter
    from .runner import Limits, ProcessOutcome, spawn
else:  # run as a script inside the sandbox (python3 -I: the script's dir is not on sys.path)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import syscall_filter  # type: ignore[no-redef]
    from runner import Limits, ProcessOutcome, spawn  # type: ignore[no-redef]

_PR_SET_DUMPABLE = 4
#: Dirs every program may write to, emptied after each job.
WIPE: tuple[str, ...] = ("/tmp", "/dev/shm", "/dev/mqueue")
#: Unreclaimable memory the agent itself may gain between two jobs before it retires.
MEMORY_SLACK_BYTES = 16 * 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_IPC_KINDS: tuple[str, ...] = ("shm", "msg", "sem")
_IPC_RMID = 0


@dataclass(frozen=True)
class Context:
    """What every step of a batch needs to know about the sandbox.

    Attributes:
        root: the work root (``/work``), owned by root.
        oom_path: the memory cgroup's ``memory.oom_control`` (None: no cgroup to read).
        compile_uid: uid of the batch compile (no program runs then); None: no uid switching.
        uid_base: program i runs as ``uid_base + i``; None: as the agent's own uid.
        pre_exec: installs the seccomp filter in a child before exec (None: no filter).
    """

    root: str
    oom_path: str | None
    compile_uid: int | None
    uid_base: int | None
    pre_exec: Callable[[], None] | None

    def uid(self, index: int) -> int | None:
        return None if self.uid_base is None else self.uid_base + index

    def work(self, index: int) -> str:
        return os.path.join(self.root, f"j{index}")

    @property
    def memory_stat(self) -> str | None:
        return (
            os.path.join(os.path.dirname(self.oom_path), "memory.stat") if self.oom_path else None
        )


def _harden() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)  # PID 1 without a handler ignores them
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (ImportError, OSError, AttributeError):
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


def _charge(path: str | None) -> int | None:
    """Bytes of the memory cgroup that no reclaim can free: anonymous memory plus shmem (tmpfs
    files, System V and POSIX shared memory). Page cache is left out: the kernel reclaims it
    when a program needs the memory. None when the cgroup cannot be read."""
    if not path:
        return None
    try:
        with open(path) as fh:
            values = dict(line.split()[:2] for line in fh if line.strip())
        keys = ("rss", "shmem") if "rss" in values else ("anon", "shmem")  # cgroup v1 / v2
        return sum(int(values.get(key, 0)) for key in keys)
    except (OSError, ValueError):
        return None


# -- cleanup: nothing of one job may reach the next ------------------------------------------


def _kill_everything() -> bool:
    """SIGKILL every other process of the sandbox and reap them all; True when none is left.

    Only as PID 1 (outside a PID namespace ``kill(-1)`` would reach the host's processes):
    every process of the namespace is then the agent's descendant, so "no child left to
    reap" means "no process left".
    """
    if os.getpid() != 1:
        return True
    try:
        os.kill(-1, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid == 0:
            time.sleep(0.005)
    return False


def _open_dir(name: str, dir_fd: int | None = None) -> int | None:
    """Open a directory without following a symlink; chmod u+rwx first if its mode forbids."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:
        try:
            mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
            if not stat.S_ISDIR(mode):
                return None
            os.chmod(name, stat.S_IMODE(mode) | 0o700, dir_fd=dir_fd)
            return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except OSError:
            return None
    except OSError:
        return None


def _clear_dir(fd: int) -> tuple[list[str], bool]:
    """Unlink every non-directory of the open dir ``fd`` and rmdir its empty subdirs.

    Returns the names of the subdirs that are not empty, and whether the rest all went.
    """
    try:
        mode = os.fstat(fd).st_mode
        if mode & 0o700 != 0o700:  # a dir its owner made read-only: unlinking needs u+wx
            os.fchmod(fd, stat.S_IMODE(mode) | 0o700)
    except OSError:
        pass
    try:
        with os.scandir(fd) as entries:
            listed = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
    except OSError:
        return [], False
    full, ok = [], True
    for name, is_dir in listed:
        try:
            if is_dir:
                try:
                    os.rmdir(name, dir_fd=fd)
                except OSError:
                    full.append(name)
            else:
                os.unlink(name, dir_fd=fd)
        except OSError:
            ok = False
    return full, ok


def _remove_tree(path: str, keep_root: bool = False) -> bool:
    """Remove ``path`` and everything under it (``keep_root``: only empty it); never raises.

    Made for trees a program built to break cleanup: any depth (iterative, one open dir at a
    time: it climbs back through ``..``, which nothing can redirect once the program's
    processes are dead), any modes (u+rwx restored before descending), symlinks never
    followed, paths never longer than one name. True when everything went.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if not stat.S_ISDIR(mode):
        if keep_root:
            return False
        try:
            os.unlink(path)
            return True
        except OSError:
            return False
    fd = _open_dir(path)
    if fd is None:
        return False
    ok = True
    try:
        full, cleared = _clear_dir(fd)
        ok = cleared
        stack: list[tuple[str, list[str]]] = [("", full)]  # (name in parent, subdirs to empty)
        while stack:
            name, pending = stack[-1]
            if pending:
                child_name = pending.pop()
                child = _open_dir(child_name, fd)
                if child is None:
                    ok = False
                    continue
                os.close(fd)
                fd = child
                full, cleared = _clear_dir(fd)
                ok = ok and cleared
                stack.append((child_name, full))
                continue
            stack.pop()
            if not stack:
                break
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent
            try:
                os.rmdir(name, dir_fd=fd)
            except OSError:
                ok = False
    except Exception:  # noqa: BLE001 - cleanup reports failure, it never kills the agent
        ok = False
    finally:
        os.close(fd)
    try:
        if keep_root:
            return ok and not os.listdir(path)
        os.rmdir(path)
    except OSError:
        return False
    return ok


def _ipc_objects() -> list[tuple[str, int, int]]:
    """(kind, id, creator uid) of every System V IPC object in the sandbox's IPC namespace."""
    found = []
    for kind in _IPC_KINDS:
        try:
            with open(f"/proc/sysvipc/{kind}") as fh:
                header = fh.readline().split()
                ident, cuid = 1, header.index("cuid")
                for line in fh:
                    fields = line.split()
                    if len(fields) > cuid:
                        found.append((kind, int(fields[ident]), int(fields[cuid])))
        except (OSError, ValueError):
            continue
    return found


def _remove_ipc() -> bool:
    """Remove every System V IPC object; True when none is left.

    ``IPC_RMID`` needs the object's owner or creator uid (or CAP_SYS_ADMIN, which the agent
    does not hold), so a short-lived child takes each creator's uid to remove its objects.
    POSIX message queues are files of ``/dev/mqueue`` and go with ``WIPE``.
    """
    objects = _ipc_objects()
    if not objects:
        return True
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
    except (ImportError, OSError):
        return False
    by_creator: dict[int, list[tuple[str, int]]] = {}
    for kind, ident, cuid in objects:
        by_creator.setdefault(cuid, []).append((kind, ident))
    for cuid, items in by_creator.items():
        try:
            pid = os.fork()
        except OSError:
            return False
        if pid == 0:  # the child: only system calls, then _exit
            try:
                if os.geteuid() != cuid:
                    os.setresuid(cuid, cuid, cuid)
                for kind, ident in items:
                    if kind == "shm":
                        libc.shmctl(ident, _IPC_RMID, None)
                    elif kind == "msg":
                        libc.msgctl(ident, _IPC_RMID, None)
                    else:
                        libc.semctl(ident, 0, _IPC_RMID)
            finally:
                os._exit(0)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    return not _ipc_objects()


def _cleanup(ctx: Context, index: int, count: int, wipe: tuple[str, ...]) -> list[str]:
    """After job ``index`` of ``count``: kill, remove and check; what could not be undone."""
    problems = []
    if not _kill_everything():
        problems.append("a process survived SIGKILL")
    if not _remove_tree(ctx.work(index)):
        problems.append(f"could not remove {ctx.work(index)}")
    for path in wipe:
        if os.path.isdir(path) and not _remove_tree(path, keep_root=True):
            problems.append(f"could not empty {path}")
    later = {f"j{k}" for k in range(index + 1, count)}  # prepared by the batch compile
    try:
        for name in os.listdir(ctx.root):
            if name not in later and not _remove_tree(os.path.join(ctx.root, name)):
                problems.append(f"could not remove {ctx.root}/{name}")
    except OSError as exc:
        problems.append(f"could not list {ctx.root}: {exc}")
    if not _remove_ipc():
        problems.append("System V IPC objects remain")
    return problems


# -- one job ---------------------------------------------------------------------------------


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _own(path: str, uid: int | None) -> None:
    """Give ``path`` and everything under it to ``uid`` (gid the same). Only for trees the
    agent or a compiler wrote, never one a program could have shaped."""
    if uid is None:
        return
    os.lchown(path, uid, uid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, uid)


def _digest(path: str) -> str:
    """Hash of a dir's names, modes, owners and contents: did anything touch a compiled
    program? (A tree too deep to walk hashes to a value no real dir has.)"""
    digest = hashlib.sha256()
    try:
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(dirs + files):
                full = os.path.join(root, name)
                st = os.lstat(full)
                digest.update(
                    f"{os.path.relpath(full, path)}\0{st.st_mode}\0{st.st_uid}\0".encode()
                )
                if stat.S_ISLNK(st.st_mode):
                    digest.update(os.readlink(full).encode())
                elif stat.S_ISREG(st.st_mode):
                    with open(full, "rb") as fh:
                        digest.update(hashlib.sha256(fh.read()).digest())
    except (OSError, RecursionError):
        return "unreadable"
    return digest.hexdigest()


def _new_result(job: dict, index: int) -> dict:
    return {
        "id": job.get("id", index),
        "phase": "setup",
        "exit_code": None,
        "timed_out": False,
        "oom_killed": False,
        "output_exceeded": False,
        "stdout": "",
        "stderr": "",
        "wall_s": 0.0,
        "error": None,
    }


def _prepare(job: dict, work: str, uid: int | None) -> str | None:
    """Create the fresh work dir (0700, owned by ``uid``) with the job's files; an error
    message or None."""
    try:
        os.mkdir(work, 0o700)
        for name, content in job["files"]:
            path = os.path.join(work, name)
            if os.path.dirname(name):
                os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(content)
        _own(work, uid)
    except (OSError, KeyError, ValueError) as exc:
        return f"could not prepare the work dir: {exc}"
    return None


def _env(job: dict, work: str, extra: dict | None = None) -> dict:
    env = {
        key: value.replace("{dir}", work)
        for key, value in {**job.get("env", {}), **(extra or {})}.items()
    }
    env.setdefault("HOME", work)
    env.setdefault("TMPDIR", work)
    return env


def _limits(job: dict, step: dict, wall_s: float | None = None) -> Limits:
    return Limits(
        wall_s=float(wall_s if wall_s is not None else step["timeout_s"]),
        cpu_s=step.get("cpu_s"),
        output_bytes=int(job.get("output_bytes", 65536)),
        kill_on_output_cap=step["phase"] == "run",
        file_size_bytes=job.get("file_size_bytes"),
        nproc=job.get("nproc"),
        nofile=job.get("nofile"),
        address_space_mb=job.get("address_space_mb"),
        oom_score_adj=1000,
    )


def _spawn(
    ctx: Context,
    argv: list[str],
    *,
    limits: Limits,
    cwd: str,
    env: dict,
    uid: int | None,
    stdin: bytes = b"",
) -> ProcessOutcome:
    """``runner.spawn`` as ``uid``, under the seccomp filter."""
    return spawn(
        argv, limits=limits, cwd=cwd, env=env, stdin=stdin, user=uid, pre_exec=ctx.pre_exec
    )


def _run_step(
    ctx: Context, job: dict, step: dict, work: str, env: dict, uid: int | None
) -> tuple[dict, bool]:
    """Spawn one step as ``uid``; (its raw facts, whether the job stops here)."""
    before = _oom_kills(ctx.oom_path)
    outcome = _spawn(
        ctx,
        step["argv"],
        limits=_limits(job, step),
        cwd=work,
        env=env,
        uid=uid,
        stdin=step.get("stdin", "").encode("utf-8"),
    )
    _kill_everything()
    oom = _oom_kills(ctx.oom_path) > before
    facts = {
        "phase": step["phase"],
        "exit_code": outcome.exit_code,
        "timed_out": outcome.timed_out,
        "oom_killed": oom,
        "output_exceeded": outcome.output_exceeded,
        "stdout": _text(outcome.stdout),
        "stderr": _text(outcome.stderr),
        "error": outcome.spawn_error,
    }
    if outcome.spawn_error is not None:
        facts["phase"] = "setup"
        return facts, True
    stop = (
        outcome.exit_code != 0
        or outcome.timed_out
        or oom
        or (outcome.output_exceeded and step["phase"] == "run")
    )
    return facts, stop


# -- batch compile: before any program runs ---------------------------------------------------

_FIRST_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]', re.MULTILINE)
_SYSTEM_INCLUDE_LINE = re.compile(r'[ \t]*#[ \t]*include[ \t]*<([^<>"\n]+)>[ \t]*(//[^\n]*)?')
#: Once the precompiled headers of a batch take this much of the work tmpfs, no more are built
#: (they count against the batch's memory cgroup while the batch compiles).
PCH_BUDGET_BYTES = 64 * 1024 * 1024


def _opening_includes(source: str) -> list[str]:
    """The system headers ``source`` opens with: the run of ``#include <...>`` lines from its
    first line on (a trailing ``//`` comment allowed), up to the first other line. A program
    that does not open with one gives only its first include, if that is a system header."""
    run = []
    for line in source.splitlines():
        match = _SYSTEM_INCLUDE_LINE.fullmatch(line)
        if not match:
            break
        run.append(match.group(1).strip())
    if not run:
        match = _FIRST_INCLUDE.search(source)
        if match and match.group(1) == "<":
            run = [match.group(2)]
    return [header for header in run if ".." not in header]


def pch_plan(sources: list[str]) -> list[tuple[str, list[str], int]]:
    """What to precompile for a batch: ``(first header, headers, programs)``, most used first.

    GCC takes ``<dir>/<first header>.gch`` for a program's first ``#include`` when valid, in
    place of that header. For each first header that two or more programs open with, the
    PCH holds the longest run of opening system includes that *every* program opening with
    that header shares, so what any of them sees is exactly its own opening lines (the later
    ones of the run are then skipped by their include guards): the same result as compiling
    it alone, with the shared prelude parsed once per batch instead of once per program.
    """
    runs: dict[str, list[list[str]]] = {}
    for source in sources:
        run = _opening_includes(source)
        if run:
            runs.setdefault(run[0], []).append(run)
    plan = []
    for first, group in runs.items():
        if len(group) < 2:
            continue
        common = group[0]
        for run in group[1:]:
            n = 0
            while n < min(len(common), len(run)) and common[n] == run[n]:
                n += 1
            common = common[:n]
        plan.append((first, common, len(group)))
    plan.sort(key=lambda item: (-item[2], item[0]))
    return plan


def _build_pchs(ctx: Context, jobs: list[dict], batch: dict) -> None:
    """Precompile the system headers two or more programs of the batch open with (``pch_plan``).

    The PCH dir is the first entry of the batch's include path (e.g. ``CPLUS_INCLUDE_PATH``);
    GCC uses ``<dir>/<header>.gch`` only when it is valid for that compile and otherwise keeps
    searching for the real header, so results match a compile without it.
    """
    pch_dir = next(
        (
            value.split(":")[0]
            for value in batch.get("env", {}).values()
            if value.startswith(ctx.root + "/")
        ),
        None,
    )
    if pch_dir is None:
        return
    built = 0
    for header, headers, _ in pch_plan([job["files"][0][1] for job in jobs]):
        if built >= PCH_BUDGET_BYTES:
            break
        out = os.path.join(pch_dir, header + ".gch")
        source = os.path.join(pch_dir, ".src-" + header.replace("/", "_") + ".h")
        try:
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(source, "w") as fh:
                fh.write("".join(f"#include <{h}>\n" for h in headers))
            _own(pch_dir, ctx.compile_uid)
        except OSError:
            continue
        # GCC, finding <dir>/<header>.gch that it cannot use (the header included a second
        # time, after the PCH was used), looks for <dir>/<header> itself and stops with "No
        # such file" when it is absent: a program that was right alone was a compile error in
        # a batch. A forwarding header beside the PCH goes on to the real one, as a compile
        # without the PCH dir would.
        forward = os.path.join(pch_dir, header)
        try:
            with open(forward, "w") as fh:
                fh.write(f"#include_next <{header}>\n")
        except OSError:
            continue
        argv = [arg.replace("{out}", out).replace("{header}", source) for arg in batch["pch_argv"]]
        step = {"phase": "compile", "timeout_s": 60.0}
        outcome = _spawn(
            ctx,
            argv,
            limits=_limits(jobs[0], step),
            cwd=pch_dir,
            env=_env(jobs[0], pch_dir),
            uid=ctx.compile_uid,
        )
        _kill_everything()
        try:
            os.unlink(source)
            if outcome.exit_code != 0 and os.path.exists(out):
                os.unlink(out)
                os.unlink(forward)
            elif os.path.exists(out):
                built += os.path.getsize(out)
        except OSError:
            pass


#: The compile facts of a program built by a batch's one link (Go) or one crate (Rust).
_LINKED_FACTS = {
    "phase": "compile",
    "exit_code": 0,
    "timed_out": False,
    "oom_killed": False,
    "output_exceeded": False,
    "stdout": "",
    "stderr": "",
    "error": None,
}

_GO_ENTRY = "XSandboxBatchEntry"


def _go_top_level(source: str) -> str:
    """The text of ``source`` at brace depth 0, without comments, strings and runes."""
    out, depth, i, n = [], 0, 0, len(source)
    while i < n:
        ch = source[i]
        if source.startswith("//", i):
            end = source.find("\n", i)
            i = n if end < 0 else end
            continue
        if source.startswith("/*", i):
            end = source.find("*/", i + 2)
            i = n if end < 0 else end + 2
            out.append(" ")
            continue
        if ch in "\"'`":
            j = i + 1
            while j < n and source[j] != ch:
                if source[j] == "\\" and ch != "`":
                    j += 1
                j += 1
            i = j + 1
            out.append(" ")
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0:
            out.append(ch)
        i += 1
    return "".join(out)


_GO_MAIN = re.compile(r"\bfunc\s+main\s*\(\s*\)\s*$", re.MULTILINE)


def _go_linkable(job: dict) -> bool:
    """May this Go program be linked into the batch's one binary without changing its verdict?

    Only a single-file ``package main`` with a plain ``func main()`` and nothing that runs
    before ``main``: no ``func init``, no package-level ``var`` (its initializer would run, and
    its storage would be reserved, in every other program of the batch), no ``//go:``
    directives or build constraints. Anything else is compiled alone as before.
    """
    if len(job["files"]) != 1 or not job["files"][0][0].endswith(".go"):
        return False
    source = job["files"][0][1]
    if "//go:" in source or "+build" in source or _GO_ENTRY in source:
        return False
    top = _go_top_level(source)
    return (
        len(re.findall(r"\bpackage\s+main\b", top)) == 1
        and len(re.findall(r"\bpackage\b", top)) == 1
        and not re.search(r"\bvar\b|\bfunc\s+init\b", top)
        and len(_GO_MAIN.findall(top)) == 1
    )


def _go_link_once(
    ctx: Context, jobs: list[dict], ready: list[int], batch_env: dict
) -> dict[int, dict]:
    """Go: compile each eligible program as its own package, then link them all ONCE.

    Each program's ``package main`` becomes package ``p<i>`` (its ``main`` stays, an added
    file exports it); a generated dispatcher imports them all and calls the one named by its
    first argument, which it removes from ``os.Args`` before the program starts. A package
    that does not compile is named by ``go build`` (``# gobatch/p<i>``) and dropped from the
    link: that program is then compiled alone, so its diagnostics are exactly its own. Every
    program still runs as its own process, in its own dir, with its own limits.
    Returns ``{index: {"facts": ..., "run_args": [...]}}`` for the programs linked here.
    """
    gopath = os.path.join(ctx.root, ".gobatch")
    chosen = [i for i in ready if _go_linkable(jobs[i])]
    if len(chosen) < 2:
        return {}
    try:
        for i in chosen:
            pkg = os.path.join(gopath, "src", "gobatch", f"p{i}")
            os.makedirs(pkg)
            name, source = jobs[i]["files"][0]
            top_start = re.search(r"\bpackage\s+main\b", source)
            with open(os.path.join(pkg, name), "w", encoding="utf-8") as fh:
                fh.write(source[: top_start.start()] + f"package p{i}" + source[top_start.end() :])
            with open(os.path.join(pkg, "zz_sandbox_entry.go"), "w") as fh:
                fh.write(f"package p{i}\n\nfunc {_GO_ENTRY}() {{ main() }}\n")
        os.makedirs(os.path.join(gopath, "src", "gobatch", "cmd"))
        os.makedirs(os.path.join(gopath, "bin"))
        _own(gopath, ctx.compile_uid)
    except (OSError, AttributeError):
        _remove_tree(gopath)
        return {}
    exe = os.path.join(gopath, "bin", "main")
    first = jobs[chosen[0]]
    env = _env(first, gopath, {**batch_env, "GOPATH": gopath})
    linked = list(chosen)
    ok = False
    for _ in range(4):
        if len(linked) < 2:
            break
        imports = "".join(f'\tp{i} "gobatch/p{i}"\n' for i in linked)
        cases = "".join(f'\tcase "p{i}":\n\t\tp{i}.{_GO_ENTRY}()\n' for i in linked)
        with open(os.path.join(gopath, "src", "gobatch", "cmd", "main.go"), "w") as fh:
            fh.write(
                f'package main\n\nimport (\n\t"os"\n{imports})\n\nfunc main() {{\n'
                "\tif len(os.Args) < 2 {\n\t\tos.Exit(125)\n\t}\n\twhich := os.Args[1]\n"
                "\tos.Args = append(os.Args[:1:1], os.Args[2:]...)\n"
                f"\tswitch which {{\n{cases}\tdefault:\n\t\tos.Exit(125)\n\t}}\n}}\n"
            )
        step = {
            "phase": "compile",
            "timeout_s": sum(jobs[i]["steps"][0]["timeout_s"] for i in linked),
        }
        before = _oom_kills(ctx.oom_path)
        outcome = _spawn(
            ctx,
            ["go", "build", "-o", exe, "gobatch/cmd"],
            limits=_limits(first, step),
            cwd=gopath,
            env=env,
            uid=ctx.compile_uid,
        )
        _kill_everything()
        if (
            outcome.spawn_error is not None
            or outcome.timed_out
            or _oom_kills(ctx.oom_path) > before
        ):
            break
        if outcome.exit_code == 0:
            ok = os.path.isfile(exe)
            break
        failed = set(re.findall(r"^# gobatch/p(\d+)\s*$", _text(outcome.stderr), re.MULTILINE))
        if not failed:
            break
        linked = [i for i in linked if str(i) not in failed]
    done: dict[int, dict] = {}
    if ok:
        for i in linked:
            target = os.path.join(ctx.root, f"j{i}", "main")
            try:  # a copy, not a link: a program may write to another's binary, as alone
                shutil.copy2(exe, target)
            except OSError:
                continue
            done[i] = {
                "facts": _LINKED_FACTS.copy(),
                "run_args": [f"p{i}"],
            }
    _remove_tree(gopath)
    return done


_RS_MAIN = re.compile(r"^fn\s+main\s*\(\s*\)", re.MULTILINE)
_RS_UNSAFE = (
    "#!",
    "crate::",
    "super::",
    "static",
    "macro_rules",
    "extern",
    "mod ",
    "#[path",
    "include",
    "file!",
    "module_path!",
    "line!",
    "column!",
    "env!",
    "no_mangle",
    "export_name",
    "#[link",
    "SANDBOX_BATCH_ENTRY",
    "mod\t",
)
_RS_ERROR_FILE = re.compile(r"^error(?:\[E\d+\])?:.*\n\s*--> /work/j(\d+)/", re.MULTILINE)


def _rust_linkable(job: dict) -> bool:
    """May this Rust program become a module of the batch's one crate without changing its
    verdict? A single file with one column-0 ``fn main()`` and none of the items whose meaning
    depends on being the crate root (inner attributes, ``crate::``/``super::`` paths, macros,
    modules, statics, symbol names, file/line macros); anything else is compiled alone."""
    if len(job["files"]) != 1 or not job["files"][0][0].endswith(".rs"):
        return False
    source = job["files"][0][1]
    return not any(token in source for token in _RS_UNSAFE) and len(_RS_MAIN.findall(source)) == 1


def _rust_link_once(ctx: Context, jobs: list[dict], ready: list[int]) -> dict[int, dict]:
    """Rust: one crate whose modules are the batch's programs, compiled and linked ONCE.

    Module ``p<i>`` is program i's own file (``#[path]``, its ``fn main`` made ``pub``); the
    crate's ``main`` runs the one named by ``SANDBOX_BATCH_ENTRY``, removed from the
    environment first, and returns its result through ``Termination`` as a root ``main``
    would. An error located in a program's file drops that program (compiled alone later) and
    the crate is rebuilt. Returns ``{index: {"facts": ..., "run_env": {...}}}``.
    """
    chosen = [i for i in ready if _rust_linkable(jobs[i])]
    if len(chosen) < 2:
        return {}
    build = os.path.join(ctx.root, ".rsbatch")
    try:
        os.mkdir(build, 0o700)
        for i in chosen:
            name, source = jobs[i]["files"][0]
            with open(os.path.join(ctx.root, f"j{i}", name), "w", encoding="utf-8") as fh:
                fh.write(_RS_MAIN.sub("pub fn main()", source, count=1))
        _own(build, ctx.compile_uid)
    except OSError:
        _remove_tree(build)
        return {}
    exe = os.path.join(build, "main")
    first = jobs[chosen[0]]
    compile_argv = [arg for arg in first["steps"][0]["argv"]]
    linked, ok = list(chosen), False
    for _ in range(4):
        if len(linked) < 2:
            break
        mods = "".join(
            f'#[path = "{ctx.root}/j{i}/{jobs[i]["files"][0][0]}"]\nmod p{i};\n' for i in linked
        )
        arms = "".join(f'        "p{i}" => p{i}::main().report(),\n' for i in linked)
        with open(os.path.join(build, "batch.rs"), "w") as fh:
            fh.write(
                f"use std::process::Termination;\n{mods}\n"
                "fn main() -> std::process::ExitCode {\n"
                '    let which = std::env::var("SANDBOX_BATCH_ENTRY").unwrap_or_default();\n'
                '    std::env::remove_var("SANDBOX_BATCH_ENTRY");\n'
                f"    match which.as_str() {{\n{arms}"
                "        _ => std::process::ExitCode::from(125),\n    }\n}\n"
            )
        argv = [
            exe if arg == "./main" else "batch.rs" if arg == jobs[chosen[0]]["files"][0][0] else arg
            for arg in compile_argv
        ]
        step = {
            "phase": "compile",
            "timeout_s": sum(jobs[i]["steps"][0]["timeout_s"] for i in linked),
        }
        before = _oom_kills(ctx.oom_path)
        outcome = _spawn(
            ctx,
            argv,
            limits=_limits(first, step),
            cwd=build,
            env=_env(first, build),
            uid=ctx.compile_uid,
        )
        _kill_everything()
        if (
            outcome.spawn_error is not None
            or outcome.timed_out
            or _oom_kills(ctx.oom_path) > before
        ):
            break
        if outcome.exit_code == 0:
            ok = os.path.isfile(exe)
            break
        failed = set(_RS_ERROR_FILE.findall(_text(outcome.stderr)))
        if not failed:
            break
        linked = [i for i in linked if str(i) not in failed]
    for i in chosen:  # the program's own file again, as it was written
        name, source = jobs[i]["files"][0]
        with open(os.path.join(ctx.root, f"j{i}", name), "w", encoding="utf-8") as fh:
            fh.write(source)
    done: dict[int, dict] = {}
    if ok:
        for i in linked:
            try:
                shutil.copy2(exe, os.path.join(ctx.root, f"j{i}", "main"))
            except OSError:
                continue
            done[i] = {
                "facts": _LINKED_FACTS.copy(),
                "run_env": {"SANDBOX_BATCH_ENTRY": f"p{i}"},
            }
    _remove_tree(build)
    return done


def compile_all(ctx: Context, jobs: list[dict], spec: dict) -> dict[int, dict]:
    """Batch compile: every compiled job of the batch, before any program runs.

    Because no untrusted code runs during this phase, the compiles may share state that a
    program must never reach: one warm compile server (javac in one JVM) or a shared build
    cache (Go's ``GOCACHE``), deleted before the first program runs. The compiles run as the
    batch's compile uid; then each compiled job's dir is given to that job's uid (0700) and
    hashed. A job whose dir changed before its turn is recompiled alone, so every verdict is
    what a fresh sandbox would give.
    Returns ``{index: {"facts": compile facts, "digest": dir hash}}`` for jobs compiled here.
    """
    batch = spec["batch_compile"]
    ready = []
    for i, job in enumerate(jobs):
        if (
            job["steps"][0]["phase"] == "compile"
            and _prepare(job, ctx.work(i), ctx.compile_uid) is None
        ):
            ready.append(i)
    if not ready:
        return {}
    shared = sorted(
        {
            value.split(":")[0]
            for value in batch.get("env", {}).values()
            if value.startswith(ctx.root + "/")
        }
    )
    try:  # the shared caches live in the root-owned /work: made here for the compile uid
        for path in shared:
            os.makedirs(path, 0o755, exist_ok=True)
            _own(path, ctx.compile_uid)
    except OSError:
        pass
    if batch.get("pch_argv"):
        _build_pchs(ctx, [jobs[i] for i in ready], batch)
    done: dict[int, dict] = {}
    linked: dict[int, dict] = {}
    if batch.get("link_once") == "go":
        linked = _go_link_once(ctx, jobs, ready, batch.get("env", {}))
    elif batch.get("link_once") == "rust":
        linked = _rust_link_once(ctx, jobs, ready)
    if linked:
        done.update({i: entry["facts"] for i, entry in linked.items()})
    server = batch.get("server_argv")
    if server:
        agent_dir = os.path.dirname(os.path.abspath(__file__))
        argv = [arg.replace("{agent_dir}", agent_dir) for arg in server]
        argv += [f"j{i}/{jobs[i]['files'][0][0]}" for i in ready]
        first = jobs[ready[0]]
        step = {"phase": "compile", "timeout_s": batch["timeout_s"]}
        before = _oom_kills(ctx.oom_path)
        outcome = _spawn(
            ctx,
            argv,
            limits=_limits(first, step),
            cwd=ctx.root,
            env=_env(first, ctx.root),
            uid=ctx.compile_uid,
        )
        _kill_everything()
        if (
            outcome.spawn_error is None
            and not outcome.timed_out
            and _oom_kills(ctx.oom_path) == before
        ):
            for i in ready:
                work = ctx.work(i)
                try:
                    with open(os.path.join(work, ".compile.rc")) as fh:
                        code = int(fh.read().strip())
                    with open(os.path.join(work, ".compile.err"), "rb") as fh:
                        err = _text(fh.read()[: int(first.get("output_bytes", 65536))])
                    os.unlink(os.path.join(work, ".compile.rc"))
                    os.unlink(os.path.join(work, ".compile.err"))
                except (OSError, ValueError):
                    continue  # not compiled here: the job compiles alone in its turn
                done[i] = {
                    "phase": "compile",
                    "exit_code": code,
                    "timed_out": False,
                    "oom_killed": False,
                    "output_exceeded": False,
                    "stdout": "",
                    "stderr": err.replace(f"j{i}/", ""),
                    "error": None,
                }
    else:
        for i in ready:
            if i in done:
                continue
            job, work = jobs[i], ctx.work(i)
            facts, _ = _run_step(
                ctx, job, job["steps"][0], work, _env(job, work, batch.get("env")), ctx.compile_uid
            )
            if facts["error"] is None and not facts["timed_out"] and not facts["oom_killed"]:
                done[i] = facts
    for path in shared:  # shared caches never meet a program
        _remove_tree(path)
    out = {}
    for i in ready:
        work = ctx.work(i)
        if i in done:
            try:
                _own(work, ctx.uid(i))
                os.chmod(work, 0o700)
            except OSError:
                _remove_tree(work)
                continue
            out[i] = {"facts": done[i], "digest": _digest(work)}
            if i in linked:
                out[i].update({key: value for key, value in linked[i].items() if key != "facts"})
        else:
            _remove_tree(work)
    return out


def run_job(ctx: Context, job: dict, index: int, compiled: dict | None = None) -> dict:
    """Run one job's steps in its own dir as its own uid; return its raw facts.

    ``compiled``: this job's entry from :func:`compile_all`, if the batch compiled it.
    """
    work = ctx.work(index)
    uid = ctx.uid(index)
    result = _new_result(job, index)
    start = time.monotonic()
    steps = job["steps"]
    if compiled is not None and os.path.isdir(work) and _digest(work) == compiled["digest"]:
        result.update(compiled["facts"])
        if compiled["facts"]["exit_code"] != 0:
            result["wall_s"] = round(time.monotonic() - start, 4)
            return result
        steps = steps[1:]
        if compiled.get("run_args"):  # linked into the batch's binary: name the program
            steps = [
                {**step, "argv": list(step["argv"]) + compiled["run_args"]}
                if step["phase"] == "run"
                else step
                for step in steps
            ]
    else:
        if compiled is not None:  # changed since the batch compile: start afresh
            _remove_tree(work)
        error = _prepare(job, work, uid)
        if error is not None:
            result["error"] = error
            return result
    env = _env(job, work)
    if compiled is not None and steps is not job["steps"] and compiled.get("run_env"):
        env.update(compiled["run_env"])  # linked into the batch's binary: name the program
    for step in steps:
        facts, stop = _run_step(ctx, job, step, work, env, uid)
        result.update(facts)
        if stop:
            break
    result["wall_s"] = round(time.monotonic() - start, 4)
    return result


def _context(spec: dict) -> Context:
    pre_exec = None
    if spec.get("syscall_filter"):
        pre_exec = syscall_filter.installer(syscall_filter.program())
    uid_base = spec.get("uid_base")
    return Context(
        root=spec.get("work_root", "/work"),
        oom_path=spec.get("oom_control"),
        compile_uid=spec.get("compile_uid") if uid_base is not None else None,
        uid_base=uid_base,
        pre_exec=pre_exec,
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: agent.py MANIFEST.json|-", file=sys.stderr)
        return 2
    _harden()
    os.umask(0o022)  # files the agent writes for a compile uid must stay readable to it
    if args[0] == "-":
        spec = json.load(sys.stdin)
    else:
        with open(args[0], encoding="utf-8") as fh:
            spec = json.load(fh)
    ctx = _context(spec)
    jobs = spec["jobs"]
    wipe = tuple(spec.get("wipe", WIPE))
    compiled = compile_all(ctx, jobs, spec) if spec.get("batch_compile") else {}
    _kill_everything()
    baseline = _charge(ctx.memory_stat)
    for index, job in enumerate(jobs):
        problems = []
        try:
            result = run_job(ctx, job, index, compiled.get(index))
        except Exception as exc:  # noqa: BLE001 - report the job, then retire
            result = _new_result(job, index)
            result["error"] = f"agent failed: {type(exc).__name__}: {exc}"
            problems.append("the agent failed")
        problems += _cleanup(ctx, index, len(jobs), wipe)
        charge = _charge(ctx.memory_stat)
        if not problems and baseline is not None and charge is not None:
            if charge > baseline + MEMORY_SLACK_BYTES:
                problems.append(
                    f"{charge >> 20} MiB of memory still charged, "
                    f"{baseline >> 20} MiB before the first program"
                )
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
        if problems and index + 1 < len(jobs):
            # the rest of the batch goes to a fresh sandbox (Sandbox._run_chunk)
            print(f"agent: retiring after job {index}: {'; '.join(problems)}", file=sys.stderr)
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
