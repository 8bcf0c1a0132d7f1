"""``python -m eval.ablation``: the paper's self-distillation comparison under one budget.

MoSE (arXiv 2503.03008) claims that each exit k of a self-distilled multi-exit encoder beats a
k-layer encoder trained on its own. This command trains, with the same steps, batch (the
trainer's default), data and seed(s):

(a) ``self-distilled``: the multi-exit model, loss ``sum_i (i/L) loss_i`` over its exits;
(b) ``alone-k``: for each exit k below the top, a separate k-layer model with one exit;
(c) ``last-exit-only``: the full model trained only at its last exit (``--no_self_distillation``):
    what its lower exits are worth without self-distillation. Its last exit is also the
    L-layer single-exit model, so (b) is not trained again for k = L. The LayerNorm and
    projection head of its lower exits never receive a gradient, so (c) is evaluated twice:
    with those untrained heads (as trained), and with the last exit's trained LayerNorm and
    projection head applied at every lower exit (``c, last head``).

Each run pretrains (MLM + ICC, ``--pretrain_steps``, 0 to skip) and then fine-tunes
contrastively (``--steps``) from that checkpoint, through ``python -m model.train``. Equal steps
are not equal compute: a training step of (b) at exit k runs k of the L layers, so (b) gets
about k/L of (a)'s training FLOPs; the table prints that share and the measured seconds. Every
model is evaluated per exit with ``eval.retrieval`` on ``--split`` of ``--data``; the output
folder gets ``ablation.md`` / ``ablation.json`` (one comparison table: per exit, MRR and R@1 of
the modes, the difference (a) - (b), latency, parameters and training compute, mean and spread
over seeds; BM25 and chance floors), ``ablation.png`` and the full per-model report under
``eval/``. R@1 is the share of queries with a relevant item at rank 1.

    python -m eval.ablation --data=out/data-dir --output=out/ablation [--steps=60]
        [--pretrain_steps=60] [--seeds=0,1] [--config=tiny] [--exits=2,4,6] [--max_length=128]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from eval.report import environment, write_report
from eval.retrieval import EvalConfig, ModelResult, evaluate_bm25, evaluate_chance, evaluate_encoder
from eval.tasks import RetrievalTask, tasks_from_release

log = logging.getLogger("eval.ablation")

MODES: tuple[str, ...] = ("self-distilled", "alone", "last-exit-only", "last-exit-only+last-head")
#: Result key of mode (c) evaluated with its last exit's trained head at every exit.
LAST_HEAD = "last-exit-only+last-head"
TEXT_TASK = "text-to-code/all"
CODE_TASK = "code-to-code/source->translation"


@dataclasses.dataclass(frozen=True)
class AblationConfig:
    """One budget for every run: same steps, data, seed(s) and trainer defaults."""

    data: str
    output: str
    config: str = "tiny"
    exits: tuple[int, ...] = (2, 4, 6)
    steps: int = 60
    pretrain_steps: int = 60
    seeds: tuple[int, ...] = (0,)
    max_length: int | None = 128
    split: str = "test"
    batch_size: int = 32
    latency_items: int = 128
    latency_repeats: int = 3
    jobs: int = 1
    evaluate_only: bool = False
    extra_train_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.exits or list(self.exits) != sorted(set(self.exits)) or self.exits[0] < 1:
            raise ValueError(f"exits must be strictly increasing positive layers, got {self.exits}")
        if self.steps <= 0 or self.pretrain_steps < 0:
            raise ValueError("steps must be > 0 and pretrain_steps >= 0")
        if not self.seeds:
            raise ValueError("at least one seed")
        if self.jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {self.jobs}")
        from model.config import PRESETS  # checked here, not in the first training child

        if self.config not in PRESETS:
            raise ValueError(
                f"unknown --config {self.config!r}; choose from {', '.join(sorted(PRESETS))}"
            )

    def __str__(self) -> str:
        return (
            f"ablation {self.config} exits={','.join(map(str, self.exits))} "
            f"pretrain={self.pretrain_steps} contrastive={self.steps} seeds={self.seeds} -> {self.output}"
        )


@dataclasses.dataclass(frozen=True)
class Run:
    """One model to train: its name, mode, depth, exits and whether every exit is trained."""

    name: str
    mode: str
    num_layers: int
    exits: tuple[int, ...]
    self_distillation: bool


def plan_runs(exits: Sequence[int]) -> list[Run]:
    """(a), (b) for every exit below the top, (c); see the module docstring."""
    top = exits[-1]
    runs = [Run("self-distilled", "self-distilled", top, tuple(exits), True)]
    runs += [Run(f"alone-{k}", "alone", k, (k,), True) for k in exits[:-1]]
    runs.append(Run("last-exit-only", "last-exit-only", top, tuple(exits), False))
    return runs


def train_argv(
    run: Run,
    cfg: AblationConfig,
    objective: str,
    steps: int,
    seed: int,
    output: Path,
    init: Path | None,
) -> list[str]:
    """The ``model.train`` command line for one stage of one run."""
    argv = [
        f"--data={cfg.data}",
        f"--config={cfg.config}",
        f"--output={output}",
        f"--objective={objective}",
        f"--steps={steps}",
        f"--seed={seed}",
        f"--num_layers={run.num_layers}",
        f"--exits={','.join(map(str, run.exits))}",
    ]
    if cfg.max_length is not None:
        argv.append(f"--max_length={cfg.max_length}")
    if not run.self_distillation:
        argv.append("--no_self_distillation")
    if init is not None:
        argv.append(f"--init={init}")
    return argv + list(cfg.extra_train_args)


def _train(argv: list[str], log_path: Path) -> float:
    """Run ``python -m model.train`` in a child process; seconds taken. Raises on failure."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "model.train", *argv],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"model.train failed ({proc.returncode}): {' '.join(argv)}\n{tail}")
    return seconds


