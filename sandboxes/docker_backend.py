"""Docker backend: the ``docker`` SDK against a real daemon, warm containers running batches.

Images. When a language's production image (``Language.image``, built from
``sandboxes/docker/Dockerfile.<lang>``) is present locally it is used as is. Otherwise (no
registry reachable) the backend builds, once, an *offline* base image
with ``docker import`` of a tar holding only empty directories and the ``bin``/``lib``/
``lib64``/``sbin`` -> ``usr/...`` links, and binds the host's ``/usr``, ``/etc/alternatives`` and
the language's toolchains (``Language.mounts``: rustup's toolchain, the JDK's ``/etc`` links)
read-only, with the host's ``/usr/local`` covered by an empty read-only tmpfs. The daemon runs
as root, so binding from root's 0700 home works.

Every container: ``--network none``, ``--read-only`` root, Docker's default seccomp profile,
``no-new-privileges``, ``--cap-drop ALL`` but the agent's few (``mounts.AGENT_CAPS``; the agent
runs as root inside and starts each program as its own unprivileged uid, see ``agent.py``),
``--memory`` = ``--memory-swap`` (no swap), ``--pids-limit``, ``--cpus`` (the sandbox's CPU
quota), hostname ``sandbox``, size-capped ``tmpfs`` for ``/work`` (root-owned, 0755) and
``/tmp`` (plus Docker's own ``/dev/shm`` and ``/dev/mqueue``), the agent's directory and the
batch manifest bound read-only; the manifest is mode 0600, so only the agent reads it. The
agent is the container's PID 1.

Throughput. One container start costs ~0.3-0.5 s, more than most programs. A *batch* of
programs of one language and memory limit runs in one container: the agent gives each its own
uid, fresh work dir, fresh rlimits, timer and output caps, kills every leftover process and
removes whatever it left (files, IPC objects) between programs, and moves the rest of the
batch to a fresh container if the memory charge does not come back; the container's memory
cgroup holds one program at a time and the agent reads its ``oom_kill`` counter around each
step, so a memory kill is told apart from a crash exactly as with one container per program. Compilers are
amortised too (``batch_spec``: a whole batch compiles before any program runs, sharing Go's
build cache or one warm javac). If the agent is lost mid-batch, the programs it did not report
are re-run in a fresh container (``Sandbox._run_chunk``). ``batch_size=1`` is the
one-container-per-program baseline of ``bench/bench_sandbox.py``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile

from sandboxes import syscall_filter
from sandboxes.languages import Language
from sandboxes.mounts import (
    AGENT_ARGV,
    AGENT_CAPS,
    AGENT_DIR,
    AGENT_HOST_DIR,
    HIDDEN_HOST_DIRS,
    HOSTNAME,
    MANIFEST,
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
from sandboxes.sandbox import Sandbox, SandboxUnavailable

OFFLINE_IMAGE = "codetrans-sandbox/offline-base:2"
#: Containers start under the cgroup ``CGROUP_PARENT/docker-<token>`` of each hierarchy (the
#: daemon's cgroupfs driver creates it), so their CPU time can be read from one file while
#: they come and go: ``cpuacct.usage`` (v1) or ``cpu.stat`` (v2) keeps the usage of removed
#: children. Not used with the systemd driver (another naming scheme) or a remote daemon.
CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_PARENT = "codetrans-sandbox"
IMAGE_MODES: tuple[str, ...] = ("auto", "offline", "production")
_ROOTFS_DIRS = (
    "usr",
    "etc",
    "etc/alternatives",
    "tmp",
    "work",
    "opt",
    "opt/sandbox",
    "job",
    "proc",
    "sys",
    "dev",
    "root",
    "home",
    "var",
    "run",
)
_ROOTFS_LINKS = (
    ("bin", "usr/bin"),
    ("lib", "usr/lib"),
    ("lib64", "usr/lib64"),
    ("sbin", "usr/sbin"),
)


def offline_rootfs_tar() -> bytes:
    """A tar of only directories and the usr-merge links: the offline image's whole content."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in _ROOTFS_DIRS:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if name == "tmp" else 0o755  # /work: root's, programs get dirs in it
            tar.addfile(info)
        for name, target in _ROOTFS_LINKS:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


