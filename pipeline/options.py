"""Command-line options of the pipeline and the run config they become (docs/design.md, "Configuration").

Each stage's config dataclass declares its own flags (``pipeline/settings.py``): name, help,
type, choices, the one default, and how the text becomes a value; validation lives in the
config's ``__post_init__``. This module only lists the stages' configs (``GROUPS``), adds
their flags to a Beam ``PipelineOptions`` subclass (so one argv carries ours and Beam's own:
``--runner``, ``--direct_num_workers``, Dataflow/Spark/Flink flags, and the same options
object travels to remote workers), and composes the parsed configs into ``RunConfig``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.execute import ExecuteConfig
from pipeline.finalize import FinalizeConfig
from pipeline.minhash import MinHashConfig
from pipeline.repair import RepairConfig
from pipeline.settings import (
    DEFAULT_SEED,
    add_flags,
    build,
    setting,
    unknown_beam_flags,
)
from pipeline.sources import SourceConfig
from pipeline.sources.corpus import CorpusConfig
from pipeline.sources.spec import SPEC_HELP
from pipeline.splits import SplitConfig
from pipeline.translate.base import TranslateConfig, parse_targets


def _output(value: str) -> str:
    return value if "://" in value else str(Path(value).resolve())


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """The settings of the run as a whole (no single stage owns them)."""

    source: str = setting("sample", help=SPEC_HELP)
    output: str = setting(
        "./out", parse=_output, help="output directory (re-running over it resumes)"
    )
    cache_root: str | None = setting(
        None,
        flag="cache_dir",
        help="where the translation/verdict caches live (default OUTPUT/cache): a local directory (SQLite, one "
        "machine) or a URL on any Beam filesystem, e.g. s3://bucket/cache (shards that every worker of a "
        "cluster reads)",
    )
    num_shards: int = setting(1, type=int, help="parquet shards per split")
    seed: int = setting(
        DEFAULT_SEED,
        type=int,
        help="seeds target subsets, samples, MinHash permutations and the split assignment",
    )
    emit_repo_corpus: bool = setting(
        False,
        action="store_true",
        help="with a repo: source, also write OUTPUT/repo_corpus: whole files for the trainer's in-context loss",
    )

    def __post_init__(self) -> None:
        if self.num_shards < 1:
            raise ValueError("--num_shards must be >= 1")
        if self.emit_repo_corpus and not self.source.strip().lower().startswith("repo:"):
            raise ValueError(
                f"--emit_repo_corpus needs a repo:PATH source, got --source={self.source}"
            )


#: (``--help`` group title, config class): every flag of ``python -m pipeline.run``, by stage.
GROUPS: tuple[tuple[str, type], ...] = (
    ("run (pipeline/run.py)", RunSettings),
    ("source (pipeline/sources/)", SourceConfig),
    ("repository corpus (pipeline/sources/corpus.py)", CorpusConfig),
    ("translate (pipeline/translate/)", TranslateConfig),
    ("repair (pipeline/repair.py)", RepairConfig),
    ("execute (pipeline/execute.py)", ExecuteConfig),
    ("near-dedup (pipeline/dedup.py, pipeline/minhash.py)", MinHashConfig),
    ("decontamination (pipeline/decontaminate.py)", FinalizeConfig),
    ("splits (pipeline/splits.py)", SplitConfig),
)


class CodeTransOptions(PipelineOptions):
    """Flags of ``python -m pipeline.run`` (Beam's own flags are parsed by Beam)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        for title, config in GROUPS:
            add_flags(parser, config, title)


def help_parser() -> argparse.ArgumentParser:
    """The ``--help`` of ``python -m pipeline.run``: our flags, grouped by stage."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.run",
        description="The whole dataset pipeline as one Beam graph.",
        epilog="Plus Beam's own flags: --runner=DirectRunner|DataflowRunner|SparkRunner|FlinkRunner, "
        "--direct_running_mode=in_memory|multi_threading|multi_processing, --direct_num_workers=N, ...",
    )
    CodeTransOptions._add_argparse_args(parser)
    return parser


def unknown_flags(argv: list[str]) -> str | None:
    """A one-line error for the first flag that neither our options nor any Beam options class
    (runners' included) knows, with a did-you-mean; None when every flag is known.

    Beam itself only logs "Discarding unparseable args" and runs on without the flag.
    """
    return unknown_beam_flags(argv)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything the graph needs, validated: the run's own settings and each stage's config,
    as the flags gave them (``pipeline.run.stage_configs`` adds what is resolved at launch:
    the sandbox backend, the translator, the cache directories)."""

    run: RunSettings
    sources: SourceConfig
    corpus: CorpusConfig
    translate: TranslateConfig
    repair: RepairConfig
    execute: ExecuteConfig
    finalize: FinalizeConfig
    targets_were_auto: bool

    # The run's settings and the ones read across stages, by their flag names.
    source = property(lambda self: self.run.source)
    output = property(lambda self: self.run.output)
    cache_root = property(lambda self: self.run.cache_root)
    num_shards = property(lambda self: self.run.num_shards)
    seed = property(lambda self: self.run.seed)
    emit_repo_corpus = property(lambda self: self.run.emit_repo_corpus)
    target_languages = property(lambda self: self.translate.target_languages)
    sandbox = property(lambda self: self.execute.sandbox)
    require = property(lambda self: self.execute.require)
    licenses = property(lambda self: self.sources.licenses)
    repair_rounds = property(lambda self: self.repair.rounds)
    vllm_server_kwargs = property(lambda self: tuple(self.translate.vllm_server_kwargs.items()))

    @property
    def cache_dir(self) -> str:
        """Translation and verdict caches: ``--cache_dir`` if given, else ``OUTPUT/cache``, so a
        re-run over the same output resumes.

        A local directory holds SQLite files (one machine); a URL (an object-store output, or
        ``--cache_dir=s3://...``) holds shards that every worker of a cluster reads
        (``pipeline/cache_store.py``).
        """
        if self.cache_root:
            return self.cache_root
        if "://" not in self.output:
            return os.path.join(self.output, "cache")
        return self.output.rstrip("/") + "/cache"

    def flat(self) -> dict[str, Any]:
        """The settings by flag-era name, as ``stats.json``'s ``config`` has always held them."""
        t, m = self.translate, self.finalize.minhash
        values = {
            "source": self.source,
            "target_languages": self.target_languages,
            "targets_were_auto": self.targets_were_auto,
            "targets_per_pair": t.targets_per_pair,
            "translator": t.translator,
            "model": t.model,
            "num_samples": t.num_samples,
            "temperature": t.temperature,
            "max_tokens": t.max_tokens,
            "openai_base_url": t.openai_base_url,
            "openai_api_key_env": t.openai_api_key_env,
            "openai_concurrency": t.openai_concurrency,
            "openai_timeout_s": t.openai_timeout_s,
            "openai_retries": t.openai_retries,
            "vllm_server_kwargs": self.vllm_server_kwargs,
            "vllm_chat_template_path": t.vllm_chat_template_path,
            "hf_device": t.hf_device,
            "hf_batch_size": t.hf_batch_size,
            "repair_rounds": self.repair_rounds,
            "sandbox": self.sandbox,
            "require": self.require,
            "output": self.output,
            "cache_root": self.cache_root,
            "num_shards": self.num_shards,
            "dedup_threshold": m.threshold,
            "num_perm": m.num_perm,
            "ngram": m.ngram,
            "decontaminate": self.finalize.eval_sets,
            "split_fractions": self.finalize.splits.fractions,
            "seed": self.seed,
            "max_code_bytes": self.sources.max_code_bytes,
            "licenses": self.licenses,
            "emit_repo_corpus": self.emit_repo_corpus,
            "repo_corpus_max_file_bytes": self.corpus.max_file_bytes,
        }
        return {
            k: (
                list(v)
                if isinstance(v, tuple)
                else v
                if isinstance(v, (int, float, bool, type(None)))
                else str(v)
            )
            for k, v in values.items()
        }


def _decontaminate_sets(sets: tuple[str, ...], source: str) -> tuple[str, ...]:
    """``auto``: HumanEval, unless HumanEval is what we are building from (it would remove all)."""
    if sets == ("auto",):
        return () if source == "humaneval" else ("humaneval",)
    return sets


def run_config_from_options(options: PipelineOptions) -> RunConfig:
    """Build each stage's config from its flags; a bad value raises ``ValueError`` with a clear message."""
    o = options.view_as(CodeTransOptions)
    run = build(RunSettings, o)
    _, auto = parse_targets(o.target_languages)
    sources = build(SourceConfig, o)
    finalize = build(
        FinalizeConfig,
        o,
        minhash=build(MinHashConfig, o, seed=run.seed, column="code", id_column="id"),
        splits=build(SplitConfig, o, seed=run.seed, column="repository_name"),
    )
    finalize = dataclasses.replace(
        finalize, eval_sets=_decontaminate_sets(finalize.eval_sets, run.source)
    )
    return RunConfig(
        run=run,
        sources=sources,
        corpus=build(CorpusConfig, o, licenses=sources.licenses),
        translate=build(TranslateConfig, o, seed=run.seed),
        repair=build(RepairConfig, o),
        execute=build(ExecuteConfig, o),
        finalize=finalize,
        targets_were_auto=auto,
    )


def flags_markdown() -> str:
    """docs/flags.md: every flag of ``python -m pipeline.run`` by stage, from the same
    declarations as ``--help`` (``python -m pipeline.options > docs/flags.md`` rewrites it)."""
    parser = help_parser()
    lines = [
        "# Flags of `python -m pipeline.run`",
        "",
        "Generated from the stage configs' declarations (`pipeline/settings.py`, `pipeline/options.py`)",
        "by `python -m pipeline.options > docs/flags.md`; `tests/test_cli_flags.py` checks it matches",
        "`--help`. Beam's own flags (`--runner`, `--direct_num_workers`, ...) are Beam's.",
    ]
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.option_strings and a.dest != "help"]
        if not actions:
            continue
        lines += ["", f"## {group.title}", "", "| flag | default | help |", "| --- | --- | --- |"]
        for action in actions:
            default = "" if action.default in (None, "", False) else f"`{action.default}`"
            choices = f" One of: {', '.join(action.choices)}." if action.choices else ""
            text = " ".join((action.help or "").split())
            text = (
                text.rsplit(" (default: ", 1)[0]
                if text.endswith(")") and " (default: " in text
                else text
            )
            text = text.replace("|", "\\|")
            lines.append(f"| `{action.option_strings[0]}` | {default} | {text}{choices} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(flags_markdown(), end="")
