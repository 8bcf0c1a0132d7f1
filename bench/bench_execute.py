"""Execution validation on a real source: the verdict table per target language and its cost.

Reads a source (``sample``, ``humaneval``, ``synthconl:PATH`` ...) with ``pipeline.sources``,
translates with ``pipeline.translate`` (``py2many`` on a CPU host), parse-checks with
``pipeline.parse_check`` and runs every translation through ``pipeline.execute.Validator`` on
a real sandbox, in batches as the pipeline does. Prints

1. the verdict table: per target language, how many translations ended in each status, and
   the mean wall time per verdict (source validation, harness rendering, compile and run);
2. the bench rows (">1 = faster"): cold validation against a re-run answered by the verdict
   cache (docs/design.md, "Running and outputs": a re-run does not redo sandbox verdicts), median of
   ``--repeats`` re-runs.

    .venv/bin/python bench/bench_execute.py --source=sample [--targets=cpp,go,rust] [--limit=N]
    .venv/bin/python bench/bench_execute.py --source=humaneval --sandbox=bwrap
"""

from __future__ import annotations

import argparse
import collections
import os
import pickle
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.execute import ExecuteConfig, Validator  # noqa: E402
from pipeline.verdict_cache import VerdictCache  # noqa: E402
from schemas import Candidate, SourcePair, Translation, Verdict  # noqa: E402

STATUSES = (
    "passed",
    "failed",
    "no_tests",
    "compile_error",
    "runtime_error",
    "timeout",
    "memory_exceeded",
    "output_exceeded",
    "sandbox_error",
)


def candidates(
    source: str, targets: tuple[str, ...], translator: str, limit: int, cache_dir: str
) -> tuple[list[Candidate], collections.Counter]:
    """Parsed candidates from the source; the counter says what fell out before execution."""
    from pipeline.parse_check import ParseChecker
    from pipeline.sources.spec import read_source
    from pipeline.translate import TranslateConfig, make_translator, requests_for

    pairs: list[SourcePair] = []
    ready: list[Candidate] = []
    for record in read_source(source):
        if isinstance(record, SourcePair):
            pairs.append(record)
        elif isinstance(record, Candidate):
            ready.append(record)
    pairs, ready = pairs[:limit], ready[:limit]
    lost: collections.Counter = collections.Counter()
    out: list[Candidate] = list(ready)
    if pairs:
        config = TranslateConfig(
            translator=translator, target_languages=targets, cache_dir=cache_dir
        )
        engine = make_translator(config)
        by_id = {p.pair_id: p for p in pairs}
        requests = [r for p in pairs for r in requests_for(p, config)]
        for i in range(0, len(requests), 32):
            for result in engine.translate(requests[i : i + 32]):
                if isinstance(result, Translation):
                    out.append(Candidate(by_id[result.pair_id], result))
                else:
                    lost[f"{result.request.target_language}:translate_{result.reason}"] += 1
    checker = ParseChecker()
    parsed: list[Candidate] = []
    for c in out:
        ok, err = checker.check(c.translation.target_language, c.translation.code)
        t = c.translation
        if ok:
            parsed.append(
                Candidate(
                    c.pair, t, Verdict(t.pair_id, t.target_language, t.attempt, parse_ok=True)
                )
            )
        else:
            lost[f"{t.target_language}:parse_error"] += 1
    return parsed, lost