def _stage(argv: list[str], root: Path, stage: str) -> float:
    """One training stage, skipped when its marker says it finished (resume); seconds."""
    marker = root / f"{stage}.done"
    if marker.exists():
        return float(marker.read_text() or 0)
    seconds = _train(argv, root / f"{stage}.log")
    marker.write_text(f"{seconds:.3f}")
    return seconds


def _run_root(cfg: AblationConfig, run: Run, seed: int) -> Path:
    return Path(cfg.output) / "checkpoints" / run.name / f"seed{seed}"


def train_run(run: Run, cfg: AblationConfig, seed: int) -> tuple[Path, float]:
    """Pretrain (if asked) then fine-tune one run; (final checkpoint, training seconds).

    Each finished stage leaves a ``<stage>.done`` marker holding its seconds, so a repeated
    command retrains nothing that finished.
    """
    root = _run_root(cfg, run, seed)
    root.mkdir(parents=True, exist_ok=True)
    final = root / "contrastive"
    seconds = 0.0
    init = None
    if cfg.pretrain_steps:
        init = root / "pretrain"
        seconds += _stage(
            train_argv(run, cfg, "pretrain", cfg.pretrain_steps, seed, init, None), root, "pretrain"
        )
    seconds += _stage(
        train_argv(run, cfg, "contrastive", cfg.steps, seed, final, init), root, "contrastive"
    )
    return final, seconds


def _metric(result: ModelResult, exit: int, task: str, metric: str) -> float | None:
    for e in result.exits:
        if e.exit == exit and task in e.tasks:
            return e.tasks[task][metric]
    return None


def _cost(result: ModelResult, exit: int) -> tuple[float | None, int | None]:
    for e in result.exits:
        if e.exit == exit:
            return e.ms_per_item, e.parameters
    return None, None


def _stats(values: Sequence[float | None]) -> dict[str, float | None]:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    return {
        "mean": statistics.fmean(vals),
        "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
        "n": len(vals),
    }


