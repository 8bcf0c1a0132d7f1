"""End to end: ``python -m pipeline.run`` on real parts (Beam DirectRunner, py2many,
tree-sitter, the Docker and bubblewrap sandboxes, parquet) and the guarantees users rely on.

Every end-to-end run is made on both backends (``--sandbox=docker`` and ``--sandbox=bwrap``,
markers ``docker`` and ``bwrap``), and the default (``--sandbox=auto``, what ``make run``
uses) is run as users get it, with an assertion on the backend it picked. A backend that cannot
run here fails these tests (or skips them when a developer opts out with
``CODETRANS_ALLOW_MISSING``, see ``tests/support.py``); nothing falls back to
``--sandbox=none``.

Run time: one sample run per backend, module-scoped. The first one to finish lends its
translation cache (py2many's output does not depend on the sandbox) to the others; the
verdict caches stay per run, so each backend really compiles and runs every translation.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.run import main, print_summary
from schemas import REJECTED_SCHEMA, RELEASE_SCHEMA, SPLITS, SYNTHCONL_COLUMNS, schema_version_of
from tests.support import BACKENDS, allowed_missing, available, get_sandbox, in_ci, missing

# Few targets keep the end-to-end runs to tens of seconds.
BASE = ["--runner=DirectRunner", "--target_languages=go,rust", "--decontaminate=humaneval"]
BACKEND_PARAMS = [
    pytest.param(b, marks=[getattr(pytest.mark, b), pytest.mark.slow]) for b in BACKENDS
]
_GOOD = {
    "repo": "o/r",
    "path": "a.py",
    "func_name": "inc",
    "language": "python",
    "code": 'def inc(x: int) -> int:\n    """Add one.\n\n    >>> inc(1)\n    2\n    """\n'
    "    return x + 1\n",
    "original_string": "",
    "docstring": "Add one.",
    "sha": "0" * 40,
    "url": "u",
    "partition": "train",
}


def _rows(directory: Path) -> list[dict]:
    rows = []
    for path in sorted(directory.glob("*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def _stats(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())


def _verdicts(rows: list[dict]) -> list[tuple]:
    return sorted((r["pair_id"], r["language2"], r["func2"], r["exec_status"]) for r in rows)


class _Runs:
    """The module's sample runs, one per backend, made on first use."""

    def __init__(self, tmp_path_factory) -> None:
        self.tmp = tmp_path_factory
        self.outputs: dict[str, Path] = {}

    def translations(self, cache_dir: Path) -> None:
        """Seed ``cache_dir`` with a finished run's translations (never its verdicts)."""
        for out in self.outputs.values():
            shutil.copytree(out / "cache" / "translations", cache_dir / "translations")
            return

    def sample(self, backend: str) -> Path:
        if backend not in self.outputs:
            get_sandbox(backend)  # a failure (or an opted-out skip) that says why
            out = self.tmp.mktemp(f"sample_{backend}")
            self.translations(out / "cache")
            assert main([*BASE, f"--sandbox={backend}", f"--output={out}"]) == 0
            self.outputs[backend] = out
        return self.outputs[backend]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> _Runs:
    return _Runs(tmp_path_factory)


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def sample_run(request, runs) -> Path:
    return runs.sample(request.param)


def test_sample_run_writes_the_documented_layout(sample_run):
    shards = sorted(p.name for p in (sample_run / "data").glob("*.parquet"))
    assert shards == [f"{s}-00000-of-00001.parquet" for s in sorted(SPLITS)]
    for path in (sample_run / "data").glob("*.parquet"):
        schema = pq.read_schema(path)
        assert tuple(schema.names[:8]) == SYNTHCONL_COLUMNS
        assert schema.names == RELEASE_SCHEMA.names
        assert schema_version_of(schema) == "1.1"
    assert (
        pq.read_schema(next((sample_run / "rejected").glob("*.parquet"))).names
        == REJECTED_SCHEMA.names
    )
    card = (sample_run / "README.md").read_text()
    assert (
        card.startswith("---\n") and "## Language matrix" in card and "## Rejection reasons" in card
    )


def test_the_run_used_the_backend_it_was_asked_for(sample_run):
    stats = _stats(sample_run)
    backend = stats["config"]["sandbox"]
    assert stats["sandbox"] == {"requested": backend, "backend": backend, "warning": None}
    counters = stats["metrics"]["counters"]
    assert (
        sum(v for k, v in counters.items() if k.startswith("execute/") and "cache_hits" in k) == 0
    )


