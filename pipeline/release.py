"""Publish a pipeline output directory as a Hugging Face dataset (docs/design.md, "Running and outputs").

``python -m pipeline.release DIR --repo_id=ORG/NAME [--dry_run]`` does, in order:

1. **Stage** a release folder: ``data/{split}-SSSSS-of-NNNNN.parquet`` (hard links, else
   copies), the card ``README.md`` with its YAML re-rendered by ``pipeline.hub_metadata`` from
   the staged shards (so ``configs``/``dataset_info`` match the files byte for byte), the
   top-level plots and ``stats.json``. ``rejected/`` only with ``--include_rejected``; caches,
   staging and anything else are left out.
2. **Validate** it: every shard readable, its schema equal to ``schemas.RELEASE_SCHEMA`` with
   our ``schema_version``, each row's ``split`` equal to its file's split, rows per split equal to
   ``stats.json``'s ``splits``, no ``pair_id`` and no ``repository_name`` in two splits
   (the splits are repository-disjoint, docs/design.md, "Dedup, decontamination and splits").
3. ``--dry_run``: **load it back** with ``datasets.load_dataset("parquet", data_files=<the card's
   globs>)`` offline and check features (SynthCoNL's eight columns first) and row counts against
   ``stats.json``; print the summary and stop.
4. Otherwise **upload** with ``huggingface_hub``: ``create_repo(repo_type="dataset",
   exist_ok=True)``, then ``upload_folder`` with a commit message naming the run id, deleting
   shards of an earlier release that this one does not have.

User errors (missing DIR, no token, counts that disagree with ``stats.json``) print one line
and exit with code 2; a failed upload exits with 1. No tracebacks for either.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from pipeline.hub_metadata import (
    SHARD_RE,
    hub_yaml,
    replace_front_matter,
    scan_splits,
    split_front_matter,
)
from pipeline.stats import RunStats
from schemas import RELEASE_SCHEMA, SCHEMA_VERSION, SPLITS, SYNTHCONL_COLUMNS, schema_version_of

EXIT_OK = 0
EXIT_UPLOAD_FAILED = 1
EXIT_USAGE = 2

#: Keys ``hub_yaml`` owns; any other key of the existing card's front matter is kept.
_GENERATED_KEYS = frozenset(
    {
        "license",
        "language",
        "task_categories",
        "tags",
        "size_categories",
        "pretty_name",
        "configs",
        "dataset_info",
    }
)
#: Remote paths an upload replaces: shards of an earlier release that this one lacks go away.
DELETE_PATTERNS: tuple[str, ...] = ("data/*.parquet", "rejected/*.parquet", "*.png")


class ReleaseError(Exception):
    """A problem the user can fix (bad DIR, counts that disagree, no token): exit code 2."""


class UploadError(Exception):
    """The Hub refused or could not be reached: exit code 1."""


@dataclasses.dataclass(frozen=True)
class ReleaseConfig:
    """Everything one release needs; built from the command line by ``parse_args``."""

    source: Path
    repo_id: str
    dry_run: bool = False
    private: bool = False
    revision: str | None = None
    token_env: str = "HF_TOKEN"
    large: bool = False
    include_rejected: bool = False
    staging_dir: Path | None = None
    license: str | None = None  # default: the card's, else "other"
    pretty_name: str | None = None  # default: the card's, else the repository name

    def __post_init__(self) -> None:
        parts = self.repo_id.split("/")
        if len(parts) != 2 or not all(parts):
            raise ReleaseError(f"--repo_id must look like ORG/NAME, got {self.repo_id!r}")


@dataclasses.dataclass(frozen=True)
class SplitSummary:
    """One split of a validated release folder."""

    name: str
    shards: int
    rows: int
    bytes_on_disk: int
    repositories: int


@dataclasses.dataclass(frozen=True)
class ReleaseSummary:
    """What was validated; printed as a table and sent as the commit description."""

    run_id: str
    folder: Path
    splits: tuple[SplitSummary, ...]
    files: tuple[str, ...]
    loaded_back: bool = False

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.splits)

    def table(self) -> str:
        lines = [
            f"release of run {self.run_id}: {self.rows} rows, {len(self.files)} files",
            "split | shards | rows | MB | repositories",
            "---|---|---|---|---",
        ]
        for s in self.splits:
            lines.append(
                f"{s.name} | {s.shards} | {s.rows} | {s.bytes_on_disk / 1e6:.3f} | {s.repositories}"
            )
        if self.loaded_back:
            lines.append(
                "loaded back with datasets.load_dataset: features and row counts match stats.json"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------- staging


def read_stats(source: Path) -> RunStats:
    """``DIR/stats.json``, checked for the keys a release relies on (``run_id``, ``splits``)."""
    path = source / "stats.json"
    if not path.is_file():
        raise ReleaseError(f"{path} not found: is {source} a pipeline output directory?")
    try:
        stats = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ReleaseError(f"{path} is not valid JSON: {exc}") from None
    splits = stats.get("splits")
    if not isinstance(stats.get("run_id"), str) or not isinstance(splits, dict):
        raise ReleaseError(f"{path} lacks 'run_id' (str) or 'splits' ({{split: rows}})")
    if any(s not in SPLITS for s in splits) or not all(isinstance(v, int) for v in splits.values()):
        raise ReleaseError(f"{path}: 'splits' must map {list(SPLITS)} to row counts, got {splits}")
    return RunStats.from_json(stats)


def _typed(stats: RunStats | Mapping[str, Any]) -> RunStats:
    return stats if isinstance(stats, RunStats) else RunStats.from_json(dict(stats))


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(src, dst)


def _temporary_folder(source: Path) -> Path:
    """A fresh folder inside DIR (same file system: shards are hard-linked, not copied)."""
    try:
        return Path(tempfile.mkdtemp(prefix=".release-", dir=source))
    except OSError:  # DIR is read-only: copy into the system's temp dir instead
        return Path(tempfile.mkdtemp(prefix="release-"))


def stage_release(source: Path, dest: Path, config: ReleaseConfig) -> Path:
    """Lay out the release folder ``dest`` from the output directory ``source``.

    Raises:
        ReleaseError: ``source`` has no shards or no card, or ``dest`` is not empty.
    """
    data = source / "data"
    if not data.is_dir():
        raise ReleaseError(
            f"{data} not found: run the pipeline first (python -m pipeline.run --output={source})"
        )
    shards = sorted(p for p in data.glob("*.parquet") if SHARD_RE.match(p.name))
    if not shards:
        raise ReleaseError(f"no shards named {{split}}-SSSSS-of-NNNNN.parquet in {data}")
    card_path = source / "README.md"
    if not card_path.is_file():
        raise ReleaseError(f"{card_path} not found: the dataset card is made by the pipeline run")
    if dest.exists() and any(dest.iterdir()):
        raise ReleaseError(f"staging folder {dest} is not empty")
    dest.mkdir(parents=True, exist_ok=True)

    for shard in shards:
        _link_or_copy(shard, dest / "data" / shard.name)
    if config.include_rejected and (source / "rejected").is_dir():
        for path in sorted((source / "rejected").glob("*.parquet")):
            _link_or_copy(path, dest / "rejected" / path.name)
    for path in sorted(source.glob("*.png")):
        _link_or_copy(path, dest / path.name)
    shutil.copy2(source / "stats.json", dest / "stats.json")

    card = card_path.read_text(encoding="utf-8")
    try:
        old_meta, _ = split_front_matter(card)
    except (yaml.YAMLError, ValueError) as exc:
        raise ReleaseError(f"{card_path}: unreadable YAML front matter ({exc})") from None
    license_id = config.license or old_meta.get("license") or "other"
    pretty_name = config.pretty_name or old_meta.get("pretty_name") or config.repo_id.split("/")[1]
    extra = {k: v for k, v in old_meta.items() if k not in _GENERATED_KEYS}
    try:
        meta = hub_yaml(
            dest / "data", license=str(license_id), pretty_name=str(pretty_name), extra=extra
        )
    except ValueError as exc:
        raise ReleaseError(str(exc)) from None
    (dest / "README.md").write_text(replace_front_matter(card, meta), encoding="utf-8")
    return dest


# --------------------------------------------------------------------------- validation


def _same_columns(schema: Any) -> bool:
    want = [(f.name, f.type) for f in RELEASE_SCHEMA]
    return [(f.name, f.type) for f in schema] == want


def validate_release(folder: Path, stats: RunStats | Mapping[str, Any]) -> ReleaseSummary:
    """Check the staged folder against the data contract and ``stats.json``.

    Raises:
        ReleaseError: with every problem found, one per line.
    """
    stats = _typed(stats)
    problems: list[str] = []
    try:
        found = scan_splits(folder / "data")
    except ValueError as exc:
        raise ReleaseError(str(exc)) from None
    owner_pair: dict[str, str] = {}
    owner_repo: dict[str, str] = {}
    summaries: list[SplitSummary] = []
    for split, files in found.items():
        repos: set[str] = set()
        for path in files.paths:
            try:
                table = pq.read_table(path, columns=["pair_id", "repository_name", "split"])
                schema = pq.read_schema(path)
            except Exception as exc:  # noqa: BLE001 - any reader error means an unusable shard
                problems.append(f"{path.name}: unreadable parquet ({exc})")
                continue
            if not _same_columns(schema):
                problems.append(
                    f"{path.name}: columns/types differ from schemas.RELEASE_SCHEMA: {schema.names}"
                )
            version = schema_version_of(schema)
            if version != SCHEMA_VERSION:
                problems.append(
                    f"{path.name}: schema_version {version!r}, expected {SCHEMA_VERSION!r}"
                )
            split_values = {v for v in table.column("split").unique().to_pylist() if v is not None}
            if split_values - {split}:
                problems.append(
                    f"{path.name}: rows with split {sorted(split_values - {split})} in the {split} shards"
                )
            for pair_id in table.column("pair_id").unique().to_pylist():
                other = owner_pair.setdefault(pair_id, split)
                if other != split:
                    problems.append(f"pair_id {pair_id} is in both {other} and {split}")
            for repo in table.column("repository_name").unique().to_pylist():
                if repo is None:
                    continue
                repos.add(repo)
                other = owner_repo.setdefault(repo, split)
                if other != split:
                    problems.append(f"repository {repo} is in both {other} and {split}")
        summaries.append(
            SplitSummary(
                split, len(files.paths), files.num_examples, files.download_size, len(repos)
            )
        )

    expected = {s: int(n) for s, n in stats.splits.items()}
    actual = {s.name: s.rows for s in summaries}
    for split in SPLITS:
        if expected.get(split, 0) != actual.get(split, 0):
            problems.append(
                f"split {split}: {actual.get(split, 0)} rows in the shards, stats.json says {expected.get(split, 0)}"
            )
    released = stats.released_rows
    if isinstance(released, int) and released != sum(actual.values()):
        problems.append(
            f"{sum(actual.values())} rows in the shards, stats.json 'released_rows' says {released}"
        )
    if problems:
        raise ReleaseError("release check failed:\n  " + "\n  ".join(problems))
    files_list = tuple(sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()))
    return ReleaseSummary(str(stats.run_id), folder, tuple(summaries), files_list)


def load_back(folder: Path, stats: RunStats | Mapping[str, Any]) -> dict[str, int]:
    """Load the folder with ``datasets`` as a Hub user would, offline; return rows per split.

    The ``data_files`` are the card's own ``configs`` globs, so a wrong glob fails here too.

    Raises:
        ReleaseError: features or row counts differ from the contract / ``stats.json``.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(folder / "README.md")
    configs = card.data.to_dict().get("configs") or []
    if len(configs) != 1:
        raise ReleaseError(f"the card declares {len(configs)} configs, expected exactly one")
    data_files = {d["split"]: str(folder / d["path"]) for d in configs[0]["data_files"]}
    datasets.disable_progress_bars()
    want = datasets.Features.from_arrow_schema(RELEASE_SCHEMA)
    expected = {s: int(n) for s, n in _typed(stats).splits.items() if int(n) > 0}
    rows: dict[str, int] = {}
    # First the parquet loader on the card's globs, then the folder as a repository (the card's
    # YAML drives it and datasets checks dataset_info's split sizes against the files).
    attempts = (("parquet", {"data_files": data_files}), (str(folder), {}))
    with tempfile.TemporaryDirectory(prefix="release-load-") as cache:
        for path, kwargs in attempts:
            how = (
                f"load_dataset({path!r})"
                if path != "parquet"
                else "load_dataset('parquet', data_files=...)"
            )
            try:
                loaded = datasets.load_dataset(path, cache_dir=cache, **kwargs)
            except Exception as exc:  # noqa: BLE001 - report what datasets said, not a traceback
                raise ReleaseError(
                    f"{how} failed on the release folder: {type(exc).__name__}: {exc}"
                ) from None
            rows = {}
            for split, ds in loaded.items():
                if tuple(ds.column_names[: len(SYNTHCONL_COLUMNS)]) != SYNTHCONL_COLUMNS:
                    raise ReleaseError(
                        f"{how}, {split}: first columns {ds.column_names[:8]}, expected {list(SYNTHCONL_COLUMNS)}"
                    )
                if ds.features != want:
                    raise ReleaseError(
                        f"{how}, {split}: features {ds.features} differ from schemas.RELEASE_SCHEMA"
                    )
                rows[split] = ds.num_rows
            del loaded  # release memory-mapped files before the cache folder goes
            if rows != expected:
                raise ReleaseError(f"{how} gave {rows} rows per split, stats.json says {expected}")
    return rows


