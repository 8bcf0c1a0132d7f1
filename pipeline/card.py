"""The dataset card (``DIR/README.md``) and its plots, rendered from ``stats.json``.

What people read first: what the data is, how it was made (source, translator and prompt
version, validation, dedup settings), the language matrix, verdicts per target language,
rejection reasons, dedup and decontamination counts, split sizes and known limitations.
The YAML front matter (``configs``/``dataset_info``) comes from ``pipeline.hub_metadata`` so
``datasets.load_dataset`` sees the right splits and features.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

from pipeline.sinks import OutputLayout, write_bytes_atomic
from pipeline.stats import RunStats, SandboxInfo
from schemas import SPLITS, SYNTHCONL_COLUMNS

LOG = logging.getLogger(__name__)

CITATION = """@article{modularstarencoder2025,
  title   = {ModularStarEncoder: A Modular Multi-Exit Embedding Model for Code Search},
  author  = {Gurioli, Andrea and Pennino, Federico and Monteiro, Jo{\\~a}o and Gabbrielli, Maurizio},
  journal = {arXiv preprint arXiv:2503.03008},
  year    = {2025}
}"""

PLOTS = ("language_matrix.png", "verdicts.png")


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _front_matter(layout: OutputLayout, stats: RunStats) -> str:
    from pipeline.hub_metadata import hub_yaml, render_front_matter

    if layout.remote:  # footers are read from local shards; `pipeline.release` re-renders it
        return "---\nlicense: other\ntags:\n- code\n---\n"
    try:
        # Rows keep their source repository's license; the collection as a whole is "other".
        meta = hub_yaml(
            Path(layout.data),
            license="other",
            pretty_name="Validated cross-language code translations",
        )
    except ValueError as exc:  # e.g. a run that released no rows has no shards to describe
        LOG.warning("card without dataset_info: %s", exc)
        return "---\nlicense: other\ntags:\n- code\n---\n"
    return render_front_matter(meta)


def _pyplot():
    """matplotlib's pyplot on the non-interactive Agg backend (no display on workers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    write_bytes_atomic(path, buf.getvalue())


def plot_language_matrix(stats: RunStats, path: str) -> bool:
    """Heatmap of released rows per (source language, target language)."""
    matrix = stats.language_matrix
    if not matrix:
        return False
    plt = _pyplot()

    sources = sorted(matrix)
    targets = sorted({t for row in matrix.values() for t in row})
    values = [[matrix[s].get(t, 0) for t in targets] for s in sources]
    fig, ax = plt.subplots(
        figsize=(max(4.0, 1.5 + 0.8 * len(targets)), max(2.8, 1.2 + 0.6 * len(sources)))
    )
    im = ax.imshow(values, cmap="Blues", vmin=0)  # counts: the scale starts at zero
    ax.set_xticks(range(len(targets)), targets, rotation=45, ha="right")
    ax.set_yticks(range(len(sources)), sources)
    ax.set_xlabel("target language (language2)")
    ax.set_ylabel("source language (language1_CSN)")
    top = max(max(row) for row in values) or 1
    for i, row in enumerate(values):
        for j, v in enumerate(row):  # light text on dark cells
            ax.text(
                j,
                i,
                str(v),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if v > top / 2 else "black",
            )
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title("released rows")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return True


def plot_verdicts(stats: RunStats, path: str) -> bool:
    """Stacked bars: verdicts per target language (released and rejected at execution)."""
    verdicts = stats.verdicts
    if not verdicts:
        return False
    plt = _pyplot()

    targets = sorted(verdicts)
    statuses = sorted({s for v in verdicts.values() for s in v})
    fig, ax = plt.subplots(figsize=(1.5 + 0.8 * len(targets), 4))
    bottom = [0] * len(targets)
    for status in statuses:
        heights = [verdicts[t].get(status, 0) for t in targets]
        ax.bar(targets, heights, bottom=bottom, label=status)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_ylabel("translations")
    ax.set_title("execution verdict per target language")
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return True


def _repair_section(stats: RunStats) -> str:
    from pipeline.repair import render_card_section

    return render_card_section(stats.to_json())