def test_every_row_is_accounted_for(sample_run):
    stats = _stats(sample_run)
    released, rejected = _rows(sample_run / "data"), _rows(sample_run / "rejected")
    acc = stats["accounting"]
    assert acc["balanced"], acc
    assert acc["source_rows"] >= 60
    assert acc["source_rows"] == acc["pairs"] + acc["ready_candidates"] + acc["rejected_at_source"]
    assert acc["translation_requests"] == len(released) + sum(
        r["stage"] != "source" for r in rejected
    )
    assert stats["released_rows"] == len(released) > 0
    assert all(r["stage"] and r["reason"] for r in rejected)
    assert sum(stats["splits"].values()) == len(released)


def test_stats_report_per_stage_rates(sample_run):
    stats = _stats(sample_run)
    rates, flow = stats["stage_rates"], {s["stage"]: s for s in stats["stages"]}
    rows = {r["stage"]: r for r in rates["stages"]}
    assert [r for r in rows if r != "other"] == [
        "source",
        "translate",
        "parse",
        "execute",
        "select",
        "finalize",
    ]
    assert (
        rows["execute"]["in"] == flow["execute"]["in"] > 0
        and rows["execute"]["out"] == flow["execute"]["out"]
    )
    assert (
        rows["execute"]["busy_s"] > 0
        and rows["execute"]["rows_per_s"] > 0
        and rows["execute"]["cpu_s"] > 0
    )
    assert rows["execute"]["cpu_s_per_released_row"] == pytest.approx(
        rows["execute"]["cpu_s"] / stats["released_rows"], abs=1e-3
    )
    # every second is credited once: the stages and the rest add up to the run's total
    assert sum(r["cpu_s"] for r in rows.values()) == pytest.approx(rates["cpu_s"], abs=0.1)
    if (
        stats["sandbox"]["backend"] == "docker"
    ):  # containers are no children: read from their cgroup
        assert 0 < rates["sandbox_cpu_s"] <= rows["execute"]["cpu_s"]
        assert stats["metrics"]["counters"]["execute/sandbox_cpu_us"] > 0
    else:  # bwrap sandboxes are children: in the process CPU already
        assert rates["sandbox_cpu_s"] == 0
    assert rates["peak_rss_mb"]["launcher"] > 50
    summary = io.StringIO()
    print_summary(stats, out=summary)  # the run summary's throughput table
    assert "CPU s/released row" in summary.getvalue() and "execute" in summary.getvalue()


def test_released_rows_are_validated_and_repository_disjoint(sample_run):
    released = _rows(sample_run / "data")
    assert all(r["parse_ok"] for r in released)
    assert {r["exec_status"] for r in released} <= {"passed", "no_tests"}
    assert {r["language2"] for r in released if r["exec_status"] == "passed"} == {"go", "rust"}
    split_of_repo: dict[str, str] = {}
    for r in released:
        assert split_of_repo.setdefault(r["repository_name"], r["split"]) == r["split"]
    keys = [(r["pair_id"], r["language2"]) for r in released]
    assert len(keys) == len(set(keys)), "one row per (pair, target)"


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.bwrap
def test_both_backends_give_the_same_verdicts(runs):
    """Same translations, each backend with its own empty verdict cache: the same rows and the
    same verdicts (both run one agent and one classifier; docs/design.md, "Running and outputs")."""
    for backend in BACKENDS:  # both usable before the first run starts
        get_sandbox(backend)
    docker, bwrap = runs.sample("docker"), runs.sample("bwrap")
    assert _verdicts(_rows(docker / "data")) == _verdicts(_rows(bwrap / "data"))

    def rejections(out: Path) -> list[tuple]:
        return sorted(
            (
                (r["stage"], r["reason"], r["pair_id"], r["target_language"], r["attempt"])
                for r in _rows(out / "rejected")
            ),
            key=str,
        )

    assert rejections(docker) == rejections(bwrap)


@pytest.mark.slow
@pytest.mark.docker
def test_default_sandbox_is_auto_and_takes_docker(runs, tmp_path):
    """No ``--sandbox`` flag, as ``make run`` does: ``auto`` takes Docker when a daemon answers
    (bubblewrap only when a developer opted out of Docker and none answers), says so in
    stats.json, and gives the verdicts of an explicit ``--sandbox=docker`` run."""
    if available("docker"):
        expected = "docker"
    elif "docker" in allowed_missing() and not in_ci():
        expected = "bwrap"
    else:
        missing("docker", "no Docker daemon answers, so --sandbox=auto cannot take it")
    explicit = runs.sample(expected)
    out = tmp_path / "auto"
    runs.translations(out / "cache")
    argv = [
        "--runner=DirectRunner",
        "--target_languages=go",
        "--decontaminate=humaneval",
        f"--output={out}",
    ]
    assert main(argv) == 0
    stats = _stats(out)
    assert stats["config"]["sandbox"] == "auto"
    assert stats["sandbox"] == {"requested": "auto", "backend": expected, "warning": None}
    go = [r for r in _rows(explicit / "data") if r["language2"] == "go"]
    assert _verdicts(_rows(out / "data")) == _verdicts(go)


