"""The dataset card's YAML metadata (``configs``, ``dataset_info`` ...) derived from the shards.

The Hub and ``datasets.load_dataset`` read a dataset repository's splits, features and sizes
from the YAML front matter of its ``README.md``. We build that block with the same library
calls ``datasets.Dataset.push_to_hub`` uses (``datasets.Features.from_arrow_schema``,
``DatasetInfosDict.to_dataset_card_data``, ``MetadataConfigs.to_dataset_card_data`` into a
``huggingface_hub.DatasetCardData``), so the format is exactly what ``datasets`` writes and
reads back, and fill splits and sizes from the parquet footers so it always matches the files.

Used by ``pipeline.card`` (the card of a local run) and ``pipeline.release`` (re-rendered
before an upload). Pure: reads parquet footers and two small columns, writes nothing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from schemas import RELEASE_SCHEMA, SPLITS

#: ``{split}-SSSSS-of-NNNNN.parquet``, the layout the Hub's parquet loader understands.
SHARD_RE = re.compile(r"^(?P<split>[A-Za-z0-9_]+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")

#: The Hub's ``size_categories`` buckets (upper bounds, exclusive), as the Hub validates them.
_SIZE_BUCKETS: tuple[tuple[int, str], ...] = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
)

#: Columns whose values name programming languages (target, source).
LANGUAGE_COLUMNS: tuple[str, ...] = ("language2", "language1_CSN")

DEFAULT_TASK_CATEGORIES: tuple[str, ...] = ("text-retrieval", "feature-extraction")
DEFAULT_TAGS: tuple[str, ...] = ("code", "code-search", "code-translation", "synthetic")


@dataclasses.dataclass(frozen=True)
class SplitFiles:
    """The shards of one split and what their footers say."""

    name: str
    paths: tuple[Path, ...]
    num_examples: int
    num_bytes: int  # uncompressed column-chunk bytes (row groups' total_byte_size)
    download_size: int  # bytes on disk


def size_category(num_rows: int) -> str:
    """The Hub's ``size_categories`` value for a row count."""
    if num_rows < 0:
        raise ValueError(f"num_rows must be >= 0, got {num_rows}")
    for bound, label in _SIZE_BUCKETS:
        if num_rows < bound:
            return label
    return "n>1T"


def shard_split(path: Path) -> str | None:
    """The split a shard file belongs to by its name, or None if it is not a shard."""
    match = SHARD_RE.match(path.name)
    return match.group("split") if match else None


