"""The execute stage's verdicts per CPU-second against the sandbox's batched figure, side by side.

Baseline: what ``bench/bench_sandbox.py`` calls batched: the language table's self-test
programs (half pass, half fail at run time) through ``DockerSandbox``/``BwrapSandbox`` with
``batch_size=--batch``, as many programs per language as the candidates have, one language
at a time. Candidate: the pipeline's execute stage over parsed translations, as
``pipeline.run`` builds it: ``pipeline.execute.Execute`` in a Beam pipeline on the in-process
DirectRunner, with a cold verdict cache (source validation, harness rendering, compile, run,
verdicts). Both run in this process, one after the other, on the same machine.

CPU-seconds = this process's user+sys time, its children's (bwrap sandboxes) and the
containers' (the cgroup every container of this bench starts under; the Docker daemon's own
work is in neither case). Wall time is printed too, but on a shared machine only the CPU
figure compares. The stage pays its one-time set-up (toolchain self-tests) inside its figure.

Rows (">1 = faster"): per language and for the whole mix, baseline = sandbox batched,
candidate = execute stage; ratio = baseline CPU-s per verdict / candidate CPU-s per verdict
(the goal: >= 0.67, i.e. the stage within 1.5x of the sandbox's figure). The last row splits
the stage's CPU between this process (Beam, the Validator, the Docker client) and the
sandboxes.

    .venv/bin/python bench/bench_execute_vs_sandbox.py \\
        --source=repo:STDLIB --limit=400 [--sandbox=docker] [--work=/tmp/bench]

Candidates are translated with py2many and parse-checked once, then kept in ``--work``
(``bench/bench_execute.py``'s ``candidates``), so a re-run measures execution only.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import glob
import os
import pickle
import platform
import resource
import sys
import sysconfig
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandboxes import LANGUAGES, Program  # noqa: E402
from sandboxes.docker_backend import CGROUP_PARENT, CGROUP_ROOT, DockerSandbox  # noqa: E402

#: Every container of this bench starts under this cgroup (whatever the sandbox object), so
#: the stage's own sandboxes, opened inside the DoFn, are counted too.
BENCH_CGROUP = f"/{CGROUP_PARENT}/bench-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _pin_cgroup() -> None:
    """Route every DockerSandbox of this process to ``BENCH_CGROUP`` and keep it at close."""
    DockerSandbox._cgroup_parent = lambda self, base_url: BENCH_CGROUP
    DockerSandbox._cgroup_dirs = lambda self: []


#: What the stage's sandbox calls cost, by kind: ``(kind, language) -> [programs, CPU-s]``.
SPLIT: dict[tuple[str, str], list[float]] = collections.defaultdict(lambda: [0, 0.0])


def _split_sandbox_cpu():
    """Account every ``run_batch`` / ``self_test`` of the stage's sandbox by kind: toolchain
    self-tests, source validations (python programs when python is no target), harnesses.
    Returns the function that stops it."""
    from sandboxes.sandbox import Sandbox

    run_batch, self_test = Sandbox.run_batch, Sandbox.self_test
    state = {"self_test": 0}

    def cpu(sandbox) -> float:
        if sandbox.name == "docker":
            return _cgroup_cpu_s()
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return kids.ru_utime + kids.ru_stime

    def counted_run_batch(self, programs):
        before = cpu(self)
        out = run_batch(self, programs)
        used = (cpu(self) - before) / max(1, len(programs))
        for program in programs:
            kind = (
                "self-test"
                if state["self_test"]
                # testgen's validation programs define __guarded
                else "source validation"
                if program.language == "python" and "def __guarded(" in program.source
                else "harness"
            )
            SPLIT[(kind, program.language)][0] += 1
            SPLIT[(kind, program.language)][1] += used
        return out

    def counted_self_test(self, languages=None):
        state["self_test"] += 1
        try:
            return self_test(self, languages)
        finally:
            state["self_test"] -= 1

    Sandbox.run_batch, Sandbox.self_test = counted_run_batch, counted_self_test

    def stop() -> None:
        Sandbox.run_batch, Sandbox.self_test = run_batch, self_test

    return stop


def _cgroup_cpu_s() -> float:
    path = os.path.join(CGROUP_ROOT, "cpuacct", BENCH_CGROUP.lstrip("/"), "cpuacct.usage")
    try:
        with open(path) as fh:
            return int(fh.read()) / 1e9
    except OSError:
        return 0.0


def _own_cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@contextlib.contextmanager
def measured(out: dict):
    """Fill ``out`` with wall, own (process + children) and sandbox CPU seconds of the block."""
    wall, own, box = time.perf_counter(), _own_cpu_s(), _cgroup_cpu_s()
    yield out
    out["wall_s"] = time.perf_counter() - wall
    out["own_cpu_s"] = _own_cpu_s() - own
    out["sandbox_cpu_s"] = _cgroup_cpu_s() - box
    out["cpu_s"] = out["own_cpu_s"] + out["sandbox_cpu_s"]


def _cleanup_cgroup() -> None:
    for path in glob.glob(os.path.join(CGROUP_ROOT, "*", BENCH_CGROUP.lstrip("/"))):
        with contextlib.suppress(OSError):
            os.rmdir(path)


def sandbox_batched(backend: str, counts: dict[str, int], batch: int) -> dict[str, dict]:
    """The baseline: self-test programs, ``counts[lang]`` per language, batched."""
    from sandboxes import open_sandbox

    sandbox = open_sandbox(backend, batch_size=batch)
    rows = {}
    try:
        for lang, n in sorted(counts.items()):
            table = LANGUAGES[lang]
            programs = [
                Program(lang, table.smoke_ok if i % 2 == 0 else table.smoke_fail) for i in range(n)
            ]
            sandbox.run_batch(programs[:2])  # warm-up: page cache, image, compiler files
            with measured({"n": n}) as row:
                results = sandbox.run_batch(programs)
            row["statuses"] = collections.Counter(r.status.value for r in results)
            rows[lang] = row
    finally:
        sandbox.close()
    return rows


def execute_stage(
    cands: list, backend: str, batch: int, cache_dir: str | None, out_dir: str
) -> tuple[dict, list]:
    """The candidate: the pipeline's Execute transform on the in-process DirectRunner."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.execute import Execute, ExecuteConfig

    config = ExecuteConfig(sandbox=backend, cache_dir=cache_dir, batch_size=batch)
    os.makedirs(out_dir, exist_ok=True)
    out_path = os.path.join(out_dir, f"verdicts-{time.time_ns()}.pkl")

    def dump(items):
        with open(out_path, "wb") as fh:
            pickle.dump(list(items), fh)

    with measured({"n": len(cands)}) as row:
        with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])) as p:
            done = p | beam.Create(cands, reshuffle=False) | Execute(config)
            both = (done["candidates"], done["rejected"]) | beam.Flatten()
            _ = both | beam.combiners.ToList() | beam.Map(dump)
    with open(out_path, "rb") as fh:
        return row, pickle.load(fh)