def comparison_rows(
    exits: Sequence[int],
    results: dict[tuple[str, int], ModelResult],
    seeds: Sequence[int],
    task_names: Sequence[str],
) -> list[dict[str, Any]]:
    """Per exit: each mode's metrics (mean/std over seeds), the (a)-(b) difference and the cost."""
    top = exits[-1]
    text_task = TEXT_TASK if TEXT_TASK in task_names else task_names[0]
    code_task = CODE_TASK if CODE_TASK in task_names else None
    rows = []
    for k in exits:
        alone_name = f"alone-{k}" if k != top else "last-exit-only"
        sources = {
            "self-distilled": "self-distilled",
            "alone": alone_name,
            "last-exit-only": "last-exit-only",
            LAST_HEAD: LAST_HEAD,
        }
        row: dict[str, Any] = {
            "exit": k,
            "alone_model": alone_name,
            "train_compute_alone": k / top,
        }  # layers run per step, (b) vs (a)
        for mode, run_name in sources.items():
            per_seed = [results.get((run_name, s)) for s in seeds]
            row[mode] = {
                "text_mrr": _stats(
                    [_metric(r, k, text_task, "mrr") if r else None for r in per_seed]
                ),
                "text_r@1": _stats(
                    [_metric(r, k, text_task, "r@1") if r else None for r in per_seed]
                ),
                "code_mrr": _stats(
                    [_metric(r, k, code_task, "mrr") if r and code_task else None for r in per_seed]
                ),
                "ms_per_item": _stats([_cost(r, k)[0] if r else None for r in per_seed]),
                "parameters": next((_cost(r, k)[1] for r in per_seed if r), None),
            }
        diffs = []
        for s in seeds:
            a, b = results.get(("self-distilled", s)), results.get((alone_name, s))
            if a and b:
                diffs.append(_metric(a, k, text_task, "mrr") - _metric(b, k, text_task, "mrr"))
        row["delta_text_mrr"] = _stats(diffs)
        row["text_task"], row["code_task"] = text_task, code_task
        rows.append(row)
    return rows


def verdict(rows: Sequence[dict[str, Any]], noise: float | None) -> str:
    """Plain statement of whether (a) beat (b) at each exit below the top, against the noise."""
    lower = [r for r in rows[:-1] if r["delta_text_mrr"]["mean"] is not None]
    if not lower:
        return "No exit below the top to compare."
    won = [r["exit"] for r in lower if r["delta_text_mrr"]["mean"] > 0]
    clear = [
        r["exit"] for r in lower if noise is not None and r["delta_text_mrr"]["mean"] > 2 * noise
    ]
    text = (
        f"Self-distilled exit k beat the k-layer model trained alone (text-to-code MRR) at "
        f"{len(won)} of {len(lower)} lower exits ({', '.join(map(str, won)) or 'none'})"
    )
    if noise is not None:
        text += (
            f"; beyond twice the seed spread ({noise:.4f}) at "
            f"{', '.join(map(str, clear)) or 'none'}"
        )
    else:
        text += "; one seed only, so the seed noise is not measured (pass --seeds=0,1,2)"
    return text + "."


def _fmt(stat: dict[str, float | None], spec: str = ".4f") -> str:
    if stat["mean"] is None:
        return "-"
    if stat["n"] and stat["n"] > 1:
        return f"{stat['mean']:{spec}} ± {stat['std']:{spec}}"
    return f"{stat['mean']:{spec}}"