# --------------------------------------------------------------------------- upload


def default_api_factory(token: str) -> Any:
    """The real Hub client."""
    from huggingface_hub import HfApi

    return HfApi(token=token)


def upload(folder: Path, summary: ReleaseSummary, config: ReleaseConfig, api: Any) -> Any:
    """Create the dataset repository (if needed) and upload the release folder to it.

    ``upload_folder`` (huggingface_hub 2.x batches large folders into several commits and
    resumes an interrupted upload by itself). With ``--large`` and a 0.25-1.x client that still
    has ``upload_large_folder``, that is used instead, followed by a commit deleting stale shards.
    """
    repo_type = "dataset"
    api.create_repo(config.repo_id, repo_type=repo_type, private=config.private, exist_ok=True)
    if config.revision:
        api.create_branch(
            config.repo_id, branch=config.revision, repo_type=repo_type, exist_ok=True
        )
    message = f"Release run {summary.run_id} ({summary.rows} rows)"
    if config.large and hasattr(api, "upload_large_folder"):
        api.upload_large_folder(
            repo_id=config.repo_id,
            folder_path=str(folder),
            repo_type=repo_type,
            revision=config.revision,
            private=config.private,
        )
        local = set(summary.files)
        stale = [
            f
            for f in api.list_repo_files(
                config.repo_id, repo_type=repo_type, revision=config.revision
            )
            if f not in local and any(Path(f).match(p) for p in DELETE_PATTERNS)
        ]
        if stale:
            api.delete_files(
                config.repo_id,
                delete_patterns=stale,
                repo_type=repo_type,
                revision=config.revision,
                commit_message=f"{message}: remove shards of earlier releases",
            )
        return None
    return api.upload_folder(
        repo_id=config.repo_id,
        folder_path=str(folder),
        repo_type=repo_type,
        revision=config.revision,
        commit_message=message,
        commit_description=summary.table(),
        delete_patterns=list(DELETE_PATTERNS),
    )


