"""Command-line options of the pipeline (DESIGN.md section 4) and their mapping to stage configs.

Our flags live in a Beam ``PipelineOptions`` subclass so that one argv carries both ours and
Beam's own (``--runner``, ``--direct_num_workers``, Dataflow/Spark/Flink flags), and the
same options object travels to remote workers. ``run_config_from_options`` is the one place
where flags become the frozen config the graph is built from.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions

# The valid values live with the stages that interpret them.
from pipeline.execute import REQUIREMENTS, SANDBOXES
from pipeline.sources.license_policy import LicensePolicy, parse_license_policy
from pipeline.sources.spec import SPEC_HELP
from pipeline.translate.base import ALL_TARGETS as DEFAULT_TARGETS
from pipeline.translate.base import TRANSLATORS
from pipeline.translate.server_args import parse_server_kwargs


class CodeTransOptions(PipelineOptions):
    """Flags of ``python -m pipeline.run`` (Beam's own flags are parsed by Beam)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        add = parser.add_argument
        add("--source", default="sample",
            help=SPEC_HELP)
        add("--target_languages", default="auto",
            help="comma-separated target languages (the source language itself is skipped); "
                 "'auto' = all nine, or the translator's own targets when it is rule-based (py2many: cpp,go,rust)")
        add("--targets_per_pair", type=int, default=0,
            help="translate each pair into a seeded random subset of K targets (0 = all)")
        add("--translator", default="auto", choices=TRANSLATORS)
        add("--model", default=None, help="model name or path for vllm/openai/hf translators")
        add("--num_samples", type=int, default=1, help="samples per (pair, target); best passing kept")
        add("--temperature", type=float, default=0.0)
        add("--max_tokens", type=int, default=1024)
        add("--openai_base_url", default=None, help="OpenAI-compatible endpoint, e.g. http://host:8000/v1")
        add("--openai_api_key_env", default="OPENAI_API_KEY",
            help="environment variable holding the endpoint's API key (unset: no key)")
        add("--openai_concurrency", type=int, default=8, help="requests in flight per worker process")
        add("--openai_timeout_s", type=float, default=120.0, help="seconds per HTTP attempt")
        add("--openai_retries", type=int, default=4,
            help="retries of the openai client (exponential backoff, honours Retry-After)")
        add("--vllm_server_kwargs", default="",
            help="extra vLLM server flags: k=v,flag,k={json} (a bare flag has no value), a JSON object, "
                 "or @FILE / FILE.yaml|.json; e.g. max-model-len=8192,enable-prefix-caching,max-num-seqs=256")
        add("--vllm_chat_template_path", default=None, help="chat template file for the vLLM server")
        add("--hf_device", default="auto", help="hf translator device: auto | cpu | cuda[:N]")
        add("--hf_batch_size", type=int, default=8)
        add("--repair_rounds", type=int, default=0,
            help="send translations rejected at the parse check or execution back to the model with the "
                 "parser's, compiler's or failing examples' feedback, up to N times (0: no repair)")
        add("--sandbox", default="auto", choices=SANDBOXES)
        add("--require", default="default", choices=REQUIREMENTS,
            help="what enters the dataset: passed | compiled | parsed (default: passed where tests exist, compiled otherwise)")
        add("--output", default="./out", help="output directory (re-running over it resumes)")
        add("--cache_dir", default=None,
            help="where the translation/verdict caches live (default OUTPUT/cache): a local directory "
                 "(SQLite, one machine) or a URL on any Beam filesystem, e.g. s3://bucket/cache "
                 "(shards that every worker of a cluster reads)")
        add("--num_shards", type=int, default=1, help="parquet shards per split")
        add("--dedup_threshold", type=float, default=0.7, help="MinHash LSH Jaccard threshold (SynthCoNL: 0.7)")
        add("--num_perm", type=int, default=256, help="MinHash permutations (SynthCoNL: 256)")
        add("--ngram", type=int, default=5, help="character n-gram size (SynthCoNL: 5)")
        add("--decontaminate", default="auto",
            help="comma-separated eval sets (paths or 'humaneval'); 'auto' = humaneval unless it is the source; empty disables")
        add("--split_fractions", default="0.8,0.1,0.1", help="train,validation,test fractions by repository")
        add("--seed", type=int, default=1234)
        add("--max_code_bytes", type=int, default=100_000, help="larger source functions are rejected")
        add("--licenses", default="any",
            help="which source licenses pass: any | permissive | comma-separated SPDX ids (mit,apache-2.0); "
                 "refused pairs are rejected as license_unknown / license_not_allowed")
        add("--emit_repo_corpus", action="store_true",
            help="with a repo: source, also write OUTPUT/repo_corpus: whole files for the trainer's in-context loss")
        add("--repo_corpus_max_file_bytes", type=int, default=1_000_000, help="larger files stay out of the repo corpus")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything the graph needs, validated; built only by ``run_config_from_options``."""

    source: str
    target_languages: tuple[str, ...]
    targets_were_auto: bool
    targets_per_pair: int
    translator: str
    model: str | None
    num_samples: int
    temperature: float
    max_tokens: int
    openai_base_url: str | None
    openai_api_key_env: str
    openai_concurrency: int
    openai_timeout_s: float
    openai_retries: int
    vllm_server_kwargs: tuple[tuple[str, str | None], ...]
    vllm_chat_template_path: str | None
    hf_device: str
    hf_batch_size: int
    repair_rounds: int
    sandbox: str
    require: str
    output: str
    cache_root: str | None
    num_shards: int
    dedup_threshold: float
    num_perm: int
    ngram: int
    decontaminate: tuple[str, ...]
    split_fractions: tuple[float, float, float]
    seed: int
    max_code_bytes: int
    licenses: LicensePolicy
    emit_repo_corpus: bool
    repo_corpus_max_file_bytes: int

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


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _decontaminate_sets(value: str, source: str) -> tuple[str, ...]:
    """``auto``: HumanEval, unless HumanEval is what we are building from (it would remove all)."""
    if value.strip() == "auto":
        return () if source == "humaneval" else ("humaneval",)
    return _csv(value)


def run_config_from_options(options: PipelineOptions) -> RunConfig:
    """Validate our flags and build the run config; raise ``ValueError`` with a clear message."""
    o = options.view_as(CodeTransOptions)
    targets = DEFAULT_TARGETS if o.target_languages.strip() == "auto" else tuple(
        t.lower() for t in _csv(o.target_languages)
    )
    if not targets:
        raise ValueError("--target_languages is empty")
    unknown = sorted(set(targets) - set(DEFAULT_TARGETS))
    if unknown:
        raise ValueError(
            f"unknown target language(s) {', '.join(unknown)}; valid: {', '.join(DEFAULT_TARGETS)}"
        )
    fractions = tuple(float(x) for x in _csv(o.split_fractions))
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"--split_fractions must be three non-negative numbers summing to 1, got {o.split_fractions!r}")
    if o.num_samples < 1:
        raise ValueError("--num_samples must be >= 1")
    if o.repair_rounds < 0:
        raise ValueError(f"--repair_rounds must be >= 0, got {o.repair_rounds}")
    if o.num_shards < 1:
        raise ValueError("--num_shards must be >= 1")
    if not 0 < o.dedup_threshold <= 1:
        raise ValueError("--dedup_threshold must be in (0, 1]")
    licenses = parse_license_policy(o.licenses)  # ValueError naming a bad id
    if o.emit_repo_corpus and not o.source.strip().lower().startswith("repo:"):
        raise ValueError(f"--emit_repo_corpus needs a repo:PATH source, got --source={o.source}")
    if o.repo_corpus_max_file_bytes <= 0:
        raise ValueError("--repo_corpus_max_file_bytes must be positive")
    return RunConfig(
        source=o.source,
        target_languages=targets,
        targets_were_auto=o.target_languages.strip() == "auto",
        targets_per_pair=o.targets_per_pair,
        translator=o.translator,
        model=o.model,
        num_samples=o.num_samples,
        temperature=o.temperature,
        max_tokens=o.max_tokens,
        openai_base_url=o.openai_base_url or os.environ.get("OPENAI_BASE_URL"),
        openai_api_key_env=o.openai_api_key_env,
        openai_concurrency=o.openai_concurrency,
        openai_timeout_s=o.openai_timeout_s,
        openai_retries=o.openai_retries,
        vllm_server_kwargs=tuple(parse_server_kwargs(o.vllm_server_kwargs).items()),
        vllm_chat_template_path=o.vllm_chat_template_path,
        hf_device=o.hf_device,
        hf_batch_size=o.hf_batch_size,
        repair_rounds=o.repair_rounds,
        sandbox=o.sandbox,
        require=o.require,
        output=o.output if "://" in o.output else str(Path(o.output).resolve()),
        cache_root=o.cache_dir,
        num_shards=o.num_shards,
        dedup_threshold=o.dedup_threshold,
        num_perm=o.num_perm,
        ngram=o.ngram,
        decontaminate=_decontaminate_sets(o.decontaminate, o.source),
        split_fractions=fractions,  # type: ignore[arg-type]
        seed=o.seed,
        max_code_bytes=o.max_code_bytes,
        licenses=licenses,
        emit_repo_corpus=bool(o.emit_repo_corpus),
        repo_corpus_max_file_bytes=o.repo_corpus_max_file_bytes,
    )
