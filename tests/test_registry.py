"""The language registry against everything else that names languages.

``languages/<name>.py`` is the one place a language is described; the files outside Python
that install or build its toolchain (the sandbox images, the system-deps script, the image
build script, the worker image) cannot import it, so this test reads them and checks that
they agree with it. Every Python module that needs a language fact reads the registry; the
checks at the end make sure no language lacks a part the pipeline calls at run time.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

import languages
from languages import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = ROOT / "sandboxes" / "docker"
SYSTEM_DEPS = (ROOT / "scripts" / "install_system_deps.sh").read_text()
WORKER = (ROOT / "docker" / "Dockerfile.worker").read_text()
#: Packages the system-deps script installs that are not a language's toolchain.
BACKEND_PACKAGES = {"docker.io", "bubblewrap"}


def _npm_pins(text: str, prefix: str) -> set[str]:
    """The ``name@version`` arguments of every ``npm install --prefix PREFIX ...`` in ``text``."""
    pins = set()
    for m in re.finditer(rf"npm install --prefix {re.escape(prefix)}((?:\\\n|[^\n])*)", text):
        pins |= {
            w for w in m.group(1).replace("\\\n", " ").split() if re.match(r"^@?[\w./-]+@\d", w)
        }
    return pins


def test_every_language_has_a_sandbox_image_and_no_image_lacks_a_language():
    files = {p.name.split(".", 1)[1] for p in DOCKERFILES.glob("Dockerfile.*")}
    assert files == set(REGISTRY)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_sandbox_image_tag_and_toolchain_match_the_registry(name):
    spec = REGISTRY[name]
    text = (DOCKERFILES / f"Dockerfile.{name}").read_text()
    build = re.search(r"^# Build: .* -t (\S+) sandboxes/docker$", text, re.M)
    assert build and build.group(1) == spec.toolchain.image
    if spec.install.npm:
        assert f"/opt/codetrans/{name}" == spec.install.npm_prefix
        assert _npm_pins(text, spec.install.npm_prefix) == set(spec.install.npm)


def test_the_build_script_builds_each_image_under_the_registrys_tag():
    env = {**os.environ, "DRY_RUN": "1"}
    out = subprocess.run(
        ["bash", "scripts/build_sandbox_images.sh"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    built = dict(line.split() for line in out.splitlines())
    assert built == {name: spec.toolchain.image for name, spec in REGISTRY.items()}


def test_the_system_deps_script_installs_the_registrys_packages_and_pins():
    apt = set(re.findall(r"need\+=\(([\w.-]+)\)", SYSTEM_DEPS))
    debian = {p for spec in REGISTRY.values() for p in spec.install.debian}
    assert apt - BACKEND_PACKAGES <= debian, (
        "the script installs a toolchain the registry does not name"
    )
    for spec in REGISTRY.values():
        if spec.install.npm:
            prefix = re.search(r"^TS_PREFIX=(\S+)$", SYSTEM_DEPS, re.M).group(1)
            pins = set(re.search(r"^TS_PACKAGES=\(([^)]*)\)$", SYSTEM_DEPS, re.M).group(1).split())
            assert (prefix, pins) == (spec.install.npm_prefix, set(spec.install.npm))
            assert spec.toolchain.mounts == (
                (prefix, prefix),
            )  # the sandbox binds what it installs


def test_the_worker_image_carries_every_toolchain_and_the_registry():
    apt_line = re.search(
        r"apt-get install -y --no-install-recommends \\\n((?:.*\\\n)+)", WORKER
    ).group(1)
    installed = set(apt_line.replace("\\", " ").split())
    for name, spec in REGISTRY.items():
        assert set(spec.install.debian) <= installed, (
            f"{name}: {spec.install.debian} not in the worker image"
        )
        if spec.install.npm:
            assert _npm_pins(WORKER, spec.install.npm_prefix) == set(spec.install.npm)
    assert "COPY languages ./languages" in WORKER
    assert "!languages/" in (ROOT / "docker" / "Dockerfile.worker.dockerignore").read_text()


def test_names_aliases_extensions_and_tags_are_unambiguous():
    keys = [k for spec in REGISTRY.values() for k in (spec.name, *spec.aliases)]
    assert len(keys) == len(set(keys))
    extensions = [e for spec in REGISTRY.values() for e in spec.mining.extensions]
    assert len(extensions) == len(set(extensions))
    assert all(spec.extension in spec.mining.extensions for spec in REGISTRY.values())
    for spec in REGISTRY.values():
        assert languages.get(spec.name.upper()) is spec
        assert spec.toolchain.name == spec.name and spec.toolchain.extension == spec.extension
        assert spec.fence_tag in spec.replies.tags


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_part_the_pipeline_calls_exists_for_every_language(name):
    """No language can reach run time without a prompt, a harness, a grammar or a display name."""
    from eval.docstrings import GRAMMARS
    from model.tokenizer import language_display_name
    from pipeline.harness import harness_for
    from pipeline.parse_check import ParseChecker
    from pipeline.translate import render_messages
    from schemas import SourcePair

    spec = REGISTRY[name]
    pair = SourcePair.create(
        repository_name="o/r",
        func_path_in_repository="m.py",
        func_name="f",
        language="python",
        code="def f(x):\n    return x\n",
        docstring="Identity.",
    )
    user = render_messages(pair, name)[1]["content"]
    assert f"into {spec.display_name}" in user and f"tagged `{spec.fence_tag}`" in user
    assert harness_for(name).LANGUAGE == name
    assert ParseChecker((name,)).check(name, "x") is not None
    assert GRAMMARS[name] == spec.tree_sitter_grammar
    assert language_display_name(name) == spec.display_name


def test_no_module_keeps_its_own_language_list():
    """Language names spelled out as a list or table outside ``languages/`` drift from it."""
    listed = re.compile(
        r"""["'](?:python|javascript|java|cpp|go|rust|php|ruby|typescript)["']\s*[:,]"""
    )
    allowed = {
        "pipeline/translate/py2many.py",  # py2many's own three targets and their flags
        "pipeline/sources/licenses.py",  # file extensions that are never license texts
        "sandboxes/agent.py",  # the agent's link-once strategies, named by the registry's entries
        # documentation-stripping node tables keyed by grammar, for benchmark languages too
        # (C#); a language added to the registry falls back to its mining definitions
        "eval/docstrings.py",
    }
    offenders = []
    for package in ("pipeline", "sandboxes", "model", "eval", "schemas"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            text = path.read_text()
            if rel in allowed:
                continue
            hits = [m.group(0) for m in listed.finditer(text)]
            if len(hits) >= 3:  # one or two names are a rule about that language, not a table
                offenders.append(f"{rel}: {hits[:5]}")
    assert offenders == []