# --------------------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str] | None) -> ReleaseConfig:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.release", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("source", type=Path, metavar="DIR", help="a pipeline output directory")
    parser.add_argument("--repo_id", required=True, help="ORG/NAME of the dataset repository")
    parser.add_argument(
        "--dry_run", action="store_true", help="build, check and load back; upload nothing"
    )
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument("--revision", default=None, help="branch to commit to (created if missing)")
    parser.add_argument(
        "--token_env", default="HF_TOKEN", help="environment variable holding the token"
    )
    parser.add_argument(
        "--large", action="store_true", help="use upload_large_folder where the client has it"
    )
    parser.add_argument(
        "--include_rejected", action="store_true", help="also publish rejected/*.parquet"
    )
    parser.add_argument(
        "--staging_dir", type=Path, default=None, help="build the folder here and keep it"
    )
    parser.add_argument(
        "--license", default=None, help="Hub license id (default: the card's, else 'other')"
    )
    parser.add_argument("--pretty_name", default=None, help="dataset name shown on the Hub")
    args = parser.parse_args(argv)
    return ReleaseConfig(**vars(args))


def release(
    config: ReleaseConfig,
    *,
    api_factory: Callable[[str], Any] = default_api_factory,
    out: Any = None,
) -> ReleaseSummary:
    """Stage, validate, then load back (dry run) or upload. See the module docstring."""
    out = out or sys.stdout
    source = config.source
    if not source.is_dir():
        raise ReleaseError(f"{source} is not a directory")
    stats = read_stats(source)
    token = None
    if not config.dry_run:
        token = os.environ.get(config.token_env)
        if not token:
            raise ReleaseError(
                f"no Hub token: set {config.token_env} (or pass --token_env=NAME), or use --dry_run"
            )
    keep = config.staging_dir is not None
    folder = config.staging_dir or _temporary_folder(source)
    try:
        stage_release(source, folder, config)
        summary = validate_release(folder, stats)
        if config.dry_run:
            load_back(folder, stats)
            summary = dataclasses.replace(summary, loaded_back=True)
            print(summary.table(), file=out)
            print(
                "dry run: nothing uploaded"
                + (f"; release folder kept at {folder}" if keep else ""),
                file=out,
            )
            return summary
        api = api_factory(token)
        try:
            upload(folder, summary, config, api)
        except ReleaseError:
            raise
        except Exception as exc:  # noqa: BLE001 - network/auth errors become one readable line
            raise UploadError(
                f"upload to {config.repo_id} failed: {type(exc).__name__}: {exc}"
            ) from None
        print(summary.table(), file=out)
        print(f"uploaded to https://huggingface.co/datasets/{config.repo_id}", file=out)
        return summary
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def main(
    argv: list[str] | None = None, *, api_factory: Callable[[str], Any] = default_api_factory
) -> int:
    try:
        config = parse_args(argv)
        release(config, api_factory=api_factory)
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UploadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UPLOAD_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
