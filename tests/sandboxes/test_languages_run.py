"""Every language of the table, on every backend: ok, runtime error and (compiled) compile error.

One parametrized test over ``LANGUAGES``: a language without fixtures fails here. The fixtures
of one backend run as one batch (the production path), so compile-heavy languages run once
per backend.
"""

from __future__ import annotations

import functools

import pytest

from sandboxes import LANGUAGES, Program, RunResult, RunStatus

from .conftest import BACKENDS, FIXTURES, get_sandbox, leftover_pids

STDIN = "1 2 3\n4 5\n"


def _kinds(name: str) -> list[str]:
    return ["ok", "fail"] + (["compile_error"] if LANGUAGES[name].compiled else [])


@functools.cache
def _results(backend: str) -> dict[tuple[str, str], RunResult]:
    sandbox = get_sandbox(backend)
    keys, programs = [], []
    for name, lang in LANGUAGES.items():
        for kind in _kinds(name):
            path = FIXTURES / name / f"{kind}{lang.extension}"
            if not path.is_file():
                continue  # test_every_language_has_fixtures names it
            keys.append((name, kind))
            programs.append(Program(name, path.read_text(), stdin=STDIN))
    results = dict(zip(keys, sandbox.run_batch(programs), strict=True))
    assert leftover_pids(sandbox.token) == []
    return results


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_language_fixtures(backend, name):
    results = _results(backend)
    ok = results[(name, "ok")]
    assert ok.status is RunStatus.OK, ok
    assert ok.stdout.strip() == "sum 15"
    fail = results[(name, "fail")]
    assert fail.status is RunStatus.RUNTIME_ERROR and fail.phase == "run", fail
    assert fail.exit_code != 0
    if LANGUAGES[name].compiled:
        bad = results[(name, "compile_error")]
        assert bad.status is RunStatus.COMPILE_ERROR and bad.phase == "compile", bad
        assert bad.stderr.strip()


@pytest.mark.parametrize("backend", BACKENDS)
def test_self_test_and_versions(backend):
    sandbox = get_sandbox(backend)
    report = sandbox.self_test(["python", "c"])
    assert report["python"][0] and report["c"][0], report
    assert sandbox.toolchain_version("python").startswith("Python 3")
    assert "gcc" in sandbox.toolchain_version("c")


@pytest.mark.parametrize("name", ["cpp", "go", "java"])
def test_batch_compile_gives_the_verdicts_of_one_by_one(name):
    """The batch compile (PCH, shared Go cache, warm javac) changes no status and no diagnostic."""
    sandbox = get_sandbox("bwrap")
    lang = LANGUAGES[name]
    programs = [Program(name, (FIXTURES / name / f"{kind}{lang.extension}").read_text(), stdin=STDIN)
                for kind in ("ok", "compile_error", "fail", "ok")]
    batched = sandbox.run_batch(programs)
    alone = [sandbox.run(program) for program in programs]
    assert [r.status for r in batched] == [r.status for r in alone]
    assert [r.stdout for r in batched] == [r.stdout for r in alone]
    assert batched[1].stderr == alone[1].stderr  # the compile error's diagnostics
