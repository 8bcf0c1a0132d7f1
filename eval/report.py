"""Evaluation outputs: ``metrics.json``, ``report.md`` and ``frontier.png``.

``report.md`` has one table per task (rows = model x exit, plus the BM25 row and the chance row,
the expected score of a random ranking; each table states its direction, query count, pool size
and what was indexed) and a cost table whose heading says how many items were timed;
``frontier.png`` plots the primary metric (text-to-code MRR over all languages) against ms per
item and against parameters, one line per model through its exits, with BM25 and chance as
horizontal floors.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.metrics import METRIC_NAMES, PAIR_METRIC_NAMES
from eval.retrieval import PRIMARY_METRIC, PRIMARY_TASKS, ModelResult, primary_score
from eval.tasks import Task

METRIC_LABELS: dict[str, str] = {
    "mrr": "MRR",
    "ndcg@10": "NDCG@10",
    "r@1": "R@1",
    "r@5": "R@5",
    "r@10": "R@10",
    "recall@10": "Recall@10",
    "map@r": "MAP@R",
    "f1": "F1",
    "precision": "precision",
    "recall": "recall",
    "threshold": "threshold",
}


def environment() -> dict[str, str]:
    """Device and library versions, for the record."""
    import numpy
    import torch

    device = "cuda: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {
        "device": device,
        "cpu_threads": str(torch.get_num_threads()),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }


def task_summary(task: Task) -> dict[str, Any]:
    return {
        "name": task.name,
        "kind": task.kind,
        "direction": task.direction,
        "query_kind": task.query_kind,
        "num_queries": task.num_queries,
        "pool_size": task.pool_size,
        "ranking": "full pool" if task.kind == "retrieval" else "pairs",
        "indexed": task.indexed,
        "source": task.source,
    }


def metrics_document(
    results: Sequence[ModelResult], tasks: Sequence[Task], meta: dict[str, Any]
) -> dict[str, Any]:
    return {
        "primary_metric": PRIMARY_METRIC,
        "primary_tasks": list(PRIMARY_TASKS),
        "metrics": list(METRIC_NAMES),
        "meta": meta,
        "environment": environment(),
        "tasks": [task_summary(t) for t in tasks],
        "models": [r.to_json() for r in results],
    }


def write_metrics_json(path: str | Path, document: dict[str, Any]) -> Path:
    path = Path(path)
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _params(n: int | None) -> str:
    if n is None:
        return "-"
    if n >= 1e9:
        return f"{n / 1e9:.2f}B"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e3:
        return f"{n / 1e3:.1f}K"
    return str(n)


def _exit_label(exit: int | None) -> str:
    return "-" if exit is None else str(exit)


def _timed(results: Sequence[ModelResult]) -> str:
    """What the cost columns were measured on, from the results themselves."""
    counts = sorted(
        {(e.timed_items, e.timed_repeats) for r in results for e in r.exits if e.timed_items}
    )
    if not counts:
        return "no exit was timed"
    return "; ".join(f"median of {reps} runs over {items} code items" for items, reps in counts)


def render_markdown(
    results: Sequence[ModelResult], tasks: Sequence[Task], meta: dict[str, Any]
) -> str:
    env = environment()
    lines = [
        f"# {meta.get('title') or 'Retrieval evaluation per exit'}",
        "",
        f"Data: {meta.get('data', '?')} (split `{meta.get('split', '?')}`). Ranking over the full "
        "candidate pool with exact inner-product search on L2-normalised embeddings; ties by "
        "(-score, corpus id). MRR = first relevant rank over the full pool (CodeSearchNet); "
        "NDCG@10 as trec_eval/pytrec_eval (CoIR, MTEB); R@k = a relevant item in the first k; "
        "Recall@10 = share of the relevant items in the first 10; MAP@R as Musgrave et al. 2020. "
        "Pair tasks: F1 on test at the threshold with the best validation F1. Every table carries "
        "a BM25 row (the lexical floor) and a chance row (the expected score of a random ranking; "
        "for pair tasks, every pair called a clone).",
        "",
        f"Device: {env['device']} ({env['cpu_threads']} threads), torch {env['torch']}. "
        "Cost: ms per code item and items/s of `encode_code` at that exit alone "
        f"(batch {meta.get('batch_size', '?')}; {_timed(results)}).",
        "",
        "## Cost and headline per exit",
        "",
        f"Headline: {METRIC_LABELS[PRIMARY_METRIC]} on `{PRIMARY_TASKS[0]}` (or the mean over tasks).",
        "",
        "| model | exit | params | ms/item | items/s | headline MRR |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for e in r.exits:
            lines.append(
                f"| {r.name} | {_exit_label(e.exit)} | {_params(e.parameters)} | "
                f"{_fmt(e.ms_per_item, '.2f')} | {_fmt(e.items_per_s, ',.0f')} | "
                f"{_fmt(primary_score(r, e), '.4f')} |"
            )
    for task in tasks:
        names = METRIC_NAMES if task.kind == "retrieval" else PAIR_METRIC_NAMES
        header = "| model | exit | " + " | ".join(METRIC_LABELS[m] for m in names) + " |"
        rule = "|---|---:|" + "---:|" * len(names)
        lines += ["", f"## {task.name}", "", f"{task.describe()}.", "", header, rule]
        for r in results:
            for e in r.exits:
                m = e.tasks.get(task.name)
                if m is None:
                    continue
                cells = " | ".join(_fmt(m.get(name), ".4f") for name in names)
                lines.append(f"| {r.name} | {_exit_label(e.exit)} | {cells} |")
    return "\n".join(lines) + "\n"


def plot_frontier(results: Sequence[ModelResult], path: str | Path, title: str = "") -> Path:
    """Headline MRR against ms/item (left) and parameters (right), one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, label in (
        (axes[0], "ms_per_item", "ms per code item (encode at that exit)"),
        (axes[1], "parameters", "parameters up to the exit"),
    ):
        for r in results:
            if r.kind in ("bm25", "chance"):
                score = primary_score(r, r.exits[0])
                if score is not None:
                    style = "--" if r.kind == "bm25" else ":"
                    ax.axhline(score, color="grey", linestyle=style, linewidth=1, label=f"{r.name}")
                continue
            points = [
                (getattr(e, key), primary_score(r, e), e.exit)
                for e in r.exits
                if getattr(e, key) is not None and primary_score(r, e) is not None
            ]
            if not points:
                continue
            points.sort(key=lambda p: p[2])  # joined in exit order, not by cost
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=r.name)
            for x, y, n in points:
                ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xlabel(label)
        ax.set_ylabel(f"{METRIC_LABELS[PRIMARY_METRIC]} ({PRIMARY_TASKS[0]})")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8, loc="best")
    fig.suptitle(title or "Accuracy against cost per exit (labels: exit layer)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(
    output_dir: str | Path,
    results: Sequence[ModelResult],
    tasks: Sequence[Task],
    meta: dict[str, Any],
) -> dict[str, Path]:
    """``metrics.json``, ``report.md`` and ``frontier.png`` under ``output_dir``."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "metrics": write_metrics_json(out / "metrics.json", metrics_document(results, tasks, meta)),
        "report": _write_text(out / "report.md", render_markdown(results, tasks, meta)),
        "frontier": plot_frontier(results, out / "frontier.png", meta.get("title", "")),
    }


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
