"""A volume run: thousands of source pairs mined from this machine's own trees, through the
whole pipeline with two worker processes and the Docker sandbox.

A benchmark, not a test (it takes an hour on a loaded 2-core machine). It runs

    python -m pipeline.run --source=repo:PATH,PATH,... --translator=py2many --targets_per_pair=1 \\
        --runner=DirectRunner --direct_running_mode=multi_processing --direct_num_workers=2 \\
        --sandbox=docker --output=OUTPUT

as a child process, samples the resident memory of every process of its tree (the launcher,
the two workers, py2many's processes) and of the sandbox containers (their cgroup) once a
second, prints a progress line every ``--every`` seconds, and at the end prints the stage table
of ``stats.json`` (rows, rejection reasons, busy time, rows/s, CPU seconds per stage and per
released row) with the peak memory, and writes it all to ``OUTPUT/volume.json``.

    .venv/bin/python bench/volume_run.py --size=1k --output=/tmp/volume/1k
    .venv/bin/python bench/volume_run.py --size=5k --output=/tmp/volume/5k

``--size`` picks the trees (``--list`` prints them and their pair counts): Python from the
standard library and this venv's site-packages, Go from Go's own sources, C from the example
sources of installed -dev packages and Python's headers; the 1k set is a part of the 5k set.
Rust and C++ sources are not installed here (rustup's toolchain has no ``rust-src``).
py2many translates only Python, so Go and C pairs end as ``unsupported_source_language``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import resource
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STDLIB = sysconfig.get_paths()["stdlib"]
SITE = sysconfig.get_paths()["purelib"]
GO = "/usr/lib/go-1.19/src"
PAGE = os.sysconf("SC_PAGE_SIZE")
sys.path.insert(0, str(ROOT))

_PY_1K = [f"{SITE}/{p}" for p in ("rich", "click", "requests", "urllib3")]
_GO_1K = [f"{GO}/{p}" for p in ("strings", "strconv")]
_C_1K = ["/usr/share/doc/zlib1g-dev"]
SIZES = {
    "1k": _PY_1K + _GO_1K + _C_1K,
    "5k": [
        STDLIB,
        *_PY_1K,
        f"{SITE}/jinja2",
        *_GO_1K,
        *(f"{GO}/{p}" for p in ("sort", "bytes", "encoding/json", "net/url", "regexp")),
        *_C_1K,
        "/usr/share/doc/nettle-dev",
        sysconfig.get_paths()["include"],
    ],
}


def _tree(root: int) -> list[int]:
    """``root`` and every descendant process (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def _containers_mb() -> float:
    """Memory charged to the sandbox containers now (their cgroup parents, cgroup v1)."""
    total = 0.0
    for path in glob.glob("/sys/fs/cgroup/memory/codetrans-sandbox/docker-*/memory.usage_in_bytes"):
        try:
            with open(path) as fh:
                total += int(fh.read()) / 2**20
        except (OSError, ValueError):
            pass
    return total


class Sampler(threading.Thread):
    """Once a second: the RSS sum of the process tree, its largest process, the containers."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = {
            "processes_mb": 0.0,
            "largest_process_mb": 0.0,
            "launcher_mb": 0.0,
            "containers_mb": 0.0,
            "processes": 0,
        }
        self.now = dict(self.peak)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            pids = _tree(self.pid)
            sizes = [_rss_mb(p) for p in pids]
            self.now = {
                "processes_mb": sum(sizes),
                "largest_process_mb": max(sizes, default=0.0),
                "launcher_mb": _rss_mb(self.pid),
                "containers_mb": _containers_mb(),
                "processes": len(pids),
            }
            for key, value in self.now.items():
                self.peak[key] = max(self.peak[key], value)


_PROGRESS = re.compile(r"\[(\w+)\] (\d+) rows.*?pid (\d+)\)")


def _last_progress(log: Path) -> str:
    """Rows per stage so far: the latest ``[stage] N rows (..., pid P)`` count of each worker
    process in the run's log, summed over the workers."""
    latest: dict[tuple[str, str], int] = {}
    try:
        with open(log, errors="replace") as fh:
            for line in fh:
                match = _PROGRESS.search(line)
                if match:
                    latest[(match.group(1), match.group(3))] = int(match.group(2))
    except OSError:
        return ""
    totals: dict[str, int] = {}
    for (stage, _), n in latest.items():
        totals[stage] = totals.get(stage, 0) + n
    return ", ".join(f"{stage} {n}" for stage, n in totals.items())


def pipeline_argv(paths: list[str], output: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pipeline.run",
        f"--source=repo:{','.join(paths)}",
        "--translator=py2many",
        "--targets_per_pair=1",
        "--runner=DirectRunner",
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
        "--sandbox=docker",
        f"--output={output}",
    ]


def _count_pairs(paths: list[str]) -> int:
    from pipeline.sources.spec import read_source

    return sum(1 for _ in read_source(f"repo:{','.join(paths)}"))


def print_report(stats: dict, peak: dict, wall_s: float, rusage: dict, output: str) -> None:
    print(
        f"\n# volume run: {stats['accounting']['source_rows']} source pairs, wall {wall_s:.0f} s; "
        f"accounting balanced: {stats['accounting']['balanced']}"
    )
    print("stage | in | out | rejected | rejection reasons")
    for s in stats["stages"]:
        reasons = stats["rejection_reasons"].get(s["stage"], {})
        top = ", ".join(f"{r} {n}" for r, n in sorted(reasons.items(), key=lambda x: -x[1]))
        print(f"{s['stage']} | {s['in']} | {s['out']} | {s['rejected']} | {top}")
    rates = stats["stage_rates"]

    def num(value, fmt):
        return "" if value is None else format(value, fmt)

    print("\nstage | in | out | busy s | rows/s | CPU s | CPU s per released row")
    for r in rates["stages"]:
        print(
            f"{r['stage']} | {num(r['in'], 'd')} | {num(r['out'], 'd')} | {num(r['busy_s'], '.1f')} | "
            f"{num(r['rows_per_s'], '.2f')} | {num(r['cpu_s'], '.1f')} | {num(r['cpu_s_per_released_row'], '.3f')}"
        )
    print(
        f"total | | {stats['released_rows']} released | wall {rates['wall_s']:.0f} | "
        f"{num(rates['released_rows_per_s'], '.3f')} released/s | {rates['cpu_s']:.1f} "
        f"({rates['process_cpu_s']:.1f} processes + {rates['sandbox_cpu_s']:.1f} containers) | "
        f"{num(rates['cpu_s_per_released_row'], '.3f')}"
    )
    print(
        f"\npeak memory (sampled each second): all processes together {peak['processes_mb']:.0f} MB "
        f"(at most {peak['processes']} processes), largest process {peak['largest_process_mb']:.0f} MB, "
        f"launcher {peak['launcher_mb']:.0f} MB, sandbox containers {peak['containers_mb']:.0f} MB; "
        f"getrusage max RSS of one process {rusage['max_rss_mb']:.0f} MB; "
        f"CPU of the whole process tree (getrusage) {rusage['cpu_s']:.0f} s"
    )
    print(
        f"dataset card: {os.path.join(output, 'README.md')}; stats: {os.path.join(output, 'stats.json')}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="5k")
    ap.add_argument("--output", required=False, help="the pipeline's --output (a fresh directory)")
    ap.add_argument(
        "--log", default=None, help="the pipeline's log (default: OUTPUT.log beside the output)"
    )
    ap.add_argument("--every", type=float, default=60.0, help="seconds between progress lines")
    ap.add_argument(
        "--list",
        action="store_true",
        help="print the trees of --size and their pair counts, then stop",
    )
    args = ap.parse_args(argv)

    paths = [p for p in SIZES[args.size] if os.path.isdir(p)]
    missing = [p for p in SIZES[args.size] if not os.path.isdir(p)]
    if args.list:
        for p in paths:
            print(f"{p} | {_count_pairs([p])} pairs")
        print(
            f"total | {_count_pairs(paths)} pairs; not installed here: {', '.join(missing) or 'none'}"
        )
        return 0
    if not args.output:
        ap.error("--output is required")
    output = os.path.abspath(args.output)
    log = Path(args.log or output.rstrip("/") + ".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["bash", str(ROOT / "scripts" / "ensure_dockerd.sh")], check=False)
    argv_run = pipeline_argv(paths, output)
    print("# " + " ".join(argv_run), flush=True)
    if missing:
        print(f"# not installed here, left out: {', '.join(missing)}", flush=True)
    started = time.time()
    with open(log, "w") as fh:
        env = dict(os.environ, PYTHONPATH=str(ROOT))  # this checkout's code, in the workers too
        child = subprocess.Popen(
            argv_run, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    sampler = Sampler(child.pid)
    sampler.start()
    try:
        while child.poll() is None:
            try:
                child.wait(timeout=args.every)
            except subprocess.TimeoutExpired:
                now = sampler.now
                print(
                    f"[{time.time() - started:6.0f} s] RSS {now['processes_mb']:.0f} MB in {now['processes']} "
                    f"processes (peak {sampler.peak['processes_mb']:.0f}), containers {now['containers_mb']:.0f} MB; "
                    f"{_last_progress(log)}",
                    flush=True,
                )
    except KeyboardInterrupt:
        os.killpg(child.pid, signal.SIGTERM)
        raise
    sampler.stop.set()
    sampler.join()
    wall = time.time() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    rusage = {"cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_mb": usage.ru_maxrss / 1024}
    if child.returncode != 0:
        print(f"# the run exited {child.returncode}; see {log}", flush=True)
        return child.returncode
    stats = json.loads(Path(output, "stats.json").read_text())
    print_report(stats, sampler.peak, wall, rusage, output)
    summary = {
        "command": argv_run,
        "paths": paths,
        "wall_s": round(wall, 1),
        "peak_memory_mb": sampler.peak,
        "rusage": rusage,
        "stages": stats["stages"],
        "rejection_reasons": stats["rejection_reasons"],
        "stage_rates": stats["stage_rates"],
        "released_rows": stats["released_rows"],
        "card": os.path.join(output, "README.md"),
    }
    Path(output, "volume.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
