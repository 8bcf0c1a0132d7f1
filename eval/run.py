"""``python -m eval.run``: evaluate MoSE checkpoints (every exit) and baselines on retrieval tasks.

``--model`` takes our checkpoints and folders in the released ModularStarEncoder layout (every
exit, the released instructions and ``<cls>`` pooling); ``--baseline`` any transformers or
sentence-transformers encoder folder; ``--data`` a release folder; ``--external`` one of the
field's formats (``eval.external``: CodeXGLUE/UniXcoder code search, CodeSearchNet JSONL,
CoIR/BEIR, POJ-104, BigCloneBench; ``PATH::OPTION`` for a BEIR set of code queries or a clone
set's language). A BM25 row and a chance row (random ranking) are always included, and every
task prints its pool size. ``--dump_tasks=DIR`` writes what each task searched.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from eval.baselines import POOLINGS, BaselineOptions
from eval.external import load_external
from eval.report import render_markdown, write_report
from eval.retrieval import EvalConfig, ModelResult, evaluate_bm25, evaluate_chance, evaluate_encoder
from eval.tasks import Task, dump_tasks, tasks_from_release

log = logging.getLogger("eval.run")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eval.run", description=__doc__.splitlines()[0])
    p.add_argument(
        "--model",
        action="append",
        default=None,
        metavar="CKPT",
        help="a MoSE checkpoint or released-layout folder (repeatable)",
    )
    p.add_argument(
        "--baseline",
        action="append",
        default=None,
        metavar="PATH",
        help="a transformers/sentence-transformers encoder folder (repeatable)",
    )
    p.add_argument("--data", default=None, help="release folder with data/<split>-*.parquet")
    p.add_argument("--split", default="test", help="release split (all: every split together)")
    p.add_argument(
        "--external",
        action="append",
        default=None,
        metavar="PATH",
        help="CodeXGLUE code search folder, CodeSearchNet JSONL/parquet, CoIR/BEIR folder, "
        "POJ-104 JSONL or BigCloneBench folder (repeatable)",
    )
    p.add_argument("--output", required=True)
    p.add_argument(
        "--dump_tasks",
        default=None,
        metavar="DIR",
        help="write each task's queries and pool as JSON lines under DIR",
    )
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--latency_items", type=int, default=128)
    p.add_argument("--latency_repeats", type=int, default=3)
    p.add_argument(
        "--no_per_language", action="store_true", help="only the all-language tasks (fewer tables)"
    )
    p.add_argument(
        "--baseline_pooling",
        choices=POOLINGS,
        default=None,
        help="pooling of transformers baselines (default: their 1_Pooling config, else mean)",
    )
    p.add_argument(
        "--baseline_query_prefix", default="", help="text put before every query of a baseline"
    )
    p.add_argument(
        "--baseline_code_prefix",
        default="",
        help="text put before every code item of a baseline ({language} is filled in)",
    )
    p.add_argument("--baseline_max_length", type=int, default=512)
    p.add_argument(
        "--trust_remote_code",
        action="store_true",
        help="run the modeling code a baseline folder ships (auto_map)",
    )
    p.add_argument("--title", default="", help="heading of report.md and the plot")
    return p


def load_tasks(
    data: str | None, split: str, external: Sequence[str], per_language: bool
) -> list[Task]:
    tasks: list[Task] = []
    if data:
        tasks.extend(tasks_from_release(data, split, per_language=per_language))
    for spec in external:
        tasks.extend(load_external(spec, "test" if split == "all" else split))
    if not tasks:
        raise ValueError("no tasks: pass --data (release shards) and/or --external")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(
            f"two tasks share a name: {sorted({n for n in names if names.count(n) > 1})}"
        )
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
    tasks: Sequence[Task],
    config: EvalConfig,
    model_names: Sequence[str] | None = None,
    baseline_options: BaselineOptions | None = None,
) -> list[ModelResult]:
    """Every model and baseline at every exit, then the BM25 and chance rows."""
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
            results.append(
                evaluate_encoder(
                    load_baseline(path, baseline_options or BaselineOptions()),
                    tasks,
                    name,
                    "baseline",
                    str(path),
                    config,
                )
            )
    results.append(evaluate_bm25(tasks, config))
    results.append(evaluate_chance(tasks))
    return results


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    models, baselines, external = args.model or [], args.baseline or [], args.external or []
    try:
        config = EvalConfig(
            batch_size=args.batch_size,
            latency_items=args.latency_items,
            latency_repeats=args.latency_repeats,
        )
        options = BaselineOptions(
            pooling=args.baseline_pooling,
            query_prefix=args.baseline_query_prefix,
            code_prefix=args.baseline_code_prefix,
            max_length=args.baseline_max_length,
            trust_remote_code=args.trust_remote_code,
        )
        tasks = load_tasks(args.data, args.split, external, not args.no_per_language)
        if args.dump_tasks:
            for folder in dump_tasks(tasks, args.dump_tasks):
                log.info("wrote %s", folder)
        if not models and not baselines:
            if args.dump_tasks:
                print(f"tasks written under {args.dump_tasks}; no model given, nothing evaluated")
                return 0
            raise ValueError("give at least one --model or --baseline")
        results = evaluate_all(models, baselines, tasks, config, baseline_options=options)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
    print("## " + "\n## ".join(sections[1:]) if len(sections) > 1 else sections[0])
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
