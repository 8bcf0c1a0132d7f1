"""The production images: every ``sandboxes/docker/Dockerfile.<lang>`` builds, and the Docker
backend in ``image_mode="production"`` runs each language's fixtures in it.

No registry is reachable here, so each Dockerfile is built on a stand-in for its public base
image (``FROM ${BASE_IMAGE}``), made from the host's own packages for that toolchain and
imported with ``docker import`` (``production_images.py``). What this checks: the Dockerfile's
own steps, the agent on the image's ``/usr/bin/python3``, the table's search path finding the
toolchain inside the image (no host bind: ``image_for`` returns none), and the verdicts. What it
cannot check: the public base images themselves (their toolchain versions and paths, e.g.
Go in ``/usr/local/go``, the JDK in ``/opt/java/openjdk``), which a host with a registry checks
with ``scripts/build_sandbox_images.sh`` and this same test.

The images are tagged under ``codetrans-sandbox-test/`` by content, never with the production
tags, so other runs on the same daemon keep their images; a second run is a cache hit.
"""

from __future__ import annotations

import dataclasses
import functools

import pytest

from sandboxes import LANGUAGES, Program, RunResult, RunStatus, SandboxUnavailable
from sandboxes.docker_backend import DockerSandbox
from tests.support import get_sandbox

from .conftest import FIXTURES, leftover_pids
from .production_images import build_production_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]
STDIN = "1 2 3\n4 5\n"
#: Printed by a Python program: whether it sees the host's other toolchains (it must not:
#: a production container holds only its image).
PROBE = "import os\nprint(sorted(p for p in ('/usr/lib/jvm', '/usr/lib/go-1.19', '/opt/rust') if os.path.exists(p)))\n"


def _kinds(name: str) -> list[str]:
    return ["ok", "fail"] + (["compile_error"] if LANGUAGES[name].compiled else [])


@functools.cache
def _built() -> dict[str, str]:
    get_sandbox("docker")  # a failure (or an opted-out skip) that says why
    return {name: build_production_image(name) for name in sorted(LANGUAGES)}


@functools.cache
def _results() -> tuple[dict[tuple[str, str], RunResult], dict[str, tuple], RunResult]:
    images = _built()
    keys, programs = [], []
    for name, lang in LANGUAGES.items():
        for kind in _kinds(name):
            keys.append((name, kind))
            programs.append(
                Program(
                    name, (FIXTURES / name / f"{kind}{lang.extension}").read_text(), stdin=STDIN
                )
            )
    with pytest.MonkeyPatch.context() as patch:
        for name, image in images.items():
            patch.setitem(LANGUAGES, name, dataclasses.replace(LANGUAGES[name], image=image))
        with DockerSandbox(image_mode="production") as sandbox:
            results = dict(zip(keys, sandbox.run_batch(programs), strict=True))
            probe = sandbox.run(Program("python", PROBE))
            used = {name: sandbox.image_for(LANGUAGES[name]) for name in LANGUAGES}
            assert leftover_pids(sandbox.token) == []
    return results, used, probe


@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_production_image_runs_the_fixtures(name):
    results, used, _ = _results()
    assert used[name] == (_built()[name], []), "the toolchain must come from the image"
    ok = results[(name, "ok")]
    assert ok.status is RunStatus.OK and ok.stdout.strip() == "sum 15", ok
    fail = results[(name, "fail")]
    assert fail.status is RunStatus.RUNTIME_ERROR and fail.phase == "run", fail
    if LANGUAGES[name].compiled:
        bad = results[(name, "compile_error")]
        assert bad.status is RunStatus.COMPILE_ERROR and bad.phase == "compile", bad


def test_a_production_container_sees_only_its_image():
    *_, probe = _results()
    assert probe.status is RunStatus.OK and probe.stdout.strip() == "[]", probe


def test_production_mode_without_the_image_says_which_dockerfile_to_build(monkeypatch):
    get_sandbox("docker")
    absent = dataclasses.replace(LANGUAGES["ruby"], image="codetrans-sandbox-test/absent:0")
    monkeypatch.setitem(LANGUAGES, "ruby", absent)
    with DockerSandbox(image_mode="production") as sandbox:
        with pytest.raises(SandboxUnavailable, match=r"Dockerfile\.ruby"):
            sandbox.run(Program("ruby", "puts 1\n"))