def handmade(replicas: int) -> list:
    """The hand-made translations of ``tests/pipeline/test_execute.py`` (nine languages, a
    correct and a subtly wrong one per pair: every program compiles), ``replicas`` times over
    pairs that differ only in their docstring, so each replica validates its own source."""
    import dataclasses

    from schemas import Candidate, Translation, Verdict
    from tests.pipeline.test_execute import TRANSLATIONS

    out = []
    for k in range(replicas):
        for language, p, good, bad in TRANSLATIONS:
            p = dataclasses.replace(p, docstring=f"{p.docstring} (replica {k})")
            p = type(p).create(
                repository_name=p.repository_name,
                func_path_in_repository=p.func_path_in_repository,
                func_name=p.func_name,
                language=p.language,
                code=p.code,
                docstring=p.docstring,
            )
            for attempt, code in enumerate((good, bad)):
                t = Translation(p.pair_id, language, code, "test:hand", attempt=attempt)
                out.append(Candidate(p, t, Verdict(p.pair_id, language, attempt, parse_ok=True)))
    return out


def from_run(output: str) -> list:
    """The candidates that reached the execute stage of a finished pipeline run: its rows
    rejected at execute or later (rebuilt from their records) and its released rows."""
    import json

    import pyarrow.parquet as pq

    from pipeline.sources.spec import read_source
    from schemas import Candidate, SourcePair, Translation, Verdict

    out = []
    for path in sorted(glob.glob(os.path.join(output, "rejected", "*.parquet"))):
        for row in pq.read_table(path, columns=["stage", "record"]).to_pylist():
            if row["stage"] not in ("execute", "select", "dedup", "decontaminate"):
                continue
            record = json.loads(row["record"])
            p, t = SourcePair.from_row(record["pair"]), Translation.from_row(record["translation"])
            out.append(
                Candidate(p, t, Verdict(p.pair_id, t.target_language, t.attempt, parse_ok=True))
            )
    for c in read_source(f"synthconl:{os.path.join(output, 'data')}"):
        t = c.translation
        out.append(
            Candidate(c.pair, t, Verdict(t.pair_id, t.target_language, t.attempt, parse_ok=True))
        )
    return out