class DockerSandbox(Sandbox):
    """Runs programs in Docker containers (see module docstring)."""

    name = "docker"

    def __init__(
        self,
        *,
        batch_size: int = 64,
        workers: int = 1,
        cpus: float = 1.0,
        image_mode: str = "auto",
        base_url: str | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size, workers=workers, cpus=cpus)
        if image_mode not in IMAGE_MODES:
            raise ValueError(f"unknown image_mode {image_mode!r}; valid: {', '.join(IMAGE_MODES)}")
        try:
            import docker
        except ImportError as exc:
            raise SandboxUnavailable("the docker Python SDK is not installed") from exc
        try:
            self.client = (
                docker.DockerClient(base_url=base_url, timeout=120)
                if base_url
                else docker.from_env(timeout=120)
            )
            self.client.ping()
        except docker.errors.DockerException as exc:
            raise SandboxUnavailable(f"no Docker daemon answers: {exc}") from exc
        self.image_mode = image_mode
        self._images: dict[str, tuple[str, list[tuple[str, str]]]] = {}
        self.syscall_filter = syscall_filter.supported()
        self.cgroup_parent = self._cgroup_parent(base_url)

    # -- CPU accounting -------------------------------------------------------------------
    def _cgroup_parent(self, base_url: str | None) -> str | None:
        """``/codetrans-sandbox/docker-<token>`` when the daemon is local and uses cgroupfs."""
        if base_url and not base_url.startswith("unix://"):
            return None
        if os.environ.get("DOCKER_HOST", "unix://").split("://")[0] != "unix":
            return None
        try:
            if self.client.info().get("CgroupDriver") != "cgroupfs":
                return None
        except Exception:  # noqa: BLE001 - accounting is optional, running is not
            return None
        if not os.path.isdir(os.path.join(CGROUP_ROOT, "cpuacct")) and not os.path.isfile(
            os.path.join(CGROUP_ROOT, "cgroup.controllers")
        ):
            return None
        return f"/{CGROUP_PARENT}/docker-{self.token[:16]}"

    def _cgroup_dirs(self) -> list[str]:
        if self.cgroup_parent is None:
            return []
        rel = self.cgroup_parent.lstrip("/")
        if os.path.isfile(os.path.join(CGROUP_ROOT, "cgroup.controllers")):  # v2: one tree
            return [os.path.join(CGROUP_ROOT, rel)]
        try:
            hierarchies = sorted(os.listdir(CGROUP_ROOT))
        except OSError:
            return []
        return [os.path.join(CGROUP_ROOT, h, rel) for h in hierarchies]

    def cpu_seconds(self) -> float | None:
        """CPU time of every container this sandbox started (see ``Sandbox.cpu_seconds``)."""
        if self.cgroup_parent is None:
            return None
        rel = self.cgroup_parent.lstrip("/")
        v1 = os.path.join(CGROUP_ROOT, "cpuacct", rel, "cpuacct.usage")
        v2 = os.path.join(CGROUP_ROOT, rel, "cpu.stat")
        try:
            if os.path.exists(v1):
                with open(v1) as fh:
                    return int(fh.read()) / 1e9
            if os.path.exists(v2):
                with open(v2) as fh:
                    for line in fh:
                        if line.startswith("usage_usec "):
                            return int(line.split()[1]) / 1e6
        except (OSError, ValueError):
            return None
        return 0.0  # no container has started yet: the daemon creates the cgroup with the first

    # -- images ---------------------------------------------------------------------------
    def _has_image(self, ref: str) -> bool:
        from docker.errors import ImageNotFound

        try:
            self.client.images.get(ref)
            return True
        except ImageNotFound:
            return False

    def ensure_offline_image(self) -> str:
        """Build the offline base image with ``docker import`` unless it exists."""
        if not self._has_image(OFFLINE_IMAGE):
            repo, tag = OFFLINE_IMAGE.rsplit(":", 1)
            self.client.api.import_image_from_data(offline_rootfs_tar(), repository=repo, tag=tag)
        return OFFLINE_IMAGE

    def image_for(self, language: Language) -> tuple[str, list[tuple[str, str]]]:
        """(image, read-only binds host->sandbox) for ``language``."""
        if language.name not in self._images:
            if self.image_mode != "offline" and self._has_image(language.image):
                self._images[language.name] = (language.image, [])
            elif self.image_mode == "production":
                raise SandboxUnavailable(
                    f"image {language.image} is not present; build it from "
                    f"sandboxes/docker/Dockerfile.{language.name}"
                )
            else:
                binds = [("/usr", "/usr")]
                if os.path.isdir("/etc/alternatives"):
                    binds.append(("/etc/alternatives", "/etc/alternatives"))
                binds += toolchain_mounts(language)
                self._images[language.name] = (self.ensure_offline_image(), binds)
        return self._images[language.name]

    # -- running --------------------------------------------------------------------------
    def _run_group(self, jobs: list[Job]) -> list[dict]:
        """Run ``jobs`` (one language, one memory limit) in one container; raw results."""
        from docker.errors import DockerException

        lang = jobs[0].language
        memory_mb = group_memory_mb(jobs)
        image, binds = self.image_for(lang)
        job_dir = tempfile.mkdtemp(prefix="sandbox-batch-")  # 0700
        container = None
        try:
            path = os.path.join(job_dir, os.path.basename(MANIFEST))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with open(fd, "w", encoding="utf-8") as fh:
                json.dump(
                    batch_spec(
                        jobs,
                        oom_control=OOM_CONTROL,
                        switch_uids=True,
                        syscall_filter=self.syscall_filter,
                    ),
                    fh,
                )
            volumes = {host: {"bind": target, "mode": "ro"} for host, target in binds}
            volumes[AGENT_HOST_DIR] = {"bind": AGENT_DIR, "mode": "ro"}
            volumes[job_dir] = {"bind": os.path.dirname(MANIFEST), "mode": "ro"}
            tmpfs = {
                "/work": "rw,exec,nosuid,nodev,size=256m,mode=755",
                "/tmp": "rw,exec,nosuid,nodev,size=64m,mode=1777",
            }
            if ("/usr", "/usr") in binds:  # the host's /usr: hide what toolchains don't need
                tmpfs.update(
                    {path: "ro,nosuid,nodev,noexec,size=4k,mode=755" for path in HIDDEN_HOST_DIRS}
                )
            container = self.client.containers.run(
                image,
                command=[*AGENT_ARGV, MANIFEST],
                detach=True,
                user="0:0",
                hostname=HOSTNAME,
                network_mode="none",
                network_disabled=True,
                mem_limit=f"{memory_mb}m",
                memswap_limit=f"{memory_mb}m",
                pids_limit=lang.nproc + 8,
                nano_cpus=int(self.cpus * 1e9),
                read_only=True,
                cap_drop=["ALL"],
                cap_add=list(AGENT_CAPS),
                security_opt=["no-new-privileges"],
                tmpfs=tmpfs,
                volumes=volumes,
                working_dir="/work",
                environment={"PATH": "/usr/bin:/bin"},
                labels={"codetrans-sandbox": self.token},
                **({"cgroup_parent": self.cgroup_parent} if self.cgroup_parent else {}),
            )
            try:
                container.wait(timeout=batch_deadline_s(jobs))
            except Exception:  # noqa: BLE001 - requests' ReadTimeout or a daemon error
                container.kill()
            logs = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
            lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
            if not lines:
                stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
                if sandbox_failed(stderr):
                    return [setup_error(f"docker: the agent failed: {stderr[-800:]}")] * len(jobs)
            return lines
        except DockerException as exc:
            return [setup_error(f"docker: {exc}")] * len(jobs)
        finally:
            if container is not None:
                try:
                    container.remove(force=True)
                except DockerException:
                    pass
            shutil.rmtree(job_dir, ignore_errors=True)

    def close(self) -> None:
        """Remove any container this sandbox left (normally none) and close the client."""
        try:
            for container in self.client.containers.list(
                all=True, filters={"label": f"codetrans-sandbox={self.token}"}
            ):
                container.remove(force=True)
        except Exception:  # noqa: BLE001 - best effort at shutdown
            pass
        for path in self._cgroup_dirs():  # empty once the containers are gone
            try:
                os.rmdir(path)
            except OSError:
                pass
        self.client.close()
