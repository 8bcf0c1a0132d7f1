"""bubblewrap backend: for hosts where Docker can't run (most Dataflow and Spark workers).

One bwrap sandbox per program (bwrap itself costs ~2 ms), running the same agent and the same
job description as the Docker backend, so the verdicts match.

The sandbox: new IPC, PID, network, UTS and cgroup namespaces (no network at all: only a
down loopback), the agent as PID 1; the host's ``/usr`` and the language's toolchains bound
read-only; a fresh size-capped tmpfs for ``/work``, ``/tmp`` and ``/dev/shm``; nothing else of
the host (no ``/root``, ``/home``, ``/etc``, ``/var``, ``/tmp``). As root, bwrap sets the mounts
up (so it can bind rustup's toolchain from root's 0700 home, FACTS.md "Sandboxing") without a
user namespace, then ``setpriv`` drops to uid/gid 65534 with an empty capability bounding set
and ``no_new_privs`` before the agent starts. Memory and process limits are a per-run cgroup
v1 (``memory`` with swap disabled, ``pids``) that the bwrap process joins before exec, so every
descendant is in it; the agent reads the cgroup's ``oom_kill`` counter through a read-only bind
to tell a memory kill from a crash. Without root (or without writable cgroups) bwrap runs in
its own user namespace as the calling user and rlimits stand in (RLIMIT_AS, RLIMIT_NPROC).

Batches: like a warm container, one bwrap sandbox and one cgroup run a batch of programs of
one language and memory limit (``batch_size``; 1 gives one sandbox per program), the agent
giving each a fresh dir, fresh limits and a clean ``/tmp``; ``workers`` threads run batches side
by side.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
import uuid

from sandboxes.mounts import AGENT_ARGV, AGENT_DIR, AGENT_HOST_DIR, OOM_CONTROL, toolchain_mounts
from sandboxes.program import (
    Job,
    batch_deadline_s,
    batch_spec,
    group_memory_mb,
    sandbox_failed,
    setup_error,
)
from sandboxes.runner import Limits, spawn
from sandboxes.sandbox import Sandbox, SandboxUnavailable

CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_PARENT = "codetrans-sandbox"
UNPRIVILEGED = 65534
WORK_TMPFS_BYTES = 256 * 1024 * 1024
TMP_TMPFS_BYTES = 64 * 1024 * 1024


def _write(path: str, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


class _RunCgroup:
    """A per-run cgroup v1 pair (memory without swap, pids); removed after the run."""

    def __init__(self, memory_mb: int, pids: int) -> None:
        name = uuid.uuid4().hex[:16]
        self.memory = os.path.join(CGROUP_ROOT, "memory", CGROUP_PARENT, name)
        self.pids = os.path.join(CGROUP_ROOT, "pids", CGROUP_PARENT, name)
        os.makedirs(self.memory)
        os.makedirs(self.pids)
        limit = str(memory_mb * 1024 * 1024)
        _write(os.path.join(self.memory, "memory.limit_in_bytes"), limit)
        memsw = os.path.join(self.memory, "memory.memsw.limit_in_bytes")
        if os.path.exists(memsw):
            _write(memsw, limit)
        _write(os.path.join(self.pids, "pids.max"), str(pids))

    @property
    def procs(self) -> tuple[str, str]:
        return (os.path.join(self.memory, "cgroup.procs"), os.path.join(self.pids, "cgroup.procs"))

    def remove(self) -> None:
        """Kill what is left in the cgroups and remove them (the kernel may need a while to
        reap killed processes on a loaded host, hence the retries for up to 10 s)."""
        deadline = time.monotonic() + 10.0
        delay = 0.01
        while True:
            pids = []
            for procs in self.procs:
                try:
                    with open(procs) as fh:
                        pids += [int(p) for p in fh.read().split()]
                except OSError:
                    pass
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            busy = False
            for path in (self.memory, self.pids):
                try:
                    if os.path.isdir(path):
                        os.rmdir(path)
                except OSError:
                    busy = True
            if not busy or time.monotonic() > deadline:
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def cgroups_usable() -> bool:
    """Root with writable cgroup v1 ``memory`` and ``pids`` hierarchies."""
    if os.geteuid() != 0:
        return False
    try:
        for controller in ("memory", "pids"):
            os.makedirs(os.path.join(CGROUP_ROOT, controller, CGROUP_PARENT), exist_ok=True)
        probe = _RunCgroup(64, 8)
        probe.remove()
        return True
    except OSError:
        return False


class BwrapSandbox(Sandbox):
    """Runs programs in bubblewrap sandboxes (see module docstring)."""

    name = "bwrap"

    def __init__(self, *, batch_size: int = 64, workers: int = 1,
                 use_cgroups: bool | None = None) -> None:
        super().__init__(batch_size=batch_size, workers=workers)
        self.bwrap = shutil.which("bwrap")
        if self.bwrap is None:
            raise SandboxUnavailable("bubblewrap is not installed (apt-get install bubblewrap)")
        if not os.path.exists("/usr/bin/python3"):
            raise SandboxUnavailable("the agent needs /usr/bin/python3 on the host")
        self.privileged = os.geteuid() == 0
        self.has_cgroups = cgroups_usable() if use_cgroups is None else use_cgroups
        if self.has_cgroups and not self.privileged:
            raise ValueError("per-run cgroups need root")

    def _argv(self, job: Job, job_dir: str, cgroup: _RunCgroup | None) -> list[str]:
        argv = [self.bwrap]
        if self.privileged:
            argv += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                     "--unshare-cgroup-try"]
        else:
            argv += ["--unshare-all", "--unshare-user", "--disable-userns"]
        argv += ["--die-with-parent", "--new-session", "--as-pid-1",
                 "--ro-bind", "/usr", "/usr",
                 "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
                 "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/sbin", "/sbin",
                 "--proc", "/proc", "--dev", "/dev",
                 "--perms", "1777", "--size", str(WORK_TMPFS_BYTES), "--tmpfs", "/work",
                 "--perms", "1777", "--size", str(TMP_TMPFS_BYTES), "--tmpfs", "/tmp",
                 "--perms", "1777", "--size", str(TMP_TMPFS_BYTES), "--tmpfs", "/dev/shm",
                 # parents bwrap would create 0700 (unreadable once we drop to uid 65534)
                 "--perms", "0755", "--dir", "/opt", "--perms", "0755", "--dir", "/etc", "--perms", "0755", "--dir", "/sys",
                 "--perms", "0755", "--dir", "/sys/fs", "--perms", "0755", "--dir", "/sys/fs/cgroup",
                 "--ro-bind", AGENT_HOST_DIR, AGENT_DIR,
                 "--ro-bind", job_dir, "/job"]
        if cgroup is not None:
            argv += ["--ro-bind", cgroup.memory, os.path.dirname(OOM_CONTROL)]
        if os.path.isdir("/etc/alternatives"):  # Debian's command links (cc, php, java)
            argv += ["--ro-bind", "/etc/alternatives", "/etc/alternatives"]
        for host, target in toolchain_mounts(job.language):
            argv += ["--ro-bind", host, target]
        argv += ["--chdir", "/work", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin"]
        if self.privileged:
            argv += ["--", "/usr/bin/setpriv", f"--reuid={UNPRIVILEGED}",
                     f"--regid={UNPRIVILEGED}", "--clear-groups", "--inh-caps=-all",
                     "--bounding-set=-all", "--no-new-privs"]
        return [*argv, "--", *AGENT_ARGV]

    def _run_group(self, jobs: list[Job]) -> list[dict]:
        job_dir = tempfile.mkdtemp(prefix="sandbox-batch-")
        cgroup = None
        try:
            os.chmod(job_dir, 0o755)
            path = os.path.join(job_dir, "batch.json")
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(batch_spec(jobs, oom_control=OOM_CONTROL if self.has_cgroups else None),
                          fh)
            os.chmod(path, 0o644)
            if self.has_cgroups:
                cgroup = _RunCgroup(group_memory_mb(jobs), jobs[0].language.nproc + 8)
            limits = Limits(wall_s=batch_deadline_s(jobs), output_bytes=64 * 1024 * 1024,
                            kill_on_output_cap=False, set_cpu_limit=False)
            outcome = spawn(self._argv(jobs[0], job_dir, cgroup), limits=limits,
                            env={"PATH": "/usr/bin:/bin"},
                            cgroup_procs=cgroup.procs if cgroup else ())
            lines = [line for line in outcome.stdout.decode("utf-8", "replace").splitlines()
                     if line.startswith("{")]
            stderr = outcome.stderr.decode("utf-8", "replace")
            if not lines and (outcome.spawn_error or sandbox_failed(stderr)):
                detail = outcome.spawn_error or stderr[-800:]
                return [setup_error(f"bwrap sandbox failed: {detail}")] * len(jobs)
            return [json.loads(line) for line in lines]
        finally:
            if cgroup is not None:
                cgroup.remove()
            shutil.rmtree(job_dir, ignore_errors=True)
