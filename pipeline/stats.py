"""``stats.json``: rows in and out per stage, rejection reasons, the language matrix, verdicts,
dedup counts, timings, and the accounting that proves no row was lost.

The counts of rows that left the pipeline are read back from the published parquet files
(so they describe exactly what a user gets); the counts of rows that *entered* each stage come
from the ``ledger`` Beam counters that ``pipeline.run`` bumps before the stage. The
accounting check is

    source rows            = pairs + ready-made candidates (synthconl) + rejected at source
    translation requests
      + ready-made candidates = released rows + rejected after the source stage

and ``accounting.balanced`` says whether both hold.

``stage_rates`` adds, per stage, rows per second of the stage's busy time and CPU seconds per
released row (``pipeline.progress`` explains how CPU time is credited to stages).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipeline.sinks import list_files
from schemas import SCHEMA_VERSION, SPLITS

#: Stage order of the data flow (docs/design.md, "Data flow"); the rejected table's ``stage`` column.
STAGE_ORDER = ("source", "translate", "parse", "execute", "select", "dedup", "decontaminate")

LEDGER = "ledger"

#: Rows of the rate table: the ``pipeline.progress`` checkpoints whose CPU each one sums, and the
#: top-level step labels of ``pipeline.run``'s graph whose busy time is its own.
RATE_STAGES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "source": (
        ("source",),
        ("ReadSource", "CountPairs", "CountReady", "SourceProgress", "ReadyProgress"),
    ),
    "translate": (("translate",), ("CountRequests", "Translate", "TranslateProgress")),
    "parse": (("parse",), ("JoinReady", "ParseCheck", "ParseProgress")),
    "execute": (("execute",), ("Execute", "ExecuteProgress")),
    "select": (("select",), ("SelectBest", "SelectProgress", "ToReleaseRow")),
    "finalize": (("dedup", "decontaminate", "release"), ("DedupAndSplit", "DataProgress")),
}
#: Beam's per-step execution time (the SDK harness's state sampler: wall time a worker thread
#: spent inside the step's own code, downstream steps excluded).
STEP_MSECS = "beam:metric:ptransform_execution_time:total_msecs:v1"


@dataclasses.dataclass(frozen=True)
class StageCount:
    """Rows into and out of one stage (``stats.json`` ``stages[]``; ``in`` is a keyword here)."""

    stage: str
    rows_in: int
    rows_out: int
    rejected: int

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "in": self.rows_in,
            "out": self.rows_out,
            "rejected": self.rejected,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StageCount:
        return cls(d["stage"], d["in"], d["out"], d["rejected"])


@dataclasses.dataclass(frozen=True)
class Accounting:
    """The proof that no row was lost (see the module docstring)."""

    source_rows: int
    pairs: int
    ready_candidates: int
    rejected_at_source: int
    translation_requests: int
    released_rows: int
    rejected_after_source: int
    source_balanced: bool
    flow_balanced: bool
    balanced: bool


@dataclasses.dataclass(frozen=True)
class DedupCounts:
    exact_duplicate_rows: int = 0
    near_duplicate_rows: int = 0
    #: ``{"contaminated:<set>": rows}``
    contaminated_rows: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class SandboxInfo:
    requested: str | None = None
    backend: str | None = None
    warning: str | None = None


#: Run facts written by ``pipeline.run`` (absent, not null, in stats.json when not given).
_RUN_FIELDS = (
    "started_at",
    "finished_at",
    "wall_s",
    "runner",
    "translator",
    "target_languages",
    "config",
    "sandbox",
    "translation",
    "repair",
)


@dataclasses.dataclass(frozen=True)
class RunStats:
    """``stats.json`` as a typed record. ``to_json``/``from_json`` keep the file's format: the
    same keys in the same order, so readers of the JSON file see no difference. Fields a file
    lacks (an older or hand-made one) read as None / empty."""

    run_id: str | None = None
    schema_version: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    wall_s: float | None = None
    runner: str | None = None
    translator: str | None = None
    target_languages: list[str] | None = None
    #: the settings by flag name (``pipeline.options.RunConfig.flat``)
    config: dict[str, Any] | None = None
    sandbox: SandboxInfo | None = None
    #: translation throughput (``pipeline.translate.throughput_from_metrics``)
    translation: dict[str, Any] | None = None
    #: the repair loop's figures (``pipeline.repair.repair_stats``), with ``--repair_rounds``
    repair: dict[str, Any] | None = None
    released_rows: int | None = None
    rejected_rows: int | None = None
    splits: dict[str, int] = dataclasses.field(default_factory=dict)
    translators: dict[str, int] = dataclasses.field(default_factory=dict)
    licenses: dict[str, int] = dataclasses.field(default_factory=dict)
    repositories_per_split: dict[str, int] = dataclasses.field(default_factory=dict)
    stages: list[StageCount] = dataclasses.field(default_factory=list)
    #: ``{stage: {reason: rows}}``
    rejection_reasons: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    #: ``{source language: {target language: released rows}}``
    language_matrix: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    #: ``{target language: {exec_status or rejection reason: rows}}``
    verdicts: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    dedup: DedupCounts = dataclasses.field(default_factory=DedupCounts)
    #: per-stage throughput (``stage_rates``): rows/s, busy and CPU seconds, peak memory
    stage_rates: dict[str, Any] | None = None
    source_files: dict[str, int] = dataclasses.field(default_factory=dict)
    repo_corpus: dict[str, int] = dataclasses.field(default_factory=dict)
    accounting: Accounting | None = None
    #: ``{"counters": {ns/name: n}, "distributions": {ns/name: {...}}}``
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: keys of a file this version does not know, kept so a round trip loses nothing
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"run_id": self.run_id, "schema_version": self.schema_version}
        for name in _RUN_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = dataclasses.asdict(value) if name == "sandbox" else value
        out.update(
            {
                "released_rows": self.released_rows,
                "rejected_rows": self.rejected_rows,
                "splits": self.splits,
                "translators": self.translators,
                "licenses": self.licenses,
                "repositories_per_split": self.repositories_per_split,
                "stages": [s.to_json() for s in self.stages],
                "rejection_reasons": self.rejection_reasons,
                "language_matrix": self.language_matrix,
                "verdicts": self.verdicts,
                "dedup": dataclasses.asdict(self.dedup),
            }
        )
        if self.stage_rates is not None:
            out["stage_rates"] = self.stage_rates
        out.update(
            {
                "source_files": self.source_files,
                "repo_corpus": self.repo_corpus,
                "accounting": dataclasses.asdict(self.accounting) if self.accounting else None,
                "metrics": self.metrics,
            }
        )
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunStats:
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values: dict[str, Any] = {k: v for k, v in d.items() if k in known}
        if isinstance(values.get("sandbox"), dict):
            values["sandbox"] = SandboxInfo(**values["sandbox"])
        values["stages"] = [StageCount.from_json(s) for s in values.get("stages") or []]
        if isinstance(values.get("dedup"), dict):
            values["dedup"] = DedupCounts(**values["dedup"])
        else:
            values.pop("dedup", None)
        if isinstance(values.get("accounting"), dict):
            values["accounting"] = Accounting(**values["accounting"])
        for name in (
            "splits",
            "translators",
            "licenses",
            "repositories_per_split",
            "rejection_reasons",
            "language_matrix",
            "verdicts",
            "source_files",
            "repo_corpus",
            "metrics",
        ):
            if values.get(name) is None:
                values.pop(name, None)
        return cls(**values, extra={k: v for k, v in d.items() if k not in known})


def read_table_rows(directory: str, columns: list[str]) -> list[dict[str, Any]]:
    """All rows of the parquet files in ``directory`` (only ``columns``), or [] if none.

    Through Beam's FileSystems, so ``directory`` may be a local path or an object-store URL.
    """
    rows: list[dict[str, Any]] = []
    for path in list_files(str(directory), "*.parquet"):
        with FileSystems.open(path) as f:
            rows.extend(pq.read_table(f, columns=columns).to_pylist())
    return rows


def beam_metrics(result) -> dict[str, Any]:
    """Counters and distributions of a finished ``PipelineResult`` as plain dicts.

    Keys are ``namespace/name``; committed values where the runner has them, else attempted.
    """
    counters: dict[str, int] = collections.Counter()
    distributions: dict[str, dict[str, float]] = {}
    if result is None:
        return {"counters": {}, "distributions": {}}
    query = result.metrics().query()
    for c in query.get("counters", []):
        value = c.committed if c.committed is not None else c.attempted
        counters[f"{c.key.metric.namespace}/{c.key.metric.name}"] += int(value or 0)
    for d in query.get("distributions", []):
        value = d.committed if d.committed is not None else d.attempted
        if value is None or not value.count:
            continue
        distributions[f"{d.key.metric.namespace}/{d.key.metric.name}"] = {
            "count": value.count,
            "sum": value.sum,
            "min": value.min,
            "max": value.max,
            "mean": value.sum / value.count,
        }
    return {"counters": dict(sorted(counters.items())), "distributions": distributions}


def step_busy_ms(result) -> dict[str, int]:
    """Milliseconds each step of a finished pipeline spent in its own code, summed over workers.

    Empty where the runner reports no such monitoring metric.
    """
    try:
        query = result.monitoring_metrics().query()
    except Exception:  # noqa: BLE001 - not every runner's result has monitoring metrics
        return {}
    busy: dict[str, int] = collections.Counter()
    for c in query.get("counters", []):
        name = c.key.metric
        if f"{name.namespace}:{name.name}" != STEP_MSECS or not c.key.step:
            continue
        value = c.committed if c.committed is not None else c.attempted
        busy[c.key.step] += int(value or 0)
    return dict(busy)


def stage_rates(
    stages: list[dict[str, Any]],
    counters: dict[str, int],
    busy_ms: dict[str, int],
    released: int,
    usage: dict[str, Any],
) -> dict[str, Any]:
    """Per-stage throughput for ``stats.json`` and the summary.

    Per ``RATE_STAGES`` row: rows in and out, ``busy_s`` (Beam's per-step execution time of
    the stage's steps, summed over workers: with two workers it can exceed the wall time),
    ``rows_per_s`` (rows in per busy second), ``cpu_s`` (process CPU credited by the progress
    checkpoints, plus the sandboxes' own for execute) and ``cpu_s_per_released_row``. A last
    row ``other`` holds what no stage was credited with (start-up, sinks, shuffles).

    ``usage``: ``wall_s`` and ``process_cpu_s`` (the launcher and every process it reaped,
    workers included) of the run.
    """
    by_name = {s["stage"]: s for s in stages}
    flow = {
        "source": (by_name["source"]["in"], by_name["source"]["out"]),
        "translate": (by_name["translate"]["in"], by_name["translate"]["out"]),
        "parse": (by_name["parse"]["in"], by_name["parse"]["out"]),
        "execute": (by_name["execute"]["in"], by_name["execute"]["out"]),
        "select": (by_name["select"]["in"], by_name["select"]["out"]),
        "finalize": (by_name["dedup"]["in"], by_name["decontaminate"]["out"]),
    }
    sandbox_cpu_s = counters.get("execute/sandbox_cpu_us", 0) / 1e6
    rows = []
    for stage, (credits, labels) in RATE_STAGES.items():
        busy = sum(ms for step, ms in busy_ms.items() if step.split("/")[0] in labels) / 1000
        cpu = sum(counters.get(f"progress/{c}_cpu_us", 0) for c in credits) / 1e6
        if stage == "execute":
            cpu += sandbox_cpu_s
        rows_in, rows_out = flow[stage]
        rows.append(
            {
                "stage": stage,
                "in": rows_in,
                "out": rows_out,
                "busy_s": round(busy, 2) if busy_ms else None,
                "rows_per_s": round(rows_in / busy, 2) if busy_ms and busy > 0 else None,
                "cpu_s": round(cpu, 2),
                "cpu_s_per_released_row": round(cpu / released, 4) if released else None,
            }
        )
    total_cpu = usage.get("process_cpu_s", 0.0) + sandbox_cpu_s
    other = max(0.0, total_cpu - sum(r["cpu_s"] for r in rows))
    rows.append(
        {
            "stage": "other",
            "in": None,
            "out": None,
            "busy_s": None,
            "rows_per_s": None,
            "cpu_s": round(other, 2),
            "cpu_s_per_released_row": round(other / released, 4) if released else None,
        }
    )
    wall = usage.get("wall_s") or 0.0
    return {
        "stages": rows,
        "wall_s": round(wall, 2),
        "cpu_s": round(total_cpu, 2),
        "process_cpu_s": round(usage.get("process_cpu_s", 0.0), 2),
        "sandbox_cpu_s": round(sandbox_cpu_s, 2),
        "cpu_s_per_released_row": round(total_cpu / released, 4) if released else None,
        "released_rows_per_s": round(released / wall, 3) if wall else None,
        "peak_rss_mb": usage.get("peak_rss_mb"),
    }


def compute_stats(
    data_dir: str,
    rejected_dir: str,
    metrics: dict[str, Any],
    run_info: dict[str, Any],
    busy_ms: dict[str, int] | None = None,
    usage: dict[str, Any] | None = None,
) -> RunStats:
    """Build the run's statistics from the published files, the metrics and run info.

    ``busy_ms``: ``step_busy_ms`` of the run; ``usage``: its wall and process CPU time (see
    ``stage_rates``).
    """
    released = read_table_rows(
        data_dir,
        [
            "split",
            "language1_CSN",
            "language2",
            "exec_status",
            "pair_id",
            "repository_name",
            "translator",
            "prompt_version",
            "license",
        ],
    )
    rejected = read_table_rows(rejected_dir, ["stage", "reason", "language", "target_language"])
    counters = metrics.get("counters", {})

    splits = {s: 0 for s in SPLITS}
    matrix: dict[str, dict[str, int]] = collections.defaultdict(
        lambda: collections.defaultdict(int)
    )
    verdicts: dict[str, dict[str, int]] = collections.defaultdict(
        lambda: collections.defaultdict(int)
    )
    for row in released:
        splits[row["split"]] = splits.get(row["split"], 0) + 1
        matrix[row["language1_CSN"]][row["language2"]] += 1
        verdicts[row["language2"]][row["exec_status"]] += 1

    reasons: dict[str, dict[str, int]] = collections.defaultdict(
        lambda: collections.defaultdict(int)
    )
    rejected_by_stage: dict[str, int] = collections.Counter()
    for row in rejected:
        reasons[row["stage"]][row["reason"]] += 1
        rejected_by_stage[row["stage"]] += 1
        if row["stage"] in ("execute", "select") and row["target_language"]:
            verdicts[row["target_language"]][row["reason"]] += 1

    source_rows = counters.get(f"{LEDGER}/source_rows", 0)
    pairs = counters.get(f"{LEDGER}/pairs", 0)
    ready = counters.get(f"{LEDGER}/ready_candidates", 0)
    requests = counters.get(f"{LEDGER}/translation_requests", 0)
    after_source = sum(n for stage, n in rejected_by_stage.items() if stage != "source")

    # Rows flow stage to stage: what a stage did not reject goes on to the next one. The
    # ready-made (synthconl) candidates skip translation and join at the parse check.
    stages = [StageCount("source", source_rows, pairs + ready, rejected_by_stage.get("source", 0))]
    flowing = requests
    for stage in STAGE_ORDER[1:]:
        n_rej = rejected_by_stage.get(stage, 0)
        out = flowing - n_rej + (ready if stage == "translate" else 0)
        stages.append(StageCount(stage, flowing, out, n_rej))
        flowing = out
    source_ok = source_rows == pairs + ready + rejected_by_stage.get("source", 0)
    flow_ok = requests + ready == len(released) + after_source

    run = {k: v for k, v in run_info.items() if k != "run_id"}
    unknown = sorted(set(run) - set(_RUN_FIELDS))
    if unknown:
        raise ValueError(f"unknown run facts {unknown}: add them to RunStats")
    if isinstance(run.get("sandbox"), dict):
        run["sandbox"] = SandboxInfo(**run["sandbox"])
    return RunStats(
        run_id=run_info.get("run_id"),
        schema_version=SCHEMA_VERSION,
        **run,
        released_rows=len(released),
        rejected_rows=len(rejected),
        splits=splits,
        translators=dict(
            collections.Counter(
                f"{r['translator']} (prompt {r['prompt_version']})" for r in released
            )
        ),
        licenses=dict(collections.Counter(r["license"] or "unknown" for r in released)),
        repositories_per_split={
            s: len({r["repository_name"] for r in released if r["split"] == s}) for s in SPLITS
        },
        stages=stages,
        rejection_reasons={s: dict(sorted(r.items())) for s, r in sorted(reasons.items())},
        language_matrix={s: dict(sorted(t.items())) for s, t in sorted(matrix.items())},
        verdicts={t: dict(sorted(v.items())) for t, v in sorted(verdicts.items())},
        dedup=DedupCounts(
            exact_duplicate_rows=reasons.get("dedup", {}).get("exact_duplicate", 0),
            near_duplicate_rows=reasons.get("dedup", {}).get("near_duplicate", 0),
            contaminated_rows=dict(reasons.get("decontaminate", {})),
        ),
        stage_rates=stage_rates(
            [s.to_json() for s in stages], counters, busy_ms or {}, len(released), usage or {}
        ),
        source_files=_prefixed(counters, "source/", ("repositories", "files_", "filtered_")),
        repo_corpus=_prefixed(counters, "repo_corpus/", ("",)),
        accounting=Accounting(
            source_rows=source_rows,
            pairs=pairs,
            ready_candidates=ready,
            rejected_at_source=rejected_by_stage.get("source", 0),
            translation_requests=requests,
            released_rows=len(released),
            rejected_after_source=after_source,
            source_balanced=source_ok,
            flow_balanced=flow_ok,
            balanced=source_ok and flow_ok,
        ),
        metrics=metrics,
    )


def _prefixed(
    counters: dict[str, int], namespace: str, prefixes: tuple[str, ...]
) -> dict[str, int]:
    """Counters of ``namespace`` whose names start with one of ``prefixes``, without the namespace.

    ``source_files`` gathers what a ``repo:`` source did with files and functions (read,
    skipped by reason, filtered out by CodeSearchNet's rules), none of which are rows;
    ``repo_corpus`` the repository corpus's counts. Both are empty for other sources.
    """
    out = {}
    for key, n in sorted(counters.items()):
        if key.startswith(namespace):
            name = key[len(namespace) :]
            if name.startswith(prefixes):
                out[name] = n
    return out