def scan_splits(data_dir: Path, splits: Sequence[str] = SPLITS) -> dict[str, SplitFiles]:
    """Group ``data_dir``'s shards by split and read rows/bytes from their parquet footers.

    Splits without shards are left out (an empty glob would make ``load_dataset`` fail).

    Raises:
        ValueError: ``data_dir`` is not a directory, a shard's footer cannot be read, or a file
            named like a shard of an unknown split is present (the ``{split}-*`` globs would
            silently ignore it).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ValueError(f"{data_dir} is not a directory of parquet shards")
    grouped: dict[str, list[Path]] = {}
    for path in sorted(data_dir.glob("*.parquet")):
        split = shard_split(path)
        if split is None:
            continue
        if split not in splits:
            raise ValueError(
                f"{path.name}: unknown split {split!r} (expected one of {list(splits)})"
            )
        grouped.setdefault(split, []).append(path)
    out: dict[str, SplitFiles] = {}
    for split in splits:
        paths = grouped.get(split)
        if not paths:
            continue
        rows = nbytes = disk = 0
        for path in paths:
            try:
                meta = pq.read_metadata(path)
            except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
                raise ValueError(f"{path.name}: unreadable parquet ({exc})") from None
            rows += meta.num_rows
            nbytes += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            disk += path.stat().st_size
        out[split] = SplitFiles(split, tuple(paths), rows, nbytes, disk)
    return out


def languages_present(
    paths: Iterable[Path], columns: Sequence[str] = LANGUAGE_COLUMNS
) -> list[str]:
    """Sorted distinct non-null values of the language columns across the shards."""
    found: set[str] = set()
    for path in paths:
        table = pq.read_table(path, columns=list(columns))
        for column in columns:
            found.update(v for v in table.column(column).unique().to_pylist() if v)
    return sorted(found)


def _language_tag(language: str) -> str:
    """A Hub-friendly tag for a programming language (lower case, ``c++`` -> ``cpp``)."""
    tag = language.strip().lower().replace("c++", "cpp").replace("c#", "csharp")
    return re.sub(r"[^a-z0-9-]+", "-", tag).strip("-")


def hub_yaml(
    data_dir: Path,
    *,
    license: str,
    pretty_name: str,
    data_prefix: str = "data",
    config_name: str = "default",
    task_categories: Sequence[str] = DEFAULT_TASK_CATEGORIES,
    tags: Sequence[str] = DEFAULT_TAGS,
    natural_languages: Sequence[str] = ("en",),
    splits: Sequence[str] = SPLITS,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The card's YAML metadata for the release shards in ``data_dir``.

    Args:
        data_dir: the directory holding ``{split}-SSSSS-of-NNNNN.parquet`` (``DIR/data``).
        license: the Hub license id (``other`` when rows keep their repositories' licenses).
        pretty_name: the human-readable dataset name.
        data_prefix: the folder of the shards inside the dataset repository (globs become
            ``{data_prefix}/{split}-*``).
        config_name: the single config's name.
        task_categories: Hub task categories.
        tags: free tags; the programming languages present are appended.
        natural_languages: ISO codes of the docstrings' languages; ``code`` is appended.
        splits: the split names to look for, in order.
        extra: more top-level keys (``source_datasets``, ``annotations_creators`` ...).

    Returns:
        A plain dict (key order as the Hub shows it): ``license``, ``language``,
        ``task_categories``, ``tags``, ``size_categories``, ``pretty_name``, ``configs``,
        ``dataset_info`` (features in the Hub's format from ``schemas.RELEASE_SCHEMA``,
        splits with ``num_bytes``/``num_examples``, ``download_size``, ``dataset_size``).

    Raises:
        ValueError: no shards in ``data_dir`` or an empty license/pretty name.
    """
    if not license:
        raise ValueError("license must be a Hub license id such as 'other' or 'apache-2.0'")
    if not pretty_name:
        raise ValueError("pretty_name must not be empty")
    found = scan_splits(Path(data_dir), splits)
    if not found:
        raise ValueError(f"no shards named {{split}}-SSSSS-of-NNNNN.parquet in {data_dir}")

    # Heavy imports (~3 s) only when metadata is actually built.
    import datasets
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    info = DatasetInfo(features=datasets.Features.from_arrow_schema(RELEASE_SCHEMA))
    info.splits = datasets.SplitDict()
    for split in found.values():
        info.splits.add(
            datasets.SplitInfo(
                name=split.name, num_bytes=split.num_bytes, num_examples=split.num_examples
            )
        )
    info.download_size = sum(s.download_size for s in found.values())
    info.dataset_size = sum(s.num_bytes for s in found.values())

    all_paths = [p for s in found.values() for p in s.paths]
    code_tags = [_language_tag(lang) for lang in languages_present(all_paths)]
    tag_list = list(dict.fromkeys([*tags, *code_tags]))
    total_rows = sum(s.num_examples for s in found.values())

    card_data = DatasetCardData(
        license=license,
        language=list(dict.fromkeys([*natural_languages, "code"])),
        task_categories=list(task_categories),
        size_categories=[size_category(total_rows)],
        pretty_name=pretty_name,
        tags=tag_list,
    )
    prefix = data_prefix.strip("/")
    data_files = [
        {"split": name, "path": f"{prefix}/{name}-*" if prefix else f"{name}-*"} for name in found
    ]
    MetadataConfigs({config_name: {"data_files": data_files}}).to_dataset_card_data(card_data)
    DatasetInfosDict({config_name: info}).to_dataset_card_data(card_data)

    meta = card_data.to_dict()
    order = ("license", "language", "task_categories", "tags", "size_categories", "pretty_name")
    out: dict[str, Any] = {k: meta[k] for k in order if k in meta}
    out.update({k: v for k, v in (extra or {}).items()})
    out["configs"] = meta["configs"]
    out["dataset_info"] = meta["dataset_info"]
    return out


def render_front_matter(meta: Mapping[str, Any]) -> str:
    """The YAML block between ``---`` lines that opens a dataset card."""
    body = yaml.safe_dump(dict(meta), sort_keys=False, allow_unicode=True, default_flow_style=False)
    return f"---\n{body}---\n"


def split_front_matter(card: str) -> tuple[dict[str, Any], str]:
    """Split a card into its YAML metadata (``{}`` when it has none) and its markdown body."""
    if card.startswith("---\n"):
        end = card.find("\n---", 4)
        if end != -1:
            meta = yaml.safe_load(card[4:end]) or {}
            if not isinstance(meta, dict):
                raise ValueError("the card's front matter is not a YAML mapping")
            body_start = card.find("\n", end + 4)
            body = card[body_start + 1 :] if body_start != -1 else ""
            return meta, body
    return {}, card


def replace_front_matter(card: str, meta: Mapping[str, Any]) -> str:
    """``card`` with its YAML block replaced by ``meta`` (prepended when it had none)."""
    _, body = split_front_matter(card)
    return render_front_matter(meta) + body
