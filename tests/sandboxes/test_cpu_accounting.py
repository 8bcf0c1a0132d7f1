"""``Sandbox.cpu_seconds``: the CPU time of what a sandbox ran, for the pipeline's per-stage
figures. Docker containers are no children of ours, so it comes from their cgroup parent;
bwrap sandboxes are children and report None (their time is in RUSAGE_CHILDREN)."""

from __future__ import annotations

import glob
import resource

import pytest

from sandboxes import Program, SandboxUnavailable, open_sandbox
from sandboxes.docker_backend import CGROUP_ROOT
from tests.support import missing

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4:\n    pass\nprint('ok')\n"


@pytest.mark.docker
def test_docker_counts_the_cpu_of_its_containers_and_removes_its_cgroup():
    try:
        sandbox = open_sandbox("docker", batch_size=4)
    except SandboxUnavailable as exc:
        missing("docker", f"the docker sandbox backend cannot run here: {exc}")
    if sandbox.cgroup_parent is None:
        sandbox.close()
        pytest.skip("the daemon is not local or does not use the cgroupfs driver")
    try:
        assert sandbox.cpu_seconds() == 0.0  # nothing ran yet
        results = sandbox.run_batch([Program("python", BURN)] * 2)
        assert [r.status.value for r in results] == ["ok", "ok"]
        used = sandbox.cpu_seconds()
        assert used >= 0.7, used  # two programs burned 0.4 s each, plus the agent
        assert used < 30
        dirs = glob.glob(f"{CGROUP_ROOT}/*/{sandbox.cgroup_parent.lstrip('/')}")
        assert dirs
    finally:
        sandbox.close()
    assert not [d for d in dirs if glob.glob(d)]  # removed at close


@pytest.mark.bwrap
def test_bwrap_reports_none_and_its_time_is_in_rusage_children():
    try:
        sandbox = open_sandbox("bwrap", batch_size=4)
    except SandboxUnavailable as exc:
        missing("bwrap", f"the bwrap sandbox backend cannot run here: {exc}")
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        results = sandbox.run_batch([Program("python", BURN)])
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        assert results[0].status.value == "ok"
        assert sandbox.cpu_seconds() is None
        assert (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime) >= 0.35
    finally:
        sandbox.close()
