"""bubblewrap backend: for hosts where Docker can't run (most Dataflow and Spark workers).

One bwrap sandbox per program (bwrap itself costs ~2 ms), running the same agent and the same
job description as the Docker backend, so the verdicts match.

The sandbox: new IPC, PID, network, UTS (hostname ``sandbox``) and cgroup namespaces (no
network at all: only a down loopback), the agent as PID 1; the host's ``/usr`` (with
``/usr/local`` covered by an empty read-only tmpfs) and the language's toolchains bound
read-only; a fresh size-capped tmpfs for ``/work`` (root-owned, 0755), ``/tmp`` and
``/dev/shm``, and a private ``/dev/mqueue``; nothing else of the host (no ``/root``, ``/home``,
``/etc``, ``/var``, ``/tmp``). bubblewrap has no seccomp filter of its own: it loads the one of
``syscall_filter.py`` (Docker's default deny list: keyring, namespaces, ptrace, mount, ...) for
the whole sandbox with ``--seccomp FD`` (the agent and every program inherit it, so the agent
does not stack it again per program as it does under Docker). As root, bwrap sets the mounts up (so it can bind
rustup's toolchain from root's 0700 home, which no unprivileged process can) without a user namespace, then
``setpriv`` cuts the capability bounding set to the agent's few (``mounts.AGENT_CAPS``) with
``no_new_privs`` before the agent starts, as root, and starts each program as its own
unprivileged uid (``agent.py``). New user namespaces are refused by the filter (``unshare``,
``clone`` with ``CLONE_NEWUSER``; ``clone3`` gets ENOSYS), which stands in for
``--disable-userns``: that flag needs ``--unshare-user``, and bubblewrap's own user namespace maps
a single uid, where each program needs its own. Memory, process and CPU limits are a per-run
cgroup v1 (``memory`` with swap disabled, ``pids``, ``cpu`` with a CFS quota of ``cpus``) that
the bwrap process joins before exec, so every descendant is in it; the agent reads the
cgroup's ``oom_kill`` counter and ``memory.stat`` through a read-only bind. The manifest goes to
the agent on its stdin, so no file in the sandbox holds it. Without root (or without writable
cgroups) bwrap runs in its own user namespace as the calling user (``--disable-userns``), every
program runs as that one uid, and rlimits stand in for the cgroups (RLIMIT_AS, RLIMIT_NPROC;
no CPU quota).

Batches: like a warm container, one bwrap sandbox and one cgroup run a batch of programs of
one language and memory limit (``batch_size``; 1 gives one sandbox per program), the agent
giving each its own uid, a fresh dir, fresh limits and removing whatever it left;
``workers`` threads run batches side by side.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import uuid

from sandboxes import syscall_filter
from sandboxes.mounts import (
    AGENT_ARGV,
    AGENT_CAPS,
    AGENT_DIR,
    AGENT_HOST_DIR,
    HIDDEN_HOST_DIRS,
    HOSTNAME,
    OOM_CONTROL,
    toolchain_mounts,
)
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
CPU_PERIOD_US = 100_000
WORK_TMPFS_BYTES = 256 * 1024 * 1024
TMP_TMPFS_BYTES = 64 * 1024 * 1024


def _write(path: str, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


class _RunCgroup:
    """A per-run cgroup v1 set (memory without swap, pids, cpu quota); removed after the run."""

    def __init__(self, memory_mb: int, pids: int, cpus: float) -> None:
        name = uuid.uuid4().hex[:16]
        self.memory = os.path.join(CGROUP_ROOT, "memory", CGROUP_PARENT, name)
        self.pids = os.path.join(CGROUP_ROOT, "pids", CGROUP_PARENT, name)
        self.cpu = os.path.join(CGROUP_ROOT, "cpu", CGROUP_PARENT, name)
        try:
            for path in self.dirs:
                os.makedirs(path)
            limit = str(memory_mb * 1024 * 1024)
            _write(os.path.join(self.memory, "memory.limit_in_bytes"), limit)
            memsw = os.path.join(self.memory, "memory.memsw.limit_in_bytes")
            if os.path.exists(memsw):
                _write(memsw, limit)
            _write(os.path.join(self.pids, "pids.max"), str(pids))
            _write(os.path.join(self.cpu, "cpu.cfs_period_us"), str(CPU_PERIOD_US))
            _write(
                os.path.join(self.cpu, "cpu.cfs_quota_us"),
                str(max(1000, round(cpus * CPU_PERIOD_US))),
            )
        except OSError:
            self.remove()
            raise

    @property
    def dirs(self) -> tuple[str, str, str]:
        return (self.memory, self.pids, self.cpu)

    @property
    def procs(self) -> tuple[str, ...]:
        return tuple(os.path.join(path, "cgroup.procs") for path in self.dirs)

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
            for path in self.dirs:
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
    """Root with writable cgroup v1 ``memory``, ``pids`` and ``cpu`` hierarchies."""
    if os.geteuid() != 0:
        return False
    try:
        for controller in ("memory", "pids", "cpu"):
            os.makedirs(os.path.join(CGROUP_ROOT, controller, CGROUP_PARENT), exist_ok=True)
        probe = _RunCgroup(64, 8, 1.0)
        probe.remove()
        return True
    except OSError:
        return False


class BwrapSandbox(Sandbox):
    """Runs programs in bubblewrap sandboxes (see module docstring)."""

    name = "bwrap"

    def __init__(
        self,
        *,
        batch_size: int = 64,
        workers: int = 1,
        cpus: float = 1.0,
        use_cgroups: bool | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size, workers=workers, cpus=cpus)
        self.bwrap = shutil.which("bwrap")
        if self.bwrap is None:
            raise SandboxUnavailable("bubblewrap is not installed (apt-get install bubblewrap)")
        if not os.path.exists("/usr/bin/python3"):
            raise SandboxUnavailable("the agent needs /usr/bin/python3 on the host")
        self.privileged = os.geteuid() == 0
        self.has_cgroups = cgroups_usable() if use_cgroups is None else use_cgroups
        if self.has_cgroups and not self.privileged:
            raise ValueError("per-run cgroups need root")
        if not syscall_filter.supported():
            raise SandboxUnavailable(
                f"no seccomp filter for {os.uname().machine}: bubblewrap "
                "would run programs without one"
            )
        self.filter_program = syscall_filter.program()

    def _argv(self, job: Job, seccomp_fd: int, cgroup: _RunCgroup | None) -> list[str]:
        argv = [self.bwrap]
        if self.privileged:
            argv += [
                "--unshare-ipc",
                "--unshare-pid",
                "--unshare-net",
                "--unshare-uts",
                "--unshare-cgroup-try",
            ]
        else:
            argv += ["--unshare-all", "--unshare-user", "--disable-userns"]
        argv += [
            "--die-with-parent",
            "--new-session",
            "--as-pid-1",
            "--hostname",
            HOSTNAME,
            "--seccomp",
            str(seccomp_fd),
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        for path in HIDDEN_HOST_DIRS:
            if os.path.isdir(path):
                argv += ["--perms", "0755", "--size", "4096", "--tmpfs", path, "--remount-ro", path]
        argv += [
            "--symlink",
            "usr/bin",
            "/bin",
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
            "--symlink",
            "usr/sbin",
            "/sbin",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--mqueue",
            "/dev/mqueue",
            "--perms",
            "0755",
            "--size",
            str(WORK_TMPFS_BYTES),
            "--tmpfs",
            "/work",
            "--perms",
            "1777",
            "--size",
            str(TMP_TMPFS_BYTES),
            "--tmpfs",
            "/tmp",
            "--perms",
            "1777",
            "--size",
            str(TMP_TMPFS_BYTES),
            "--tmpfs",
            "/dev/shm",
            # parents bwrap would create 0700 (unreadable to the programs' uids)
            "--perms",
            "0755",
            "--dir",
            "/opt",
            "--perms",
            "0755",
            "--dir",
            "/etc",
            "--perms",
            "0755",
            "--dir",
            "/sys",
            "--perms",
            "0755",
            "--dir",
            "/sys/fs",
            "--perms",
            "0755",
            "--dir",
            "/sys/fs/cgroup",
            "--ro-bind",
            AGENT_HOST_DIR,
            AGENT_DIR,
        ]
        if cgroup is not None:
            argv += ["--ro-bind", cgroup.memory, os.path.dirname(OOM_CONTROL)]
        if os.path.isdir("/etc/alternatives"):  # Debian's command links (cc, php, java)
            argv += ["--ro-bind", "/etc/alternatives", "/etc/alternatives"]
        made = {"/opt", "/etc", "/sys", "/sys/fs", "/sys/fs/cgroup"}
        for host, target in toolchain_mounts(job.language):
            for parent in _parents(target):  # 0755, or the programs' uids cannot reach it
                if parent not in made and not parent.startswith("/usr/"):
                    made.add(parent)
                    argv += ["--perms", "0755", "--dir", parent]
            argv += ["--ro-bind", host, target]
        argv += ["--chdir", "/work", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin"]
        if self.privileged:  # the agent stays root with only its few capabilities
            caps = ",".join("+" + cap.lower() for cap in AGENT_CAPS)
            argv += [
                "--",
                "/usr/bin/setpriv",
                "--clear-groups",
                "--inh-caps=-all",
                f"--bounding-set=-all,{caps}",
                "--no-new-privs",
            ]
        return [*argv, "--", *AGENT_ARGV, "-"]

    def _run_group(self, jobs: list[Job]) -> list[dict]:
        manifest = json.dumps(
            batch_spec(
                jobs,
                oom_control=OOM_CONTROL if self.has_cgroups else None,
                switch_uids=self.privileged,
                syscall_filter=False,
            )
        ).encode("utf-8")
        cgroup = None
        seccomp_fd = os.memfd_create("sandbox-seccomp", os.MFD_CLOEXEC)
        try:
            os.write(seccomp_fd, self.filter_program)
            os.lseek(seccomp_fd, 0, os.SEEK_SET)
            if self.has_cgroups:
                cgroup = _RunCgroup(group_memory_mb(jobs), jobs[0].language.nproc + 8, self.cpus)
            limits = Limits(
                wall_s=batch_deadline_s(jobs),
                output_bytes=64 * 1024 * 1024,
                kill_on_output_cap=False,
                set_cpu_limit=False,
            )
            outcome = spawn(
                self._argv(jobs[0], seccomp_fd, cgroup),
                limits=limits,
                env={"PATH": "/usr/bin:/bin"},
                stdin=manifest,
                cgroup_procs=cgroup.procs if cgroup else (),
                pass_fds=(seccomp_fd,),
            )
            lines = [
                line
                for line in outcome.stdout.decode("utf-8", "replace").splitlines()
                if line.startswith("{")
            ]
            stderr = outcome.stderr.decode("utf-8", "replace")
            if not lines and (outcome.spawn_error or sandbox_failed(stderr)):
                detail = outcome.spawn_error or stderr[-800:]
                return [setup_error(f"bwrap sandbox failed: {detail}")] * len(jobs)
            return [json.loads(line) for line in lines]
        except OSError as exc:
            return [setup_error(f"bwrap sandbox failed: {exc}")] * len(jobs)
        finally:
            if cgroup is not None:
                cgroup.remove()
            os.close(seccomp_fd)


def _parents(path: str) -> list[str]:
    """``/opt/a/b`` -> [``/opt``, ``/opt/a``]: the directories above ``path``, outermost first."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