def render_card(layout: OutputLayout, stats: RunStats) -> str:
    """The whole card as markdown; also writes the plots beside it."""
    cfg = stats.config or {}
    sandbox = stats.sandbox or SandboxInfo()
    plots = []
    if plot_language_matrix(stats, layout.file(PLOTS[0])):
        plots.append(PLOTS[0])
    if plot_verdicts(stats, layout.file(PLOTS[1])):
        plots.append(PLOTS[1])

    translators = sorted(stats.translators)
    matrix = stats.language_matrix
    targets = sorted({t for row in matrix.values() for t in row})
    matrix_table = _md_table(
        ["source \\ target", *targets, "total"],
        [
            [s, *(matrix[s].get(t, 0) for t in targets), sum(matrix[s].values())]
            for s in sorted(matrix)
        ],
    )
    statuses = sorted({s for v in stats.verdicts.values() for s in v})
    verdict_table = _md_table(
        ["target", *statuses],
        [[t, *(v.get(s, 0) for s in statuses)] for t, v in sorted(stats.verdicts.items())],
    )
    reason_rows = [
        [stage, reason, n]
        for stage, reasons in stats.rejection_reasons.items()
        for reason, n in sorted(reasons.items(), key=lambda x: -x[1])
    ]
    stage_table = _md_table(
        ["stage", "rows in", "rows out", "rejected"],
        [[s.stage, s.rows_in, s.rows_out, s.rejected] for s in stats.stages],
    )
    split_table = _md_table(
        ["split", "rows", "repositories"],
        [[s, stats.splits.get(s, 0), stats.repositories_per_split.get(s, 0)] for s in SPLITS],
    )
    dedup = stats.dedup
    warning = f"\n> **Warning:** {sandbox.warning}\n" if sandbox.warning else ""
    parts = [
        _front_matter(layout, stats),
        "# Validated cross-language code translations\n",
        warning,
        "Text/code/code triplets in the format of SynthCoNL (the ModularStarEncoder paper's "
        "dataset): a function's documentation, the function in its source language, and a "
        "translation of it into another language. Unlike SynthCoNL, every translation here was "
        "parse-checked with tree-sitter and, where a sandbox was available, compiled, run and "
        "tested against examples taken from the source function itself.\n",
        f"- **Rows:** {stats.released_rows} released, {stats.rejected_rows} rejected (kept apart with reasons)",
        f"- **Run:** `{stats.run_id}`, {stats.finished_at or ''}, {stats.wall_s or 0} s on {stats.runner or ''}",
        f"- **Schema version:** {stats.schema_version}",
        "",
        "## Columns\n",
        "The first eight columns are SynthCoNL's, same names and order: "
        + ", ".join(f"`{c}`" for c in SYNTHCONL_COLUMNS)
        + ". Then `pair_id` (stable id of the source pair), `license`, `translator` "
        "(backend:model), `prompt_version`, `attempt` (which sample won), `repair_round` (0, or the "
        "repair round whose reply this is), `parse_ok`, "
        "`exec_status` (`passed`, `no_tests`, `not_run`, ...), `tests_passed`, `tests_total`, "
        "`dedup_cluster` and `split`.\n",
        '```python\nfrom datasets import load_dataset\nds = load_dataset("parquet", data_dir="data")  # or the Hub repo id\n```\n',
        "## How it was made\n",
        f"- **Source:** `{cfg.get('source', '?')}`",
        f"- **Translator:** `{cfg.get('translator', '?')}`"
        + (f" ({', '.join(translators)})" if translators else "")
        + (f", model `{cfg.get('model')}`" if cfg.get("model") else "")
        + f"; targets {', '.join(cfg.get('target_languages', []) or [])}; "
        f"{cfg.get('num_samples', 1)} sample(s) per target, temperature {cfg.get('temperature', 0)}",
        f"- **Validation:** tree-sitter parse, then sandbox `{sandbox.backend or '?'}` "
        f"(requested `{sandbox.requested or '?'}`): compile, run, and compare with test "
        "cases derived from the source's doctests / HumanEval tests (cases the source itself "
        f"fails are dropped). Admission rule: `--require={cfg.get('require', 'default')}` "
        "(default: `passed` where tests exist, compiled otherwise).",
        f"- **Dedup:** exact (normalised text hash), then MinHash LSH over character "
        f"{cfg.get('ngram', 5)}-grams, {cfg.get('num_perm', 256)} permutations, Jaccard "
        f"{cfg.get('dedup_threshold', 0.7)} (SynthCoNL's settings), on the source function of "
        "each pair; one pair kept per cluster (permissive license, then passing tests, then "
        f"shortest id). Removed: {dedup.exact_duplicate_rows} exact, "
        f"{dedup.near_duplicate_rows} near-duplicate rows.",
        f"- **Decontamination:** against {', '.join(cfg.get('decontaminate', []) or []) or 'nothing'}: "
        + (", ".join(f"{k} {v}" for k, v in dedup.contaminated_rows.items()) or "0 rows removed")
        + ".",
        "- **Splits:** by a hash of `repository_name`, so no repository (and no near-duplicate "
        f"cluster) spans two splits; fractions {cfg.get('split_fractions', '')}.\n",
        "## Rows per stage\n",
        stage_table,
        "",
        "## Language matrix (released rows)\n",
        matrix_table,
        "",
        *(f"![{p}]({p})\n" for p in plots[:1]),
        "## Verdicts per target language\n",
        "Released rows and rows rejected at execution, by `exec_status`.\n",
        verdict_table,
        "",
        *(f"![{p}]({p})\n" for p in plots[1:]),
        _repair_section(stats),
        "## Rejection reasons\n",
        _md_table(["stage", "reason", "rows"], reason_rows) if reason_rows else "None.",
        "",
        "## Splits\n",
        split_table,
        "",
        "## Known limitations\n",
        "- Tests come from the source's own examples (doctests, HumanEval asserts) and inputs "
        "generated from type hints; a translation that passes them can still differ on other "
        "inputs. `no_tests` rows were only compiled and run.",
        "- Rule-based translation (py2many) covers typed Python into C++, Go and Rust only; "
        "LLM translators cover every pair but their output is only as good as the tests.",
        "- Dedup is on the source function; two different functions with near-identical "
        "translations are both kept.",
        "- Licenses are those of the source repositories; check them before redistribution.",
        "",
        "## Citation\n",
        "```bibtex\n" + CITATION + "\n```\n",
    ]
    return "\n".join(parts)