def run(validator: Validator, cands: list[Candidate], batch: int) -> tuple[list[Candidate], float]:
    started = time.perf_counter()
    out: list[Candidate] = []
    for i in range(0, len(cands), batch):
        out += validator.check(cands[i : i + batch])
    return out, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default="sample")
    ap.add_argument("--targets", default="cpp,go,rust,java,javascript,php,ruby,c,python")
    ap.add_argument("--translator", default="auto")
    ap.add_argument("--sandbox", default="bwrap", choices=("auto", "docker", "bwrap"))
    ap.add_argument("--limit", type=int, default=10_000, help="at most this many source pairs")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--work",
        default=None,
        help="keep translation and verdict caches here (default: a new temp dir)",
    )
    args = ap.parse_args(argv)

    from sandboxes import open_sandbox

    work = args.work or tempfile.mkdtemp(prefix="bench_execute_")
    verdict_dir = os.path.join(work, f"verdicts-{time.time_ns()}")  # always a cold start
    saved = (
        Path(work)
        / f"candidates-{args.source.replace(':', '_').replace('/', '_')}-{args.limit}.pkl"
    )
    if saved.exists():  # translation is not what this bench measures: reuse it across runs
        cands, lost = pickle.loads(saved.read_bytes())
    else:
        cands, lost = candidates(
            args.source,
            tuple(args.targets.split(",")),
            args.translator,
            args.limit,
            os.path.join(work, "translations"),
        )
        saved.write_bytes(pickle.dumps((cands, lost)))
    sandbox = open_sandbox(args.sandbox)
    config = ExecuteConfig(sandbox=sandbox.name, cache_dir=verdict_dir)
    languages = sorted({c.translation.target_language for c in cands})
    warm = Validator(config, sandbox, VerdictCache(None))
    for lang in ["python", *languages]:  # self-tests once, outside the timed region
        warm.toolchain(lang)
    cold = Validator(config, sandbox, VerdictCache(config.cache_dir))
    cold._toolchains, cold._versions = warm._toolchains, warm._versions
    checked, cold_s = run(cold, cands, args.batch)

    table: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    wall: dict[str, list[float]] = collections.defaultdict(list)
    for c in checked:
        lang = c.translation.target_language
        table[lang][str(c.verdict.exec_status)] += 1
        wall[lang].append(c.verdict.wall_s)
    print(
        f"# verdicts: source={args.source} translator={args.translator} sandbox={sandbox.name} "
        f"pairs->candidates={len(cands)} cold wall {cold_s:.1f} s ({cold_s / max(1, len(cands)):.2f} s/verdict)"
    )
    print(
        f"# invalid_test (source cases the source fails): {cold.counts.get('invalid_test', 0)}; "
        f"unrenderable: {cold.counts.get('unrenderable', 0)}; "
        f"tests_unavailable (pairs): {cold.counts.get('tests_unavailable', 0)}; retried runs: "
        f"{cold.counts.get('source_retries', 0)} source validations, {cold.counts.get('timeout_retries', 0)} timeouts"
    )
    cols = [s for s in STATUSES if any(table[lang][s] for lang in table)]
    print("target | " + " | ".join(cols) + " | total | with cases | mean sandbox wall_s")
    for lang in languages:
        with_tests = sum(
            1 for c in checked if c.translation.target_language == lang and c.verdict.tests_total
        )
        print(
            f"{lang} | "
            + " | ".join(str(table[lang][s]) for s in cols)
            + f" | {sum(table[lang].values())} | {with_tests} | {statistics.mean(wall[lang]):.3f}"
        )
    if lost:
        print("# lost before execution: " + ", ".join(f"{k} {v}" for k, v in sorted(lost.items())))

    times = []
    for _ in range(args.repeats):
        again = Validator(config, sandbox, VerdictCache(config.cache_dir))
        again._toolchains, again._versions = warm._toolchains, warm._versions
        again_out, again_s = run(again, cands, args.batch)
        assert [c.verdict for c in again_out] == [c.verdict for c in checked], (
            "cached verdicts differ"
        )
        times.append(again_s)
    sandbox.close()
    cached_s = statistics.median(times)
    import apache_beam

    print()
    print(
        f"# >1 = faster. device: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus shared; "
        f"python {platform.python_version()}, apache-beam {apache_beam.__version__}; sandbox {sandbox.name}"
    )
    print("case | baseline | candidate | ratio | n")
    n = max(1, len(cands))
    print(
        f"verdicts/s: cold run vs cached re-run | {n / cold_s:.2f} | {n / cached_s:.1f} | {cold_s / cached_s:.1f} | {len(cands)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
