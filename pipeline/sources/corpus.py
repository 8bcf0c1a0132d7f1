"""The repository corpus: whole source files of ``repo:`` repositories, for the in-context loss.

MoSE's pretraining adds in-context classification to MLM: several snippets are packed into
one context and the model tells whether they come from the same repository (docs/design.md,
"The model"). Isolated functions cannot teach that; whole repositories can. This stage walks
the same repositories as the ``repo:`` source (same roots, nested checkouts, skip rules and
license detection) but keeps every file of a known language, tests included, whole, up to a
size cap, and writes ``schemas.RepoFile`` rows (``repository_name``, ``path``, ``language``,
``content``, plus ``size_bytes``, ``license``, ``sha``).

* ``read_repo_corpus(spec, config, stats)``: the pure core (no pipeline), yields ``RepoFile``.
* ``ReadRepoCorpus(spec, config)``: the Beam transform (repositories are walked on workers,
  then files are spread); counters in namespace ``repo_corpus``: ``repositories``,
  ``files_written``, ``bytes_written``, ``files_<language>``, ``files_skipped_<reason>``.
* ``python -m pipeline.run --source=repo:... --emit_repo_corpus`` writes
  ``OUTPUT/repo_corpus/part-*.parquet`` next to the dataset; ``python -m pipeline.sources.corpus
  repo:PATH --output=DIR`` writes only the corpus. ``python -m model.train --corpus=DIR``
  reads it back grouped by repository.

Files are skipped, counted and never crash the run when they are in an unknown language,
binary, larger than the cap, broken symlinks (symlinks are never followed), not UTF-8,
unreadable, or in a repository whose license the policy refuses (``--licenses``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam

from pipeline.settings import setting
from pipeline.sources.core import SourceError, SourceStats
from pipeline.sources.repo import (
    FileSkip,
    expand_repository,
    file_language,
    find_repositories,
    read_text,
)
from pipeline.stage import StageFn
from schemas import REPO_FILE_SCHEMA, RepoFile

NAMESPACE = "repo_corpus"

#: Default cap on one corpus file: 1 MB keeps every hand-written file and drops generated blobs.
DEFAULT_MAX_FILE_BYTES = 1_000_000


@dataclasses.dataclass(frozen=True)
class CorpusConfig:
    """Settings of the repository corpus.

    Attributes:
        max_file_bytes: larger files are skipped (``files_skipped_too_large``).
        include_tests: keep test files and test directories (they are part of a repository's
            code; CodeSearchNet's test filter is about documentation pairs, not context).
        licenses: a ``pipeline.sources.licenses.LicensePolicy``; repositories it refuses are
            skipped file by file (``files_skipped_license``). None keeps every license.
    """

    max_file_bytes: int = setting(
        DEFAULT_MAX_FILE_BYTES,
        flag="repo_corpus_max_file_bytes",
        type=int,
        help="larger files stay out of the repo corpus",
    )
    include_tests: bool = True
    licenses: Any = None

    def __post_init__(self) -> None:
        if self.max_file_bytes <= 0:
            raise ValueError(f"max_file_bytes must be positive, got {self.max_file_bytes}")


def repository_units(spec: str) -> list[Any]:
    """The repository-root units of a ``repo:`` spec; ``SourceError`` for any other spec."""
    from pipeline.sources.spec import Unit

    kind, sep, rest = spec.strip().partition(":")
    if kind.lower() != "repo" or not sep:
        raise SourceError(f"the repository corpus needs a repo:PATH[,PATH...] source, got {spec!r}")
    return [Unit("repo_root", str(root)) for root in find_repositories(rest)]


def expand_corpus_unit(unit: Any, config: CorpusConfig, stats: SourceStats) -> Iterator[Any]:
    """A repository root -> one unit per file of a known language (tests included by default)."""
    yield from expand_repository(
        Path(unit.location), stats, config.max_file_bytes, config.include_tests
    )


def corpus_file(unit: Any, config: CorpusConfig, stats: SourceStats) -> RepoFile | None:
    """The ``RepoFile`` of one file unit, or None (counted in ``stats.files``) when it is skipped."""
    info = unit.repo
    if config.licenses is not None and config.licenses.check(info.license) is not None:
        stats.files[f"skipped_{FileSkip.LICENSE}"] += 1
        return None
    path = Path(info.root) / unit.location
    text, skip, _message = read_text(path, config.max_file_bytes)
    if text is None:
        stats.files[f"skipped_{skip}"] += 1
        return None
    language = file_language(unit.location, text)
    stats.files["written"] += 1
    stats.files[language] += 1
    size = len(text.encode("utf-8"))
    stats.files["bytes_written"] += size
    return RepoFile(
        info.repository_name, unit.location, language, text, size, info.license, info.sha
    )


def read_repo_corpus(
    spec: str, config: CorpusConfig | None = None, stats: SourceStats | None = None
) -> Iterator[RepoFile]:
    """Every corpus file of the repositories ``spec`` names, repository by repository."""
    config = config or CorpusConfig()
    stats = stats if stats is not None else SourceStats()
    for root in repository_units(spec):
        for unit in expand_corpus_unit(root, config, stats):
            record = corpus_file(unit, config, stats)
            if record is not None:
                yield record


def counts(stats: SourceStats) -> dict[str, int]:
    """The corpus counters of ``stats`` under their Beam names (``files_written`` ...)."""
    names = {key: key if key == "bytes_written" else f"files_{key}" for key in stats.files}
    return {
        "repositories": stats.repositories,
        **{names[k]: n for k, n in sorted(stats.files.items())},
    }


class _CorpusFn(StageFn):
    """Expand repository roots (``expand=True``) or read file units, forwarding the counters."""

    NAMESPACE = NAMESPACE

    def __init__(self, config: CorpusConfig, expand: bool) -> None:
        self._config = config
        self._expand = expand

    def process(self, unit):
        stats = SourceStats()
        if self._expand:
            yield from expand_corpus_unit(unit, self._config, stats)
        else:
            record = corpus_file(unit, self._config, stats)
            if record is not None:
                yield record.to_row()
        for name, n in counts(stats).items():
            self.count(name, n)


class ReadRepoCorpus(beam.PTransform):
    """``repo:`` spec -> PCollection of ``RepoFile`` row dicts (``REPO_FILE_SCHEMA``).

    Raises ``SourceError`` at construction when the spec is not a readable ``repo:`` spec.
    """

    def __init__(self, spec: str, config: CorpusConfig | None = None) -> None:
        super().__init__()
        self._config = config or CorpusConfig()
        self._units = repository_units(spec)

    def expand(self, pbegin):
        return (
            pbegin
            | "Repositories" >> beam.Create(self._units)
            | "SpreadRepositories" >> beam.Reshuffle()
            | "WalkRepositories" >> beam.ParDo(_CorpusFn(self._config, expand=True))
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadFiles" >> beam.ParDo(_CorpusFn(self._config, expand=False))
        )


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.sources.corpus repo:PATH[,PATH...] --output=DIR``: write only the corpus."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.sources.corpus", description=__doc__.splitlines()[0]
    )
    parser.add_argument("spec", help="repo:PATH[,PATH...] (directories or globs)")
    parser.add_argument(
        "--output",
        required=True,
        help="directory for part-*.parquet and _corpus_stats.json (parquet readers skip _ files)",
    )
    parser.add_argument("--max_file_bytes", type=int, default=DEFAULT_MAX_FILE_BYTES)
    parser.add_argument(
        "--licenses", default="any", help="permissive | any | comma-separated SPDX ids"
    )
    parser.add_argument("--exclude_tests", action="store_true", help="leave test files out")
    parser.add_argument("--num_shards", type=int, default=1)
    args, beam_args = parser.parse_known_args(argv)
    try:
        config = CorpusConfig(args.max_file_bytes, not args.exclude_tests, _policy(args.licenses))
        transform = ReadRepoCorpus(args.spec, config)
    except (SourceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.sinks import WriteRows, make_dirs, write_json_atomic

    make_dirs(args.output)
    started = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(beam_args)) as p:
        _ = (
            p
            | "Corpus" >> transform
            | "Write"
            >> WriteRows(
                str(Path(args.output) / "part"), REPO_FILE_SCHEMA, num_shards=args.num_shards
            )
        )
    result = p.result
    totals = {
        c.key.metric.name: int(c.committed or 0)
        for c in result.metrics().query()["counters"]
        if c.key.metric.namespace == NAMESPACE
    }
    summary = {
        "spec": args.spec,
        **dict(sorted(totals.items())),
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_json_atomic(str(Path(args.output) / "_corpus_stats.json"), summary)
    print(json.dumps(summary, indent=1))
    return 0


def _policy(text: str):
    if text.strip().lower() == "any":
        return None
    from pipeline.sources.licenses import parse_license_policy

    return parse_license_policy(text)


if __name__ == "__main__":
    sys.exit(main())