def _lang_of(item) -> str:
    if hasattr(item, "translation"):
        return item.translation.target_language
    return item.target_language


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--source",
        default=f"repo:{sysconfig.get_paths()['stdlib']}",
        help="a pipeline source spec (translated with --translator), 'handmade', or run:OUTPUT "
        "(what reached the execute stage of a finished pipeline run)",
    )
    ap.add_argument(
        "--replicas", type=int, default=4, help="--source=handmade: copies of the hand-made set"
    )
    ap.add_argument(
        "--targets", default="cpp,go,rust", help="translation targets (py2many: cpp,go,rust)"
    )
    ap.add_argument("--translator", default="py2many")
    ap.add_argument("--limit", type=int, default=400, help="at most this many source pairs")
    ap.add_argument(
        "--max_candidates", type=int, default=0, help="use at most this many candidates (0: all)"
    )
    ap.add_argument("--sandbox", default="docker", choices=("docker", "bwrap"))
    ap.add_argument(
        "--batch",
        type=int,
        default=0,
        help="programs per sandbox batch, both cases (0: the stage's default, ExecuteConfig.batch_size)",
    )
    ap.add_argument(
        "--work", default=None, help="keeps the translated candidates (default: a temp dir)"
    )
    args = ap.parse_args(argv)

    from bench_execute import candidates

    from pipeline.execute import ExecuteConfig

    args.batch = args.batch or ExecuteConfig().batch_size
    _pin_cgroup()
    work = args.work or tempfile.mkdtemp(prefix="bench_exec_vs_box_")
    os.makedirs(work, exist_ok=True)
    saved = (
        Path(work)
        / f"candidates-{args.source.replace(':', '_').replace('/', '_')}-{args.targets}-{args.limit}.pkl"
    )
    cache: str | None = os.path.join(work, f"verdicts-{time.time_ns()}")
    if args.source == "handmade":  # replicas repeat program texts: no verdict cache, all run
        cands, cache = handmade(args.replicas), None
    elif args.source.startswith("run:"):
        cands = from_run(args.source[len("run:") :])
    elif saved.exists():
        cands, _ = pickle.loads(saved.read_bytes())
    else:
        cands, lost = candidates(
            args.source,
            tuple(args.targets.split(",")),
            args.translator,
            args.limit,
            os.path.join(work, "translations"),
        )
        saved.write_bytes(pickle.dumps((cands, lost)))
    if args.max_candidates:
        cands = cands[: args.max_candidates]
    counts = collections.Counter(c.translation.target_language for c in cands)
    try:
        first = sandbox_batched(args.sandbox, dict(counts), args.batch)
        stop_split = _split_sandbox_cpu()
        stage, checked = execute_stage(
            cands, args.sandbox, args.batch, cache, os.path.join(work, "stage-out")
        )
        stop_split()
        # the baseline before and after the stage, averaged: the load of a shared machine moves
        # CPU time too (busy sibling hyperthreads), so the stage is bracketed in time
        second = sandbox_batched(args.sandbox, dict(counts), args.batch)
        base = {
            lang: {
                k: (first[lang][k] + second[lang][k]) / 2
                for k in ("n", "wall_s", "own_cpu_s", "sandbox_cpu_s", "cpu_s")
            }
            for lang in first
        }
    finally:
        _cleanup_cgroup()

    import apache_beam

    statuses = collections.Counter(
        (_lang_of(c), str(c.verdict.exec_status) if hasattr(c, "verdict") else c.reason)
        for c in checked
    )
    load = os.getloadavg()[0]
    print(
        "# execute stage vs sandbox batched: verdicts per CPU-second (CPU = process + children + "
        "containers); ratio = baseline CPU-s/verdict / candidate CPU-s/verdict, >1 = faster; "
        "goal >= 0.67 (within 1.5x)"
    )
    print(
        f"# device: {platform.machine()}, {os.cpu_count()} cpus shared, load {load:.1f}; python "
        f"{platform.python_version()}, apache-beam {apache_beam.__version__}; sandbox {args.sandbox}, "
        f"batch {args.batch}; source {args.source} ({len(cands)} parsed candidates)"
    )
    print("case | baseline | candidate | ratio | n")
    stage_rate = len(cands) / stage["cpu_s"]
    base_n = sum(r["n"] for r in base.values())
    base_cpu = sum(r["cpu_s"] for r in base.values())
    base_rate = base_n / base_cpu
    for lang in sorted(base):  # the harness programs alone against the self-test programs
        r = base[lang]
        n, cpu = SPLIT.get(("harness", lang), [0, 0.0])
        if n and cpu:
            print(
                f"{lang}: sandbox CPU per verdict, self-test programs vs the stage's harness programs | "
                f"{r['n'] / r['cpu_s']:.2f}/CPU-s | {n / cpu:.2f}/CPU-s | {(n / cpu) / (r['n'] / r['cpu_s']):.2f}x | {n}"
            )
    print(
        f"verdicts/CPU-s, whole stage vs sandbox batched, {'+'.join(sorted(counts))} | {base_rate:.2f} | "
        f"{stage_rate:.2f} | {stage_rate / base_rate:.2f}x | {len(cands)}"
    )
    base_wall = sum(r["wall_s"] for r in base.values())
    print(
        f"verdicts/wall-s (loaded machine) | {base_n / base_wall:.2f} | {len(cands) / stage['wall_s']:.2f} | "
        f"{(len(cands) / stage['wall_s']) / (base_n / base_wall):.2f}x | {len(cands)}"
    )
    parts = [
        f"{kind} {lang} {cpu:.1f} s ({int(n)} programs)"
        for (kind, lang), (n, cpu) in sorted(SPLIT.items())
    ]
    parts.append(
        f"other (toolchain version queries) {stage['sandbox_cpu_s'] - sum(c for _, c in SPLIT.values()):.1f} s"
    )
    print(
        f"# the stage's {stage['cpu_s']:.1f} CPU-s: this process (Beam, Validator, Docker client) "
        f"{stage['own_cpu_s']:.1f} s; sandboxes {stage['sandbox_cpu_s']:.1f} s = "
        + "; ".join(parts)
    )
    print(
        f"# sandbox batched (mean of the runs before and after the stage: {sum(r['cpu_s'] for r in first.values()):.1f} and "
        f"{sum(r['cpu_s'] for r in second.values()):.1f} CPU-s): {sum(r['own_cpu_s'] for r in base.values()):.1f} s in this "
        f"process + {sum(r['sandbox_cpu_s'] for r in base.values()):.1f} s in sandboxes"
    )
    print(
        "# stage verdicts: "
        + ", ".join(f"{lang}:{s} {n}" for (lang, s), n in sorted(statuses.items()))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