def _tiny_source(tmp_path: Path) -> Path:
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(_GOOD) + "\n")
    return path


@pytest.mark.bwrap
def test_auto_takes_bubblewrap_when_no_docker_daemon_answers(tmp_path, monkeypatch):
    get_sandbox("bwrap")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    out = tmp_path / "out"
    assert (
        main(
            [
                "--runner=DirectRunner",
                "--target_languages=go",
                "--decontaminate=",
                f"--source=csn:{_tiny_source(tmp_path)}",
                f"--output={out}",
            ]
        )
        == 0
    )
    stats = _stats(out)
    assert stats["sandbox"] == {"requested": "auto", "backend": "bwrap", "warning": None}
    assert [(r["language2"], r["exec_status"]) for r in _rows(out / "data")] == [("go", "passed")]


def test_an_unusable_explicit_backend_is_a_clean_error(tmp_path, monkeypatch, capsys):
    """``--sandbox=docker`` without a daemon stops before any work, saying why; it never
    falls back to another backend or to no sandbox."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    out = tmp_path / "out"
    assert (
        main(["--sandbox=docker", f"--source=csn:{_tiny_source(tmp_path)}", f"--output={out}"]) == 2
    )
    err = capsys.readouterr().err
    assert "--sandbox=docker is not usable here" in err and "no Docker daemon answers" in err
    assert not (out / "stats.json").exists()


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_rerun_resumes_and_gives_the_same_dataset(runs, backend, tmp_path):
    sample_run = runs.sample(backend)
    out = tmp_path / "again"
    shutil.copytree(sample_run, out)
    before = sorted(
        (r["pair_id"], r["language2"], r["func2"], r["split"]) for r in _rows(out / "data")
    )
    assert main([*BASE, f"--sandbox={backend}", f"--output={out}"]) == 0
    after = sorted(
        (r["pair_id"], r["language2"], r["func2"], r["split"]) for r in _rows(out / "data")
    )
    assert after == before
    counters = _stats(out)["metrics"]["counters"]
    generated = sum(
        v for k, v in counters.items() if k.startswith("translate/") and k.endswith("cache_misses")
    )
    assert generated == 0, {k: v for k, v in counters.items() if k.startswith("translate/")}


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_multiprocessing_runner_gives_the_same_rows(runs, backend, tmp_path):
    sample_run = runs.sample(backend)
    out = tmp_path / "mp"
    # Same caches as the in-process run, so this compares graph execution, not py2many again.
    shutil.copytree(sample_run / "cache", out / "cache")
    assert (
        main(
            [
                *BASE,
                f"--sandbox={backend}",
                f"--output={out}",
                "--direct_running_mode=multi_processing",
                "--direct_num_workers=2",
            ]
        )
        == 0
    )
    key = lambda r: (r["pair_id"], r["language2"], r["func2"], r["split"], r["exec_status"])  # noqa: E731
    assert sorted(map(key, _rows(out / "data"))) == sorted(map(key, _rows(sample_run / "data")))


def test_bad_input_is_rejected_with_reasons_not_crashed(tmp_path):
    """Rejection at the source does not depend on the sandbox: ``--sandbox=none`` on purpose,
    and the run says loudly that nothing was executed."""
    lines = [
        json.dumps(_GOOD),
        "{not json",
        json.dumps({**_GOOD, "code": "", "func_name": "empty"}),
        json.dumps({**_GOOD, "language": "cobol", "func_name": "cob"}),
        json.dumps({**_GOOD, "func_name": "big", "code": "def big():\n" + "    x = 1\n" * 200_000}),
    ]
    path = tmp_path / "csn.jsonl.gz"
    with gzip.open(path, "wb") as f:
        f.write(("\n".join(lines) + "\n").encode() + b"\xff\xfe broken utf8 line\n")
    out = tmp_path / "out"
    assert (
        main(
            [*BASE, "--sandbox=none", "--decontaminate=", f"--source=csn:{path}", f"--output={out}"]
        )
        == 0
    )
    stats = _stats(out)
    assert (
        stats["sandbox"]["backend"] == "none"
        and "parse-checked only" in stats["sandbox"]["warning"]
    )
    assert {r["exec_status"] for r in _rows(out / "data")} == {"not_run"}
    assert stats["accounting"]["balanced"]
    assert stats["accounting"]["source_rows"] == 6
    reasons = stats["rejection_reasons"]["source"]
    assert sum(reasons.values()) == 5, reasons


def test_missing_input_is_a_clean_error(tmp_path, capsys):
    assert main(["--source=csn:/nonexistent/file.jsonl", f"--output={tmp_path}"]) == 2
    assert "nonexistent" in capsys.readouterr().err
    assert main(["--target_languages=klingon", f"--output={tmp_path}"]) == 2
    assert "klingon" in capsys.readouterr().err
