"""Sandbox throughput: verdicts per second, one container per program vs warm batched containers.

The target: per language, the batched path must give >= 3x the verdicts/s of one
container per program, with identical verdicts (asserted here). Programs are the language
table's self-test programs (half pass, half fail at run time), so every verdict is a full
compile + run. Baseline: ``DockerSandbox(batch_size=1)`` (a fresh container per program, the
same agent, limits and image). Candidate: ``DockerSandbox(batch_size=N)`` (one warm container
per language batch, a fresh dir and fresh limits per program, batch compile where the
language allows it). bwrap rows: ``BwrapSandbox(batch_size=1)`` (one sandbox and cgroup per
program) vs ``BwrapSandbox(batch_size=N)`` (one sandbox and cgroup per batch). All sequential
(one worker). One warm-up batch per backend and language, then the median of ``--repeats``.

    .venv/bin/python bench/bench_sandbox.py [--languages=python,c] [--n=8] [--repeats=1]
                                            [--backends=docker,bwrap] [--quick] [--cpus=1]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandboxes import LANGUAGES, Program, RunStatus, SandboxUnavailable  # noqa: E402
from sandboxes.bwrap_backend import BwrapSandbox  # noqa: E402
from sandboxes.docker_backend import DockerSandbox  # noqa: E402


def _programs(language: str, n: int) -> list[Program]:
    lang = LANGUAGES[language]
    return [Program(language, lang.smoke_ok if i % 2 == 0 else lang.smoke_fail) for i in range(n)]


def _timed(sandbox, programs: list[Program], repeats: int) -> tuple[float, list[RunStatus]]:
    sandbox.run_batch(programs[:2])  # warm-up: page cache, image, compiler files
    times, statuses = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        results = sandbox.run_batch(programs)
        times.append(time.perf_counter() - start)
        got = [r.status for r in results]
        if statuses is not None and got != statuses:
            raise SystemExit(
                f"{sandbox.name}: verdicts changed between repeats: {got} vs {statuses}"
            )
        statuses = got
    return statuses, statistics.median(times)


def _versions() -> str:
    import docker

    parts = [f"python {platform.python_version()}", f"docker-py {docker.__version__}"]
    try:
        parts.append(f"dockerd {docker.from_env().version()['Version']}")
    except Exception:  # noqa: BLE001 - no daemon: the docker rows are skipped anyway
        pass
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--languages", default=",".join(LANGUAGES))
    parser.add_argument("--backends", default="docker,bwrap")
    parser.add_argument("--n", type=int, default=8, help="programs per language and run")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="n=4, repeats=1")
    parser.add_argument(
        "--cpus",
        type=float,
        default=1.0,
        help="CPU quota of each sandbox (Sandbox(cpus=...)), both rows",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.repeats = 4, 1
    languages = [name.strip() for name in args.languages.split(",") if name.strip()]
    for name in languages:
        if name not in LANGUAGES:
            parser.error(f"unknown language {name!r}")
    print(
        f"# sandbox verdicts/s, {args.n} programs per language, median of {args.repeats}, "
        f"cpus={args.cpus} per sandbox (ratio = baseline time / candidate time, >1 = faster)"
    )
    print(
        f"# device: {platform.machine()} {platform.node()}, cpus={len(os.sched_getaffinity(0))};"
        f" {_versions()}"
    )
    print("case | baseline | candidate | ratio | n")
    failed = False
    for backend in args.backends.split(","):
        try:
            if backend == "docker":
                base = DockerSandbox(batch_size=1, cpus=args.cpus)
                cand = DockerSandbox(batch_size=max(args.n, 1), cpus=args.cpus)
                labels = ("1 container/program", "warm batched container")
            elif backend == "bwrap":
                base = BwrapSandbox(batch_size=1, cpus=args.cpus)
                cand = BwrapSandbox(batch_size=max(args.n, 1), cpus=args.cpus)
                labels = ("1 sandbox/program", "batched sandbox")
            else:
                parser.error(f"unknown backend {backend!r}")
        except SandboxUnavailable as exc:
            print(f"# {backend}: skipped ({exc})")
            continue
        print(f"# {backend}: baseline = {labels[0]}, candidate = {labels[1]}")
        for name in languages:
            programs = _programs(name, args.n)
            base_status, base_s = _timed(base, programs, args.repeats)
            cand_status, cand_s = _timed(cand, programs, args.repeats)
            if base_status != cand_status:
                print(f"# {backend} {name}: VERDICTS DIFFER: {base_status} vs {cand_status}")
                failed = True
            expected = [
                RunStatus.OK if i % 2 == 0 else RunStatus.RUNTIME_ERROR for i in range(args.n)
            ]
            if cand_status != expected:
                print(f"# {backend} {name}: unexpected verdicts {cand_status}")
                failed = True
            print(
                f"{backend}/{name} | {args.n / base_s:.2f}/s | {args.n / cand_s:.2f}/s | "
                f"{base_s / cand_s:.2f}x | {args.n}",
                flush=True,
            )
        base.close()
        cand.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
