"""Host paths both backends need: the agent's directory and the toolchains to bind read-only."""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

from sandboxes.languages import Language

#: Directory holding ``agent.py`` and ``runner.py``; bound read-only at ``AGENT_DIR``.
AGENT_HOST_DIR = str(Path(__file__).resolve().parent)
AGENT_DIR = "/opt/sandbox"
#: The agent's command, without its last argument: the manifest's path, or ``-`` for stdin.
AGENT_ARGV = ("/usr/bin/python3", "-I", "-S", "-B", f"{AGENT_DIR}/agent.py")
#: Where the Docker backend binds the batch manifest (mode 0600: only the agent reads it).
MANIFEST = "/job/batch.json"
#: Capabilities the agent keeps inside the sandbox (it runs as root there): switch each
#: program to its own uid, give it its dir, and clean up whatever it left (any mode, any
#: owner, sticky dirs), kill its processes. No CAP_SYS_ADMIN; programs keep none of these.
AGENT_CAPS: tuple[str, ...] = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID")
#: Host dirs under a bound ``/usr`` that no toolchain needs, covered by an empty read-only
#: tmpfs (host tools and libraries installed outside the distribution live there).
HIDDEN_HOST_DIRS: tuple[str, ...] = ("/usr/local",)
#: The hostname every sandbox has (Docker would give the container id, bubblewrap the host's).
HOSTNAME = "sandbox"
#: Where the agent finds the run's memory cgroup (same path in Docker and bubblewrap).
OOM_CONTROL = "/sys/fs/cgroup/memory/memory.oom_control"


def toolchain_mounts(language: Language) -> list[tuple[str, str]]:
    """(host path, sandbox path) for the language's extra toolchains, globs resolved.

    A glob that matches nothing is skipped: the run then fails as a compile error and the
    self-test names the missing toolchain.
    """
    out = []
    for pattern, target in language.mounts:
        matches = sorted(glob.glob(os.path.expanduser(pattern)))
        if matches:
            out.append((matches[-1], target))
    return out


def host_python() -> str | None:
    """The interpreter the agent runs on inside sandboxes that bind the host's /usr."""
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
