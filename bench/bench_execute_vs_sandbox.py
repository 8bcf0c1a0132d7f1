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
            programs = [Program(lang, table.smoke_ok if i % 2 == 0 else table.smoke_fail) for i in range(n)]
            sandbox.run_batch(programs[:2])  # warm-up: page cache, image, compiler files
            with measured({"n": n}) as row:
                results = sandbox.run_batch(programs)
            row["statuses"] = collections.Counter(r.status.value for r in results)
            rows[lang] = row
    finally:
        sandbox.close()
    return rows


def execute_stage(cands: list, backend: str, batch: int, cache_dir: str) -> tuple[dict, list]:
    """The candidate: the pipeline's Execute transform on the in-process DirectRunner."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.execute import Execute, ExecuteConfig

    config = ExecuteConfig(sandbox=backend, cache_dir=cache_dir, batch_size=batch)
    out_path = os.path.join(cache_dir, "verdicts.pkl")
    os.makedirs(cache_dir, exist_ok=True)

    def dump(items):
        with open(out_path, "wb") as fh:
            pickle.dump(list(items), fh)

    with measured({"n": len(cands)}) as row:
        with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])) as p:
            done = p | beam.Create(cands, reshuffle=False) | Execute(config)
            both = (done["candidates"], done["rejected"]) | beam.Flatten()
            _ = (both | beam.combiners.ToList() | beam.Map(dump))
    with open(out_path, "rb") as fh:
        return row, pickle.load(fh)


def _lang_of(item) -> str:
    if hasattr(item, "translation"):
        return item.translation.target_language
    return item.target_language


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default=f"repo:{sysconfig.get_paths()['stdlib']}")
    ap.add_argument("--targets", default="cpp,go,rust", help="translation targets (py2many: cpp,go,rust)")
    ap.add_argument("--translator", default="py2many")
    ap.add_argument("--limit", type=int, default=400, help="at most this many source pairs")
    ap.add_argument("--max_candidates", type=int, default=0, help="use at most this many candidates (0: all)")
    ap.add_argument("--sandbox", default="docker", choices=("docker", "bwrap"))
    ap.add_argument("--batch", type=int, default=32, help="programs per sandbox batch, both cases")
    ap.add_argument("--work", default=None, help="keeps the translated candidates (default: a temp dir)")
    args = ap.parse_args(argv)

    from bench_execute import candidates

    _pin_cgroup()
    work = args.work or tempfile.mkdtemp(prefix="bench_exec_vs_box_")
    os.makedirs(work, exist_ok=True)
    saved = Path(work) / f"candidates-{args.source.replace(':', '_').replace('/', '_')}-{args.targets}-{args.limit}.pkl"
    if saved.exists():
        cands, _ = pickle.loads(saved.read_bytes())
    else:
        cands, lost = candidates(args.source, tuple(args.targets.split(",")), args.translator, args.limit,
                                 os.path.join(work, "translations"))
        saved.write_bytes(pickle.dumps((cands, lost)))
    if args.max_candidates:
        cands = cands[: args.max_candidates]
    counts = collections.Counter(c.translation.target_language for c in cands)
    try:
        stage, checked = execute_stage(cands, args.sandbox, args.batch, os.path.join(work, f"verdicts-{time.time_ns()}"))
        base = sandbox_batched(args.sandbox, dict(counts), args.batch)
    finally:
        _cleanup_cgroup()

    import apache_beam

    statuses = collections.Counter(
        (_lang_of(c), str(c.verdict.exec_status) if hasattr(c, "verdict") else c.reason) for c in checked)
    load = os.getloadavg()[0]
    print("# execute stage vs sandbox batched: verdicts per CPU-second (CPU = process + children + "
          "containers); ratio = baseline CPU-s/verdict / candidate CPU-s/verdict, >1 = faster; "
          "goal >= 0.67 (within 1.5x)")
    print(f"# device: {platform.machine()}, {os.cpu_count()} cpus shared, load {load:.1f}; python "
          f"{platform.python_version()}, apache-beam {apache_beam.__version__}; sandbox {args.sandbox}, "
          f"batch {args.batch}; source {args.source} ({len(cands)} parsed candidates)")
    print("case | baseline | candidate | ratio | n")
    stage_rate = len(cands) / stage["cpu_s"]
    base_n = sum(r["n"] for r in base.values())
    base_cpu = sum(r["cpu_s"] for r in base.values())
    for lang in sorted(base):
        r = base[lang]
        print(f"sandbox batched {lang} | {r['n'] / r['cpu_s']:.2f} verdicts/CPU-s | | | {r['n']}")
    base_rate = base_n / base_cpu
    print(f"verdicts/CPU-s, {'+'.join(sorted(counts))} | {base_rate:.2f} | {stage_rate:.2f} | "
          f"{stage_rate / base_rate:.2f}x | {len(cands)}")
    print(f"verdicts/wall-s (loaded machine) | {base_n / sum(r['wall_s'] for r in base.values()):.2f} | "
          f"{len(cands) / stage['wall_s']:.2f} | {(len(cands) / stage['wall_s']) / (base_n / sum(r['wall_s'] for r in base.values())):.2f}x | {len(cands)}")
    print(f"# execute stage CPU: {stage['own_cpu_s']:.1f} s in this process (Beam, Validator, Docker client) + "
          f"{stage['sandbox_cpu_s']:.1f} s in sandboxes; sandbox batched: "
          f"{sum(r['own_cpu_s'] for r in base.values()):.1f} s + {sum(r['sandbox_cpu_s'] for r in base.values()):.1f} s")
    print("# stage verdicts: " + ", ".join(f"{lang}:{s} {n}" for (lang, s), n in sorted(statuses.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
