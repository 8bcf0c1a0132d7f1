"""``python -m pipeline.run``: the whole dataset pipeline as one Beam graph (docs/design.md, "Data flow").

    sources -> translate -> parse check -> sandbox run/tests -> best attempt
            -> dedup + decontamination -> repository splits -> parquet, stats.json, card

With no flags it runs the bundled sample on this machine with the DirectRunner and writes
``./out``. Every input row ends in ``out/data`` or ``out/rejected`` (with stage and reason),
and ``stats.json`` proves the sum. A re-run over the same output directory resumes from the
translation and verdict caches in ``out/cache``; outputs are published atomically at the end.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    StandardOptions,
)

from pipeline.options import RunConfig, run_config_from_options
from pipeline.progress import LogProgress, forward_worker_progress, process_cpu_s
from pipeline.sinks import (
    OutputLayout,
    WriteRejected,
    WriteRelease,
    WriteRows,
    clean_stale_staging,
    make_dirs,
    new_run_id,
    publish,
    write_json_atomic,
    write_text_atomic,
)
from pipeline.stats import LEDGER, RunStats, beam_metrics, compute_stats, step_busy_ms

LOG = logging.getLogger("pipeline.run")


def _count(name: str):
    """A pass-through step that bumps the ``ledger/<name>`` counter (for the accounting)."""
    counter = beam.metrics.Metrics.counter(LEDGER, name)

    def bump(element):
        counter.inc()
        return element

    return beam.Map(bump)


def _count_requests(config):
    """Bump ``ledger/translation_requests`` by the number of translations a pair asks for.

    Counted here, outside the Translate stage, so the accounting in ``stats.json`` checks the
    stage's outputs against an independent count instead of the stage's own.
    """
    from pipeline.translate import targets_for

    counter = beam.metrics.Metrics.counter(LEDGER, "translation_requests")

    def bump(pair):
        counter.inc(len(targets_for(pair, config)) * config.num_samples)
        return pair

    return beam.Map(bump)


def build_pipeline(
    p: beam.Pipeline, cfg: RunConfig, staging: OutputLayout, configs: dict[str, Any]
) -> None:
    """Add the whole graph to ``p`` (stage configs from ``stage_configs``); outputs go under ``staging``."""
    # Stage modules are imported here so `--help` and option errors stay fast.
    from pipeline.execute import Execute, SelectBestAttempt
    from pipeline.finalize import DedupAndSplit
    from pipeline.parse_check import ParseCheck
    from pipeline.sources import ReadSource
    from pipeline.translate import Translate

    src = p | "ReadSource" >> ReadSource(cfg.source, configs["source"])
    pairs = (
        src["pairs"] | "CountPairs" >> _count("pairs") | "SourceProgress" >> LogProgress("source")
    )
    ready = (
        src["candidates"]
        | "CountReady" >> _count("ready_candidates")
        | "ReadyProgress" >> LogProgress("source")
    )

    translated = (
        pairs
        | "CountRequests" >> _count_requests(configs["translate"])
        | "Translate" >> Translate(configs["translate"])
    )
    to_parse = (
        translated["candidates"] | "TranslateProgress" >> LogProgress("translate"),
        ready,
    ) | "JoinReady" >> beam.Flatten()
    parsed = to_parse | "ParseCheck" >> ParseCheck()
    executed = (
        parsed["candidates"]
        | "ParseProgress" >> LogProgress("parse")
        | "Execute" >> Execute(configs["execute"])
    )
    accepted = executed["candidates"]
    rejected = (translated["rejected"], parsed["rejected"], executed["rejected"])
    if configs["repair"].rounds:  # rejected translations go back to the model (pipeline/repair.py)
        from pipeline.repair import RepairLoop

        first = {"accepted": accepted, "rejected": rejected | "JoinFirstRejected" >> beam.Flatten()}
        repaired = first | "Repair" >> RepairLoop(
            configs["repair"], configs["translate"], configs["execute"]
        )
        accepted, rejected = repaired["candidates"], (repaired["rejected"],)
    best = (
        accepted | "ExecuteProgress" >> LogProgress("execute") | "SelectBest" >> SelectBestAttempt()
    )
    release_rows = (
        best["candidates"]
        | "SelectProgress" >> LogProgress("select")
        | "ToReleaseRow" >> beam.Map(lambda c: c.to_release_row().to_row())
    )
    final = release_rows | "DedupAndSplit" >> DedupAndSplit(configs["finalize"])

    (
        final["rows"]
        | "DataProgress" >> LogProgress("release")
        | "WriteRelease" >> WriteRelease(staging, cfg.num_shards)
    )
    (
        (
            src["rejected"],
            *rejected,
            best["rejected"],
            final["rejected"],
        )
        | "FlattenRejected" >> beam.Flatten()
        | "RejectedProgress" >> LogProgress("rejected", by_rejected_stage=True)
        | "WriteRejected" >> WriteRejected(staging)
    )
    if cfg.emit_repo_corpus:
        from pipeline.sources.corpus import ReadRepoCorpus
        from schemas import REPO_FILE_SCHEMA

        (
            p
            | "RepoCorpus" >> ReadRepoCorpus(cfg.source, configs["corpus"])
            | "WriteRepoCorpus"
            >> WriteRows(
                FileSystems.join(staging.repo_corpus, "part"), REPO_FILE_SCHEMA, cfg.num_shards
            )
        )


def stage_configs(cfg: RunConfig, sandbox_backend: str) -> dict[str, Any]:
    """Each stage's config with what is resolved at launch: the sandbox backend, the translator
    (``auto`` resolved once here so every worker agrees), the cache directories."""
    from pipeline.translate.py2many import TARGETS as PY2MANY_TARGETS
    from pipeline.translate.transform import resolve_translator

    translate = dataclasses.replace(
        cfg.translate, cache_dir=os.path.join(cfg.cache_dir, "translations")
    )
    backend = resolve_translator(translate)
    # A rule-based translator is asked only for the targets it has (else every other target is
    # a guaranteed rejection).
    translate = dataclasses.replace(translate, translator=backend)
    if cfg.targets_were_auto and backend == "py2many":
        translate = dataclasses.replace(translate, target_languages=tuple(PY2MANY_TARGETS))
    return {
        "source": cfg.sources,
        "corpus": cfg.corpus,
        "translate": translate,
        "repair": cfg.repair,
        "execute": dataclasses.replace(
            cfg.execute, sandbox=sandbox_backend, cache_dir=os.path.join(cfg.cache_dir, "verdicts")
        ),
        "finalize": cfg.finalize,
    }


def detect_sandbox(choice: str) -> tuple[str, str | None]:
    """Resolve ``--sandbox`` to a concrete backend once, for every worker to agree on.

    ``auto`` takes Docker when a daemon answers, else bubblewrap, else ``none`` with a loud
    warning (docs/design.md, "Running and outputs"). Returns (backend, warning or None).
    """
    if choice == "none":
        return "none", "sandbox disabled (--sandbox=none): translations are parse-checked only"
    from sandboxes import open_sandbox

    candidates = ("docker", "bwrap") if choice == "auto" else (choice,)
    errors = []
    for backend in candidates:
        try:
            sandbox = open_sandbox(backend)
            sandbox.close()
            return backend, None
        except Exception as exc:  # report why each backend was unusable
            errors.append(f"{backend}: {exc}")
    if choice != "auto":
        raise ValueError(f"--sandbox={choice} is not usable here: {'; '.join(errors)}")
    return "none", "NO SANDBOX AVAILABLE (" + "; ".join(
        errors
    ) + "): translations were parse-checked only, not run"


def print_summary(stats: RunStats | dict[str, Any], out=sys.stderr) -> None:
    """A short end-of-run table: rows per stage, accepted translations per language (from the
    run's ``RunStats`` or a ``stats.json`` read back)."""
    from rich.console import Console
    from rich.table import Table

    if not isinstance(stats, RunStats):
        stats = RunStats.from_json(stats)

    console = Console(file=out, width=110)
    table = Table(title=f"run {stats.run_id} ({stats.wall_s or 0:.1f} s)")
    for col in ("stage", "in", "out", "rejected", "top reasons"):
        table.add_column(col, justify="right" if col in ("in", "out", "rejected") else "left")
    for stage in stats.stages:
        reasons = stats.rejection_reasons.get(stage.stage, {})
        top = ", ".join(f"{r} {n}" for r, n in sorted(reasons.items(), key=lambda x: -x[1])[:3])
        table.add_row(
            stage.stage, str(stage.rows_in), str(stage.rows_out), str(stage.rejected), top
        )
    console.print(table)
    rates = stats.stage_rates
    if rates:
        console.print(rate_table(rates))
    langs = Table(title="released rows per target language")
    langs.add_column("target")
    langs.add_column("rows", justify="right")
    langs.add_column("verdicts")
    per_target: dict[str, int] = {}
    for targets in stats.language_matrix.values():
        for t, n in targets.items():
            per_target[t] = per_target.get(t, 0) + n
    for t, n in sorted(per_target.items()):
        v = stats.verdicts.get(t, {})
        langs.add_row(t, str(n), ", ".join(f"{k} {c}" for k, c in sorted(v.items())))
    console.print(langs)
    acc = stats.accounting
    console.print(
        f"splits {stats.splits}  |  accounting balanced: {acc.balanced} "
        f"(source rows {acc.source_rows}, requests {acc.translation_requests}, "
        f"released {acc.released_rows}, rejected {stats.rejected_rows})"
    )
    files = stats.source_files
    if files:
        skipped = {
            k[len("files_skipped_") :]: n
            for k, n in files.items()
            if k.startswith("files_skipped_")
        }
        filtered = {k[len("filtered_") :]: n for k, n in files.items() if k.startswith("filtered_")}
        console.print(
            f"repositories {files.get('repositories', 0)}  |  files read {files.get('files_read', 0)}, "
            f"skipped {_top(skipped)}  |  functions filtered out {_top(filtered)}"
        )
    corpus = stats.repo_corpus
    if corpus:
        console.print(
            f"repo corpus: {corpus.get('files_written', 0)} files, {corpus.get('bytes_written', 0) / 1e6:.1f} MB "
            f"from {corpus.get('repositories', 0)} repositories"
        )
    from pipeline.repair import summary_line

    line = summary_line(stats.to_json())
    if line:
        console.print(line)
    if stats.sandbox and stats.sandbox.warning:
        console.print(f"[bold red]WARNING: {stats.sandbox.warning}[/]")


def rate_table(rates: dict[str, Any]):
    """The ``stage_rates`` of ``stats.json`` as a table (the run summary's second one)."""
    from rich.table import Table

    def num(value, fmt):
        return "" if value is None else format(value, fmt)

    rss = rates.get("peak_rss_mb") or {}
    table = Table(
        title=(
            f"throughput: {rates['cpu_s']:.1f} CPU-s ({rates['process_cpu_s']:.1f} processes + "
            f"{rates['sandbox_cpu_s']:.1f} containers), {num(rates['cpu_s_per_released_row'], '.3f')} "
            f"CPU-s per released row; peak RSS {num(rss.get('launcher'), '.0f')} MB launcher, "
            f"{num(rss.get('largest_child'), '.0f')} MB largest worker"
        )
    )
    for col in ("stage", "in", "out", "busy s", "rows/s", "CPU s", "CPU s/released row"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for r in rates["stages"]:
        table.add_row(
            r["stage"],
            num(r["in"], "d"),
            num(r["out"], "d"),
            num(r["busy_s"], ".1f"),
            num(r["rows_per_s"], ".2f"),
            num(r["cpu_s"], ".1f"),
            num(r["cpu_s_per_released_row"], ".4f"),
        )
    return table


def _usage(wall_s: float, cpu_s: float) -> dict[str, Any]:
    """Wall and CPU time of the run (this process and every process it reaped: the
    multi-processing DirectRunner's workers and their children) and peak RSS: this process's,
    and the largest of its reaped children's (RSS of processes that ran at the same time adds
    up; ``bench/volume_run.py`` samples the sum)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "wall_s": wall_s,
        "process_cpu_s": cpu_s,
        "peak_rss_mb": {"launcher": round(own, 1), "largest_child": round(kids, 1)},
    }


def _top(counts: dict[str, int], k: int = 4) -> str:
    items = sorted(counts.items(), key=lambda x: -x[1])
    return (
        ", ".join(f"{name} {n}" for name, n in items[:k]) + (" ..." if len(items) > k else "")
        or "none"
    )


def print_help() -> None:
    """Our flags, grouped by stage (Beam's own runner flags are documented by Beam)."""
    from pipeline.options import help_parser

    help_parser().print_help()


def compact_shared_caches(configs: dict[str, Any]) -> None:
    """Merge the shards of caches kept on a shared filesystem (``--cache_dir=s3://...``) before
    the workers start, so each reads one object per cache instead of one per earlier batch."""
    from pipeline.cache_store import compact, is_shared

    for location in (configs["translate"].cache_dir, configs["execute"].cache_dir):
        if is_shared(location):
            compact(location)  # logs what it merged


def write_template(
    options: PipelineOptions,
    cfg: RunConfig,
    staging: OutputLayout,
    configs: dict[str, Any],
    template: str,
) -> int:
    """``--template_location``: build the graph and let the runner (Dataflow) write the job
    spec there instead of running it.

    Nothing is read from or written to the output here. A job started from the template
    writes its shards into ``OUTPUT/.staging/<run id>/``: publishing them and writing
    ``stats.json`` and the card are the launcher's steps after the job, which a template
    launch does not have.
    """
    from pipeline.sources import SourceError

    try:
        p = beam.Pipeline(options=options)
        build_pipeline(p, cfg, staging, configs)
        p.run()
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    LOG.info(
        "job spec written to %s; a job started from it writes to %s (unpublished)",
        template,
        staging.root,
    )
    return 0


def translator_config_error(exc: BaseException) -> str | None:
    """The one-line message of a ``TranslatorConfigError`` behind a failed run, or None.

    Beam re-raises a DoFn's exception with the step name added (in-process runners), or as a
    RuntimeError carrying the worker's traceback text (multi-process runners); both are read.
    """
    from pipeline.translate import TranslatorConfigError

    seen = exc
    while seen is not None:
        if isinstance(seen, TranslatorConfigError):
            return str(seen).split("\n")[0].split(" [while running")[0]
        seen = seen.__cause__ or seen.__context__
    marker = "TranslatorConfigError: "
    text = str(exc)
    if marker in text:
        return text[text.rindex(marker) + len(marker) :].split("\n")[0].split(" [while running")[0]
    return None


def main(argv: list[str] | None = None) -> int:
    # force: importing Beam already logged a warning, which installed a WARNING-level handler.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for noisy in (
        "apache_beam",
        "urllib3",
        "docker",
        "httpx",
        "httpx2",
        "openai",
    ):  # httpx logs every request
        logging.getLogger(noisy).setLevel(logging.WARNING)
    forward_worker_progress()
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        print_help()
        return 0
    from pipeline.options import unknown_flags

    unknown = unknown_flags(argv)  # Beam would only log "Discarding unparseable args" and go on
    if unknown:
        print(f"error: {unknown}", file=sys.stderr)
        return 2
    options = PipelineOptions(argv)
    # The launcher's own reads and writes (source listing, caches, publishing) use the same
    # filesystem options as the workers (--s3_endpoint_url and the like).
    FileSystems.set_options(options)
    from pipeline.translate import TranslatorConfigError, preflight

    try:
        cfg = run_config_from_options(options)
        sandbox_backend, sandbox_warning = detect_sandbox(cfg.sandbox)
        configs = stage_configs(cfg, sandbox_backend)
        preflight(configs["translate"])  # a wrong key, endpoint or model stops here
    except (ValueError, ImportError, TranslatorConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if sandbox_warning:
        LOG.warning(sandbox_warning)
    if not options.view_as(StandardOptions).runner:
        options.view_as(StandardOptions).runner = "DirectRunner"

    template = options.view_as(GoogleCloudOptions).template_location
    final = OutputLayout(cfg.output)
    run_id = new_run_id()
    staging = final.staging(run_id)
    if template:
        return write_template(options, cfg, staging, configs, template)
    make_dirs(final.root)
    clean_stale_staging(final)
    compact_shared_caches(configs)
    started = time.time()
    cpu_started = process_cpu_s()
    LOG.info(
        "run %s: source=%s targets=%s sandbox=%s output=%s",
        run_id,
        cfg.source,
        ",".join(cfg.target_languages),
        sandbox_backend,
        final.root,
    )

    from pipeline.sources import SourceError

    try:
        p = beam.Pipeline(options=options)
        build_pipeline(p, cfg, staging, configs)
        result = p.run()
        result.wait_until_finish()
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        problem = translator_config_error(exc)
        if problem is None:
            raise
        print(f"error: {problem}", file=sys.stderr)  # nothing of the failing batch was cached
        return 2
    publish(staging, final, extra=("repo_corpus",) if cfg.emit_repo_corpus else ())
    finished = time.time()
    usage = _usage(finished - started, process_cpu_s() - cpu_started)
    metrics = beam_metrics(result)
    metrics["counters"].setdefault(
        f"{LEDGER}/source_rows", metrics["counters"].get("source/total", 0)
    )
    run_info = {
        "run_id": run_id,
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(),
        "finished_at": datetime.fromtimestamp(finished, UTC).isoformat(),
        "wall_s": round(finished - started, 2),
        "runner": str(options.view_as(StandardOptions).runner),
        "translator": configs["translate"].translator,
        "target_languages": list(configs["translate"].target_languages),
        "config": cfg.flat(),
        "sandbox": {
            "requested": cfg.sandbox,
            "backend": sandbox_backend,
            "warning": sandbox_warning,
        },
    }
    from pipeline.translate import throughput_from_metrics

    run_info["translation"] = throughput_from_metrics(metrics)
    if cfg.repair_rounds:
        from pipeline.repair import CONVERSATIONAL, repair_stats

        if configs["translate"].translator in CONVERSATIONAL:
            run_info["repair"] = repair_stats(metrics, cfg.repair_rounds)
        else:  # the rounds were skipped (logged once when the graph was built)
            run_info["repair"] = {
                "rounds": 0,
                "requested_rounds": cfg.repair_rounds,
                "skipped": f"the {configs['translate'].translator} translator holds no conversation",
            }
    stats = compute_stats(
        final.data, final.rejected, metrics, run_info, step_busy_ms(result), usage
    )
    write_json_atomic(final.stats, stats.to_json())
    from pipeline.card import render_card

    write_text_atomic(final.card, render_card(final, stats))
    print_summary(stats)
    if not stats.accounting.balanced:
        LOG.error("accounting does not balance: %s", stats.accounting)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
