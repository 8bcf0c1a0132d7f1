"""``python -m eval.run``: per-exit retrieval evaluation of one or more checkpoints.

    python -m eval.run --model=CKPT [--model=CKPT2 ...] [--baseline=PATH ...] \\
        --data=DIR [--split=test] [--external=PATH ...] --output=DIR

Writes ``DIR/metrics.json``, ``DIR/report.md`` and ``DIR/frontier.png`` (DESIGN.md section 4)
and prints the cost/headline table. ``--model`` takes our checkpoints
(``model.encode.MoseEncoder``); ``--baseline`` any transformers / sentence-transformers encoder
folder; ``--external`` a CodeSearchNet-format file/folder or a CoIR/BEIR folder (``PATH::code``
when its queries are code). A BM25 row is always included.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from eval.report import render_markdown, write_report
from eval.retrieval import EvalConfig, ModelResult, evaluate_bm25, evaluate_encoder
from eval.tasks import RetrievalTask, load_external, tasks_from_release

log = logging.getLogger("eval.run")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eval.run", description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", default=None, metavar="CKPT",
                   help="a MoSE checkpoint folder (repeatable)")
    p.add_argument("--baseline", action="append", default=None, metavar="PATH",
                   help="a transformers/sentence-transformers encoder folder (repeatable)")
    p.add_argument("--data", default=None, help="release folder with data/<split>-*.parquet")
    p.add_argument("--split", default="test")
    p.add_argument("--external", action="append", default=None, metavar="PATH",
                   help="CodeSearchNet JSONL/parquet or CoIR/BEIR folder (repeatable)")
    p.add_argument("--output", required=True)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--latency_items", type=int, default=128)
    p.add_argument("--latency_repeats", type=int, default=3)
    p.add_argument("--no_per_language", action="store_true",
                   help="only the all-language tasks (fewer tables)")
    p.add_argument("--title", default="")
    return p


def load_tasks(data: str | None, split: str, external: Sequence[str], per_language: bool) -> list[RetrievalTask]:
    tasks: list[RetrievalTask] = []
    if data:
        tasks.extend(tasks_from_release(data, split, per_language=per_language))
    for spec in external:
        tasks.extend(load_external(spec, split))
    if not tasks:
        raise ValueError("no tasks: pass --data (release shards) and/or --external")
    return tasks


def _names(paths: Sequence[str]) -> list[str]:
    """Short unique display names for model paths (folder name, parent added on clashes)."""
    names = [Path(p).name or str(p) for p in paths]
    if len(set(names)) == len(names):
        return names
    return [str(Path(p).parent.name + "/" + Path(p).name) for p in paths]


def evaluate_all(
    models: Sequence[str],
    baselines: Sequence[str],
    tasks: Sequence[RetrievalTask],
    config: EvalConfig,
    model_names: Sequence[str] | None = None,
) -> list[ModelResult]:
    """Every model and baseline at every exit, then the BM25 row."""
    results: list[ModelResult] = []
    if models:
        from model.encode import MoseEncoder  # the model package; imported only when needed

        for name, path in zip(model_names or _names(models), models, strict=True):
            log.info("evaluating %s (%s)", name, path)
            encoder = MoseEncoder.from_pretrained(path)
            results.append(evaluate_encoder(encoder, tasks, name, "mose", str(path), config))
    if baselines:
        from eval.baselines import load_baseline

        for name, path in zip(_names(baselines), baselines, strict=True):
            log.info("evaluating baseline %s (%s)", name, path)
            results.append(evaluate_encoder(load_baseline(path), tasks, name, "baseline", str(path), config))
    results.append(evaluate_bm25(tasks, config))
    return results


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    models, baselines, external = args.model or [], args.baseline or [], args.external or []
    if not models and not baselines:
        print("error: give at least one --model or --baseline", file=sys.stderr)
        return 2
    try:
        config = EvalConfig(batch_size=args.batch_size, latency_items=args.latency_items,
                            latency_repeats=args.latency_repeats)
        tasks = load_tasks(args.data, args.split, external, not args.no_per_language)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results = evaluate_all(models, baselines, tasks, config)
    meta = {
        "data": args.data or ", ".join(external),
        "split": args.split,
        "models": models,
        "baselines": baselines,
        "external": external,
        "batch_size": config.batch_size,
        "latency_items": config.latency_items,
        "latency_repeats": config.latency_repeats,
        "title": args.title,
    }
    paths = write_report(args.output, results, tasks, meta)
    sections = render_markdown(results, tasks, meta).split("\n## ")
    print("## " + sections[1] if len(sections) > 1 else sections[0])
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
