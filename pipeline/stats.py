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
"""

from __future__ import annotations

import collections
from typing import Any

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipeline.sinks import list_files
from schemas import SCHEMA_VERSION, SPLITS

#: Stage order of the data flow (DESIGN.md section 2); the rejected table's ``stage`` column.
STAGE_ORDER = ("source", "translate", "parse", "execute", "select", "dedup", "decontaminate")

LEDGER = "ledger"


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


def compute_stats(
    data_dir: str,
    rejected_dir: str,
    metrics: dict[str, Any],
    run_info: dict[str, Any],
) -> dict[str, Any]:
    """Build the ``stats.json`` dict from the published files, the metrics and run info."""
    released = read_table_rows(
        data_dir,
        ["split", "language1_CSN", "language2", "exec_status", "pair_id", "repository_name", "translator", "prompt_version", "license"],
    )
    rejected = read_table_rows(rejected_dir, ["stage", "reason", "language", "target_language"])
    counters = metrics.get("counters", {})

    splits = {s: 0 for s in SPLITS}
    matrix: dict[str, dict[str, int]] = collections.defaultdict(lambda: collections.defaultdict(int))
    verdicts: dict[str, dict[str, int]] = collections.defaultdict(lambda: collections.defaultdict(int))
    for row in released:
        splits[row["split"]] = splits.get(row["split"], 0) + 1
        matrix[row["language1_CSN"]][row["language2"]] += 1
        verdicts[row["language2"]][row["exec_status"]] += 1

    reasons: dict[str, dict[str, int]] = collections.defaultdict(lambda: collections.defaultdict(int))
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
    stages = [{"stage": "source", "in": source_rows, "out": pairs + ready,
               "rejected": rejected_by_stage.get("source", 0)}]
    flowing = requests
    for stage in STAGE_ORDER[1:]:
        n_rej = rejected_by_stage.get(stage, 0)
        out = flowing - n_rej + (ready if stage == "translate" else 0)
        stages.append({"stage": stage, "in": flowing, "out": out, "rejected": n_rej})
        flowing = out
    source_ok = source_rows == pairs + ready + rejected_by_stage.get("source", 0)
    flow_ok = requests + ready == len(released) + after_source

    dedup = {
        "exact_duplicate_rows": reasons.get("dedup", {}).get("exact_duplicate", 0),
        "near_duplicate_rows": reasons.get("dedup", {}).get("near_duplicate", 0),
        "contaminated_rows": dict(reasons.get("decontaminate", {})),
    }
    return {
        "run_id": run_info.get("run_id"),
        "schema_version": SCHEMA_VERSION,
        **{k: v for k, v in run_info.items() if k != "run_id"},
        "released_rows": len(released),
        "rejected_rows": len(rejected),
        "splits": splits,
        "translators": dict(collections.Counter(f"{r['translator']} (prompt {r['prompt_version']})" for r in released)),
        "licenses": dict(collections.Counter(r["license"] or "unknown" for r in released)),
        "repositories_per_split": {
            s: len({r["repository_name"] for r in released if r["split"] == s}) for s in SPLITS
        },
        "stages": stages,
        "rejection_reasons": {s: dict(sorted(r.items())) for s, r in sorted(reasons.items())},
        "language_matrix": {s: dict(sorted(t.items())) for s, t in sorted(matrix.items())},
        "verdicts": {t: dict(sorted(v.items())) for t, v in sorted(verdicts.items())},
        "dedup": dedup,
        "source_files": _prefixed(counters, "source/", ("repositories", "files_", "filtered_")),
        "repo_corpus": _prefixed(counters, "repo_corpus/", ("",)),
        "accounting": {
            "source_rows": source_rows,
            "pairs": pairs,
            "ready_candidates": ready,
            "rejected_at_source": rejected_by_stage.get("source", 0),
            "translation_requests": requests,
            "released_rows": len(released),
            "rejected_after_source": after_source,
            "source_balanced": source_ok,
            "flow_balanced": flow_ok,
            "balanced": source_ok and flow_ok,
        },
        "metrics": metrics,
    }


def _prefixed(counters: dict[str, int], namespace: str, prefixes: tuple[str, ...]) -> dict[str, int]:
    """Counters of ``namespace`` whose names start with one of ``prefixes``, without the namespace.

    ``source_files`` gathers what a ``repo:`` source did with files and functions (read,
    skipped by reason, filtered out by CodeSearchNet's rules), none of which are rows;
    ``repo_corpus`` the repository corpus's counts. Both are empty for other sources.
    """
    out = {}
    for key, n in sorted(counters.items()):
        if key.startswith(namespace):
            name = key[len(namespace):]
            if name.startswith(prefixes):
                out[name] = n
    return out