def render_table(
    rows: Sequence[dict[str, Any]],
    bm25: ModelResult,
    cfg: AblationConfig,
    train_seconds: dict[str, float],
    tasks: Sequence[RetrievalTask],
    noise: float | None,
    chance: ModelResult | None = None,
) -> str:
    text_task = rows[0]["text_task"]
    code_task = rows[0]["code_task"]
    by_name = {t.name: t for t in tasks}
    bm25_text = bm25.exits[0].tasks[text_task]["mrr"]
    chance = chance or evaluate_chance(tasks)
    floor = chance.exits[0].tasks
    lines = [
        "# Self-distillation ablation (MoSE, arXiv 2503.03008)",
        "",
        f"Budget per model: {cfg.pretrain_steps} pretraining (MLM + ICC) + {cfg.steps} contrastive "
        f"steps, config `{cfg.config}`, context {cfg.max_length or 'of the config'} tokens, "
        f"trainer's default batch, data `{cfg.data}`, seeds "
        f"{', '.join(map(str, cfg.seeds))}. Evaluated on split `{cfg.split}`.",
        "",
        f"Text: `{text_task}` ({by_name[text_task].describe()}).",
    ]
    if code_task:
        lines.append(f"Code: `{code_task}` ({by_name[code_task].describe()}).")
    lines += [
        "",
        "(a) self-distilled multi-exit model; (b) a k-layer model trained alone at its only exit "
        "(at the top exit: the full model trained at its last exit only, which is (c)); "
        "(c) the full model trained only at its last exit, evaluated with the LayerNorm and "
        "projection head each lower exit has, which (c) never trained; (c') the same model with "
        "its last exit's trained LayerNorm and head applied at every exit. Values are mean ± std "
        "over seeds. R@1: share of queries with a relevant item at rank 1.",
        "",
        "Equal steps, not equal compute: every model gets the same steps, batch and context, but a "
        "step of (b) runs k of the L layers, so (b) trains with about k/L of (a)'s FLOPs (column "
        "'(b) compute'); (c) costs what (a) costs.",
        "",
        "| exit | params | (b) compute | ms/item (a) | ms/item (b) | text MRR (a) | text MRR (b) "
        "| text MRR (c) | text MRR (c') | Δ MRR (a)-(b) | text R@1 (a) | text R@1 (b) "
        "| code MRR (a) | code MRR (b) | code MRR (c) | code MRR (c') |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        a, b, c, c2 = r["self-distilled"], r["alone"], r["last-exit-only"], r[LAST_HEAD]
        params = a["parameters"]
        lines.append(
            f"| {r['exit']} | {params / 1e6:.2f}M | {r['train_compute_alone']:.0%} | "
            f"{_fmt(a['ms_per_item'], '.2f')} | "
            f"{_fmt(b['ms_per_item'], '.2f')} | {_fmt(a['text_mrr'])} | {_fmt(b['text_mrr'])} | "
            f"{_fmt(c['text_mrr'])} | {_fmt(c2['text_mrr'])} | {_fmt(r['delta_text_mrr'])} | "
            f"{_fmt(a['text_r@1'])} | {_fmt(b['text_r@1'])} | {_fmt(a['code_mrr'])} | "
            f"{_fmt(b['code_mrr'])} | {_fmt(c['code_mrr'])} | {_fmt(c2['code_mrr'])} |"
            if params is not None
            else f"| {r['exit']} | - |" + " - |" * 14
        )
    lines += [
        "",
        f"Floors: BM25 text MRR {bm25_text:.4f}"
        + (f", code MRR {bm25.exits[0].tasks[code_task]['mrr']:.4f}" if code_task else "")
        + f"; chance (random ranking) text MRR {floor[text_task]['mrr']:.4f}, R@1 {floor[text_task]['r@1']:.4f}"
        + (f", code MRR {floor[code_task]['mrr']:.4f}" if code_task else "")
        + ".",
        "",
        "Training time (s, summed over seeds, pretraining + fine-tuning): "
        + ", ".join(f"{name} {sec:.0f}" for name, sec in train_seconds.items())
        + ".",
        "",
        f"**Verdict:** {verdict(rows, noise)}",
    ]
    return "\n".join(lines) + "\n"


def plot(rows: Sequence[dict[str, Any]], bm25_text: float, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    exits = [r["exit"] for r in rows]
    for mode, label, style in (
        ("self-distilled", "(a) self-distilled", "o-"),
        ("alone", "(b) k layers, trained alone", "s--"),
        ("last-exit-only", "(c) full model, last exit only", "^:"),
        (LAST_HEAD, "(c') same, last exit's head at every exit", "v-."),
    ):
        means = [r[mode]["text_mrr"]["mean"] for r in rows]
        stds = [r[mode]["text_mrr"]["std"] or 0.0 for r in rows]
        pts = [(e, m, s) for e, m, s in zip(exits, means, stds, strict=True) if m is not None]
        if pts:
            ax.errorbar(
                [p[0] for p in pts],
                [p[1] for p in pts],
                yerr=[p[2] for p in pts],
                fmt=style,
                capsize=3,
                label=label,
            )
    ax.axhline(bm25_text, color="grey", linestyle="--", linewidth=1, label="BM25")
    ax.set_xlabel("exit layer k")
    ax.set_ylabel(f"MRR ({rows[0]['text_task']})")
    ax.set_xticks(exits)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Self-distillation ablation, same budget per model")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def with_last_exit_head(model: Any) -> Any:
    """A copy of ``model`` whose every exit uses the last exit's LayerNorm and projection head.

    For a model trained at its last exit only, the lower exits' own heads are untrained; this
    asks instead what its lower layers are worth through the one head that was trained.
    """
    import copy

    swapped = copy.deepcopy(model)
    top = str(model.exits[-1])
    for exit in model.exits[:-1]:
        swapped.projections[str(exit)].load_state_dict(model.projections[top].state_dict())
        if str(exit) in swapped.exit_norms:
            swapped.exit_norms[str(exit)].load_state_dict(model.exit_norms[top].state_dict())
    return swapped


def run_ablation(cfg: AblationConfig) -> dict[str, Any]:
    """Train every run for every seed, evaluate per exit, write the table, json and plot."""
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    tasks = tasks_from_release(cfg.data, cfg.split)
    eval_cfg = EvalConfig(
        batch_size=cfg.batch_size,
        latency_items=cfg.latency_items,
        latency_repeats=cfg.latency_repeats,
    )
    from model.encode import MoseEncoder  # the model package; imported only when needed

    results: dict[tuple[str, int], ModelResult] = {}
    train_seconds: dict[str, float] = {}
    bm25 = evaluate_bm25(tasks, eval_cfg)
    document: dict[str, Any] = {}
    work = [(run, seed) for run in plan_runs(cfg.exits) for seed in cfg.seeds]
    # training runs are child processes, --jobs at once; evaluation waits until all are trained
    # so no training process competes with the latency measurement
    if cfg.evaluate_only:  # the runs that finished training, nothing new is trained
        work = [(r, s) for r, s in work if (_run_root(cfg, r, s) / "contrastive.done").exists()]
        if not work:
            raise ValueError(f"no finished run under {cfg.output}/checkpoints")
    with ThreadPoolExecutor(max_workers=cfg.jobs) as pool:
        trained = dict(zip(work, pool.map(lambda w: train_run(w[0], cfg, w[1]), work), strict=True))
    for (run, seed), (ckpt, seconds) in trained.items():
        log.info("trained %s seed %d in %.0f s; evaluating", run.name, seed, seconds)
        train_seconds[run.name] = train_seconds.get(run.name, 0.0) + seconds
        name = run.name if len(cfg.seeds) == 1 else f"{run.name} s{seed}"
        encoder = MoseEncoder.from_pretrained(ckpt, device="cpu")
        results[(run.name, seed)] = evaluate_encoder(
            encoder, tasks, name, "mose", str(ckpt), eval_cfg
        )
        if run.mode == "last-exit-only" and len(run.exits) > 1:
            swapped = MoseEncoder(with_last_exit_head(encoder.model), encoder.tokenizer, "cpu")
            results[(LAST_HEAD, seed)] = evaluate_encoder(
                swapped,
                tasks,
                f"{name} (last head)",
                "mose",
                str(ckpt),
                eval_cfg,
                note="the last exit's trained LayerNorm and projection head at every exit",
            )
        # outputs after every model: an interrupted evaluation still leaves its partial table
        document = write_outputs(cfg, tasks, results, bm25, train_seconds)
    print((out / "ablation.md").read_text(encoding="utf-8"))
    return document


def write_outputs(
    cfg: AblationConfig,
    tasks: Sequence[RetrievalTask],
    results: dict[tuple[str, int], ModelResult],
    bm25: ModelResult,
    train_seconds: dict[str, float],
) -> dict[str, Any]:
    """ablation.md, ablation.json, ablation.png and eval/ from the models evaluated so far."""
    out = Path(cfg.output)
    rows = comparison_rows(cfg.exits, results, cfg.seeds, [t.name for t in tasks])
    # seed noise: the spread of the same model over seeds, averaged over exits and modes
    spreads = [
        r[m]["text_mrr"]["std"]
        for r in rows
        for m in MODES
        if r[m]["text_mrr"]["n"] and r[m]["text_mrr"]["n"] > 1
    ]
    noise = statistics.fmean(spreads) if spreads else None
    chance = evaluate_chance(tasks)
    table = render_table(rows, bm25, cfg, train_seconds, tasks, noise, chance)
    (out / "ablation.md").write_text(table, encoding="utf-8")
    document = {
        "config": dataclasses.asdict(cfg),
        "environment": environment(),
        "runs": [dataclasses.asdict(r) for r in plan_runs(cfg.exits)],
        "train_seconds": train_seconds,
        "rows": rows,
        "seed_noise_text_mrr": noise,
        "verdict": verdict(rows, noise),
        "bm25": bm25.to_json(),
        "chance": chance.to_json(),
    }
    (out / "ablation.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    plot(rows, bm25.exits[0].tasks[rows[0]["text_task"]]["mrr"], out / "ablation.png")
    write_report(
        out / "eval",
        [*results.values(), bm25, chance],
        tasks,
        {
            "data": cfg.data,
            "split": cfg.split,
            "batch_size": cfg.batch_size,
            "latency_items": cfg.latency_items,
            "latency_repeats": cfg.latency_repeats,
            "title": "Ablation models: accuracy against cost per exit",
        },
    )
    return document


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from exc


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    p = argparse.ArgumentParser(prog="python -m eval.ablation", description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="release folder with data/<split>-*.parquet")
    p.add_argument("--output", required=True)
    p.add_argument("--config", default="tiny")
    p.add_argument("--exits", type=_ints, default=(2, 4, 6))
    p.add_argument("--steps", type=int, default=60, help="contrastive steps per model")
    p.add_argument(
        "--pretrain_steps", type=int, default=60, help="MLM+ICC steps per model (0: none)"
    )
    p.add_argument("--seed", type=int, default=None, help="one seed (shorthand for --seeds=S)")
    p.add_argument("--seeds", type=_ints, default=(0,))
    p.add_argument(
        "--max_length",
        type=int,
        default=128,
        help="training context in tokens, the same for every model (0: the config's)",
    )
    p.add_argument("--split", default="test")
    p.add_argument("--batch_size", type=int, default=32, help="encoding batch for evaluation")
    p.add_argument("--latency_items", type=int, default=128)
    p.add_argument("--latency_repeats", type=int, default=3)
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="training runs at once (each is a process using torch's threads)",
    )
    p.add_argument(
        "--evaluate_only",
        action="store_true",
        help="evaluate the runs that finished training; train nothing",
    )
    p.add_argument(
        "--train_arg",
        action="append",
        default=None,
        help="extra flag passed to every model.train call (repeatable)",
    )
    args = p.parse_args(argv)
    try:
        cfg = AblationConfig(
            data=args.data,
            output=args.output,
            config=args.config,
            exits=args.exits,
            steps=args.steps,
            pretrain_steps=args.pretrain_steps,
            seeds=(args.seed,) if args.seed is not None else args.seeds,
            split=args.split,
            max_length=args.max_length or None,
            batch_size=args.batch_size,
            latency_items=args.latency_items,
            latency_repeats=args.latency_repeats,
            jobs=args.jobs,
            evaluate_only=args.evaluate_only,
            extra_train_args=tuple(args.train_arg or ()),
        )
        log.info("%s", cfg)
        run_ablation(cfg)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
