"""Hugging Face datasets as a source: ``hf:NAME[:CONFIG][:SPLIT]``, read shard by shard.

A spec resolves into ``HubShard``s, one per piece of the dataset that a worker can read on
its own, so ``ReadSource``'s reshuffle spreads a large dataset over workers:

* a directory written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``
  (``state.json`` / ``dataset_dict.json``): one shard per ``.arrow`` file, read with pyarrow as
  an Arrow IPC stream, memory-mapped, batch by batch (never the whole dataset at once);
* a folder of parquet files in a Hub layout (``data/train-00000-of-00002.parquet``,
  ``train/0000.parquet``, ``CONFIG/train/*.parquet``): one shard per parquet file, the split
  chosen by ``datasets``' own file-name rules (``datasets.data_files.get_data_patterns``),
  the config by sub-directory;
* anything else (a Hub id, a local folder of JSON/CSV files): ``datasets.load_dataset(NAME,
  CONFIG, split=SPLIT, streaming=True)``, one shard per ``IterableDataset.num_shards``, each
  worker reading ``.shard(num_shards=N, index=K)`` of its own stream.

Spec rule: parts are separated by ``:`` (a ``:`` inside ``[...]`` belongs to a split slice);
a Hub id may end in ``@REVISION`` (branch, tag or commit: ``org/name@v1.0``), and a streamed
Hub dataset is pinned to one commit when the spec is resolved, so every worker reads the same.
With two parts after NAME they are CONFIG and SPLIT; with one it is the SPLIT when it looks
like one (``train``, ``test``, ``validation``, ``valid``, ``dev``, or any name with a slice
such as ``train[:1000]``) and otherwise the CONFIG (split ``train``). Hub ids have one ``/``
(``org/name``); local paths may have many ``/`` but no ``:``.

Bad input never crashes a run: a shard that breaks part-way yields the rows before it plus one
``read_error`` row at ``hf:NAME:CONFIG:SPLIT:shard K:row N``; columns that fit no row shape
give one ``unknown_format`` row; an unknown split or config raises ``SourceError`` (one line)
listing the available ones. Set ``HF_HUB_OFFLINE=1`` where the Hub cannot be reached.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pipeline.sources.core import Reason, SourceError, reject
from pipeline.sources.files import Row
from pipeline.sources.rows import SHAPES, detect_shape
from schemas import RejectedRow

LOG = logging.getLogger(__name__)

DEFAULT_SPLIT = "train"
#: Shown in ``where`` labels when the spec names no config (the Hub's own name for it).
DEFAULT_CONFIG = "default"
#: A lone part after NAME is a split when it is one of these (or carries a slice).
SPLIT_WORDS: frozenset[str] = frozenset({"train", "test", "validation", "valid", "dev"})
#: Alternative split names ``datasets`` maps onto its canonical ``validation``.
_SPLIT_ALIASES: dict[str, str] = {"valid": "validation", "dev": "validation", "val": "validation"}

_SPLIT_RE = re.compile(r"^(?P<base>[A-Za-z0-9_.\-]+)(?:\[(?P<lo>-?\d+%?)?:(?P<hi>-?\d+%?)?\])?$")
_BATCH_ROWS = 1024
#: Directory names ``datasets`` reads as splits (``datasets.data_files.SPLIT_KEYWORDS``), never configs.
_SPLIT_DIR_NAMES: frozenset[str] = frozenset(
    {
        "train",
        "training",
        "validation",
        "valid",
        "dev",
        "val",
        "test",
        "testing",
        "eval",
        "evaluation",
    }
)


@dataclasses.dataclass(frozen=True)
class HfSpec:
    """A parsed ``hf:`` spec.

    Attributes:
        name: Hub id or local directory.
        config: the config named in the spec, or None.
        split: the split's name without its slice (``train``).
        lo, hi: the slice bounds as written (``"10"``, ``"-5"``, ``"50%"``) or None.
        revision: the Hub revision after ``@`` in the name (branch, tag or commit), or None.
    """

    name: str
    config: str | None = None
    split: str = DEFAULT_SPLIT
    lo: str | None = None
    hi: str | None = None
    revision: str | None = None

    @property
    def sliced(self) -> bool:
        return self.lo is not None or self.hi is not None

    @property
    def split_text(self) -> str:
        """The split as written, slice included (``train[:1000]``)."""
        if not self.sliced:
            return self.split
        return f"{self.split}[{self.lo or ''}:{self.hi or ''}]"

    @property
    def label(self) -> str:
        """``hf:NAME:CONFIG:SPLIT``, the prefix of every ``where`` of this source."""
        return f"hf:{self.name}:{self.config or DEFAULT_CONFIG}:{self.split_text}"


@dataclasses.dataclass(frozen=True)
class HubShard:
    """One independently readable piece of a Hub dataset (what one Beam unit reads).

    Attributes:
        label: ``hf:NAME:CONFIG:SPLIT`` (the ``where`` prefix).
        fmt: ``arrow`` (a ``save_to_disk`` file), ``parquet`` or ``stream`` (``load_dataset``).
        path: the file (``arrow``/``parquet``) or the dataset name (``stream``).
        index: K, this shard's number (0-based), and num_shards: how many the source has.
        config, split: what ``load_dataset`` is called with (``stream`` only).
        start, stop: the rows of this shard to read (a split slice), ``stop`` None = to the end.
        shapes: the row shapes this source accepts (``synthconl:hf:`` accepts only ``synthconl``).
        streaming: ``load_dataset(..., streaming=...)``.
        revision: the Hub commit every worker reads (``stream`` only; pinned when the spec is
            resolved, so a dataset updated mid-run cannot mix two versions), or None.
    """

    label: str
    fmt: str
    path: str
    index: int = 0
    num_shards: int = 1
    config: str | None = None
    split: str = DEFAULT_SPLIT
    start: int = 0
    stop: int | None = None
    shapes: tuple[str, ...] = SHAPES
    streaming: bool = True
    revision: str | None = None


# --- the spec ----------------------------------------------------------------------------------


def is_split_like(part: str) -> bool:
    """Whether a lone part after NAME names a split (``SPLIT_WORDS`` or a slice) or a config."""
    match = _SPLIT_RE.match(part)
    return bool(match) and (match["base"] in SPLIT_WORDS or "[" in part)


def parse_hf_spec(rest: str) -> HfSpec:
    """``NAME[:CONFIG][:SPLIT]`` (the part after ``hf:``) -> ``HfSpec``; see the module docstring."""
    parts = _split_colons(rest.strip())
    if not parts or not parts[0]:
        raise SourceError(
            "hf: needs a dataset name, e.g. hf:code-search-net/code_search_net:python:test"
        )
    if len(parts) > 3:
        raise SourceError(
            f"hf:{rest}: too many ':'-separated parts; the form is hf:NAME[:CONFIG][:SPLIT] "
            "and a local path may not contain ':'"
        )
    name, config, split = parts[0], None, DEFAULT_SPLIT
    if len(parts) == 3:
        config, split = parts[1] or None, parts[2] or DEFAULT_SPLIT
    elif len(parts) == 2 and parts[1]:
        if is_split_like(parts[1]):
            split = parts[1]
        else:
            config = parts[1]
    match = _SPLIT_RE.match(split)
    if not match:
        raise SourceError(
            f"hf:{rest}: {split!r} is not a split name (e.g. train, test, train[:1000], train[10%:20%])"
        )
    revision = None
    if "@" in name and not Path(name).expanduser().exists():  # org/name@v1.0: a Hub revision
        name, revision = name.rsplit("@", 1)
        if not name or not revision:
            raise SourceError(f"hf:{rest}: a revision is written NAME@REVISION, e.g. org/name@main")
    return HfSpec(name, config, match["base"], match["lo"], match["hi"], revision)


def _split_colons(text: str) -> list[str]:
    """``text`` split at ``:`` outside ``[...]`` (a slice's ``:`` stays in its part)."""
    parts, depth, current = [], 0, []
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if ch == ":" and depth <= 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def slice_bounds(spec: HfSpec, total: int) -> tuple[int, int]:
    """Absolute ``[start, stop)`` of the spec's slice over ``total`` rows (Python slice rules;
    percentages rounded to the nearest row, as ``datasets``' ``ReadInstruction`` does)."""

    def bound(text: str | None, default: int) -> int:
        if text is None:
            return default
        value = round(total * int(text[:-1]) / 100) if text.endswith("%") else int(text)
        if value < 0:
            value += total
        return min(max(value, 0), total)

    start, stop = bound(spec.lo, 0), bound(spec.hi, total)
    return start, max(start, stop)


# --- resolving ---------------------------------------------------------------------------------


def resolve_hf(
    rest: str, shapes: tuple[str, ...] = SHAPES, streaming: bool = True
) -> tuple[HubShard, ...]:
    """The shards of ``hf:REST``; ``SourceError`` (one line) when the dataset cannot be read.

    When the columns are known here and fit none of ``shapes``, only the first shard is kept,
    so the reader reports the source once as ``unknown_format``.
    """
    spec = parse_hf_spec(rest)
    path = Path(spec.name).expanduser()
    shards: list[HubShard] | None = None
    columns: list[str] | None = None
    if path.exists():
        if not path.is_dir():
            raise SourceError(
                f"hf:{spec.name} is a file; hf: reads a dataset directory (use parquet:PATH or csn:PATH for files)"
            )
        found = _local_files(path, spec, spec.name)
        if found is not None:
            fmt, files = found
            shards, columns = _file_shards(spec, fmt, files, shapes)
    elif spec.name.count("/") > 1 or spec.name.startswith((".", "/", "~")):
        raise SourceError(
            f"hf:{spec.name}: no such dataset directory (Hub ids are ORG/NAME, with one '/')"
        )
    if shards is None:
        shards, columns = _stream_shards(spec, shapes, streaming)
    if columns is not None and detect_shape(columns) not in shapes:
        return tuple(shards[:1])
    return tuple(shards)


def _local_files(root: Path, spec: HfSpec, shown: str) -> tuple[str, list[Path]] | None:
    """(``arrow``|``parquet``, files of the spec's config and split) of a local dataset
    directory, or None when it holds neither (then ``load_dataset`` reads it)."""
    declared, default = _readme_configs(root)
    if declared:
        return _declared_files(root, declared, default, spec, shown)
    if spec.config is not None:
        sub = root / spec.config
        if sub.is_dir():
            return _local_files(sub, dataclasses.replace(spec, config=None), shown)
        if (root / "dataset_dict.json").is_file() and spec.config in _saved_splits(root):
            # a lone non-split-like part that names a split of a saved DatasetDict
            return _local_files(
                root, dataclasses.replace(spec, config=None, split=spec.config), shown
            )
        if not _holds_saved_or_parquet(root):
            return None  # e.g. JSON files: load_dataset knows their configs
        available = (
            ", ".join(_local_configs(root))
            or f"none (splits: {', '.join(_local_splits(root)) or 'none'})"
        )
        raise SourceError(
            f"hf:{shown}: unknown config {spec.config!r}; available configs: {available}"
        )
    if (root / "dataset_dict.json").is_file():
        splits = _saved_splits(root)
        split = _pick_split(spec.split, splits, shown)
        return _local_files(root / split, dataclasses.replace(spec, split=DEFAULT_SPLIT), shown)
    if (root / "state.json").is_file():
        state = _read_json(root / "state.json", shown)
        own = state.get("_split") or DEFAULT_SPLIT
        if spec.split not in (DEFAULT_SPLIT, own):
            raise SourceError(
                f"hf:{shown}: unknown split {spec.split!r}; available splits: {own} (one saved Dataset)"
            )
        names = [f.get("filename") for f in state.get("_data_files") or () if isinstance(f, dict)]
        files = [root / n for n in names if isinstance(n, str)]
        missing = [str(f) for f in files if not f.is_file()]
        if not files or missing:
            raise SourceError(
                f"hf:{shown}: saved dataset lists missing arrow files {missing or '(none listed)'}"
            )
        return "arrow", files
    parquet = sorted(p for p in root.rglob("*.parquet") if p.is_file() and not _hidden(p, root))
    if not parquet:
        return None
    configs = _local_configs(root)
    loose = [p for p in parquet if p.relative_to(root).parts[0] not in configs]
    if configs and not loose:
        if len(configs) == 1 or DEFAULT_CONFIG in configs:
            pick = configs[0] if len(configs) == 1 else DEFAULT_CONFIG
            return _local_files(root / pick, spec, shown)
        raise SourceError(
            f"hf:{shown} has several configs; name one as hf:NAME:CONFIG[:SPLIT]: {', '.join(configs)}"
        )
    by_split = _parquet_splits(root, loose)
    split = _pick_split(spec.split, list(by_split), shown)
    return "parquet", by_split[split]


def _local_configs(root: Path) -> list[str]:
    """Sub-directories that hold a dataset of their own (a config), in name order."""
    configs = []
    for sub in sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
    ):
        if sub.name == "data" or sub.name.lower() in _SPLIT_DIR_NAMES:
            continue
        if (
            (sub / "dataset_dict.json").is_file()
            or (sub / "state.json").is_file()
            or any(sub.rglob("*.parquet"))
        ):
            configs.append(sub.name)
    return configs


def _readme_configs(root: Path) -> tuple[dict[str, dict[str, list[str]]], str | None]:
    """(config -> split -> file patterns, the default config) declared in a Hub dataset card
    (``README.md``'s YAML ``configs:``, as in a downloaded Hub snapshot); ({}, None) when there
    is none or it is unreadable."""
    readme = root / "README.md"
    if not readme.is_file():
        return {}, None
    try:
        from datasets.utils.metadata import MetadataConfigs
        from huggingface_hub import DatasetCard

        metadata = MetadataConfigs.from_dataset_card_data(DatasetCard.load(readme).data)
    except Exception:  # a card without valid YAML: fall back to the directory layout
        return {}, None
    out: dict[str, dict[str, list[str]]] = {}
    for name, entry in metadata.items():
        files = entry.get("data_files") if isinstance(entry, dict) else None
        splits: dict[str, list[str]] = {}
        if isinstance(files, str | list) and all(
            isinstance(f, str) for f in ([files] if isinstance(files, str) else files)
        ):
            splits[DEFAULT_SPLIT] = [files] if isinstance(files, str) else list(files)
        elif isinstance(files, list):
            for item in files:
                if isinstance(item, dict) and isinstance(item.get("split"), str):
                    path = item.get("path")
                    splits[item["split"]] = (
                        [path]
                        if isinstance(path, str)
                        else [p for p in path or () if isinstance(p, str)]
                    )
        if splits:
            out[str(name)] = splits
    default = metadata.get_default_config_name()
    return out, default if default in out else None


def _declared_files(
    root: Path,
    declared: dict[str, dict[str, list[str]]],
    default: str | None,
    spec: HfSpec,
    shown: str,
) -> tuple[str, list[Path]] | None:
    """The parquet files of a config/split declared in the dataset card."""
    from datasets.data_files import resolve_pattern

    name = spec.config or default or (next(iter(declared)) if len(declared) == 1 else None)
    if name is None:
        raise SourceError(
            f"hf:{shown} has several configs; name one as hf:NAME:CONFIG[:SPLIT]: {', '.join(declared)}"
        )
    if name not in declared:
        raise SourceError(
            f"hf:{shown}: unknown config {name!r}; available configs: {', '.join(declared)}"
        )
    split = _pick_split(spec.split, list(declared[name]), shown)
    files: set[Path] = set()
    for pattern in declared[name][split]:
        try:
            files.update(Path(f) for f in resolve_pattern(pattern, str(root)))
        except FileNotFoundError:
            continue
    parquet = sorted(f for f in files if f.suffix == ".parquet")
    if not parquet:
        return None  # JSON/CSV data files, or nothing local: load_dataset reads the card itself
    return "parquet", parquet


def _holds_saved_or_parquet(root: Path) -> bool:
    if (root / "dataset_dict.json").is_file() or (root / "state.json").is_file():
        return True
    return any(p.is_file() and not _hidden(p, root) for p in root.rglob("*.parquet"))


def _local_splits(root: Path) -> list[str]:
    """The splits a local dataset directory without configs offers (for error messages)."""
    if (root / "dataset_dict.json").is_file():
        return _saved_splits(root)
    if (root / "state.json").is_file():
        return [_read_json(root / "state.json", str(root)).get("_split") or DEFAULT_SPLIT]
    parquet = [p for p in root.rglob("*.parquet") if p.is_file() and not _hidden(p, root)]
    return list(_parquet_splits(root, parquet)) if parquet else []


def _saved_splits(root: Path) -> list[str]:
    splits = _read_json(root / "dataset_dict.json", str(root)).get("splits")
    return [s for s in splits or () if isinstance(s, str)]


def _parquet_splits(root: Path, files: list[Path]) -> dict[str, list[Path]]:
    """Split -> parquet files, by the rules ``load_dataset`` applies to a data directory."""
    from datasets.data_files import get_data_patterns, resolve_pattern

    wanted = {f.resolve() for f in files}
    try:
        patterns = get_data_patterns(str(root))
    except Exception:  # no split pattern matched: everything is train, as in datasets
        patterns = {DEFAULT_SPLIT: ["**"]}
    out: dict[str, list[Path]] = {}
    for split, split_patterns in patterns.items():
        matched: set[Path] = set()
        for pattern in split_patterns:
            try:
                matched.update(Path(f).resolve() for f in resolve_pattern(pattern, str(root)))
            except FileNotFoundError:
                continue
        chosen = sorted(matched & wanted)
        if chosen:
            out[str(split)] = chosen
    return out


def _pick_split(split: str, available: list[str], shown: str) -> str:
    if split in available:
        return split
    alias = _SPLIT_ALIASES.get(split)
    if alias in available:
        return alias
    raise SourceError(
        f"hf:{shown}: unknown split {split!r}; available splits: {', '.join(available) or 'none'}"
    )


def _file_shards(
    spec: HfSpec, fmt: str, files: list[Path], shapes: tuple[str, ...]
) -> tuple[list[HubShard], list[str] | None]:
    """One shard per file; a slice becomes a row range per file (files outside it dropped)."""
    columns = None
    for f in files:  # the first readable schema; an unreadable file reports itself when read
        try:
            columns = _file_columns(fmt, f)
            break
        except Exception:
            continue
    n = len(files)
    base = dict(label=spec.label, fmt=fmt, num_shards=n, split=spec.split, shapes=shapes)
    if not spec.sliced:
        return [HubShard(path=str(f), index=k, **base) for k, f in enumerate(files)], columns
    try:
        counts = [_file_rows(fmt, f) for f in files]
    except Exception as exc:
        raise SourceError(
            f"{spec.label}: cannot count rows for the slice: {' '.join(str(exc).split())[:300]}"
        ) from None
    start, stop = slice_bounds(spec, sum(counts))
    shards, offset = [], 0
    for k, (f, count) in enumerate(zip(files, counts, strict=True)):
        lo, hi = max(start - offset, 0), min(stop - offset, count)
        if lo < hi:
            shards.append(HubShard(path=str(f), index=k, start=lo, stop=hi, **base))
        offset += count
    if not shards:  # an empty slice still resolves: one shard that reads nothing
        shards.append(HubShard(path=str(files[0]), index=0, start=0, stop=0, **base))
    return shards, columns


def _file_columns(fmt: str, path: Path) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if fmt == "parquet":
        return list(pq.read_schema(path).names)
    with pa.memory_map(str(path)) as source:
        return list(pa.ipc.open_stream(source).schema.names)


def _file_rows(fmt: str, path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if fmt == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    with pa.memory_map(str(path)) as source:  # zero-copy: only the batch headers are touched
        return sum(batch.num_rows for batch in pa.ipc.open_stream(source))


def _stream_shards(
    spec: HfSpec, shapes: tuple[str, ...], streaming: bool
) -> tuple[list[HubShard], list[str] | None]:
    """Shards of a dataset read through ``load_dataset`` (Hub ids, local JSON/CSV folders)."""
    revision = (
        spec.revision
        if Path(spec.name).expanduser().exists()
        else pin_revision(spec.name, spec.revision)
    )
    dataset = load_dataset(
        spec.name,
        spec.config,
        spec.split_text if not streaming else spec.split,
        streaming,
        revision,
    )
    base = dict(
        label=spec.label,
        fmt="stream",
        path=spec.name,
        config=spec.config,
        shapes=shapes,
        streaming=streaming,
        revision=revision,
    )
    columns = getattr(dataset, "column_names", None)
    if not streaming:
        # The split (slice included) is already materialised in the local cache; shard by its files.
        n = max(1, len(getattr(dataset, "cache_files", None) or ()))
        split = spec.split_text
        return [HubShard(index=k, num_shards=n, split=split, **base) for k in range(n)], columns
    if spec.sliced:
        # A stream cannot be cut per shard without reading it: one shard, skip/take.
        total = _known_rows(dataset, spec.split)
        if total is None and not _absolute(spec):
            raise SourceError(
                f"{spec.label}: a streamed dataset of unknown length takes only absolute slices "
                "(e.g. train[:1000] or train[100:200])"
            )
        if total is None:
            start = int(spec.lo or 0)
            stop = int(spec.hi) if spec.hi is not None else None
        else:
            start, stop = slice_bounds(spec, total)
        return [
            HubShard(index=0, num_shards=1, split=spec.split, start=start, stop=stop, **base)
        ], columns
    n = max(1, int(getattr(dataset, "num_shards", 1) or 1))
    return [HubShard(index=k, num_shards=n, split=spec.split, **base) for k in range(n)], columns


def _absolute(spec: HfSpec) -> bool:
    return all(
        b is None or (not b.endswith("%") and not b.startswith("-")) for b in (spec.lo, spec.hi)
    )


def _known_rows(dataset: Any, split: str) -> int | None:
    splits = getattr(getattr(dataset, "info", None), "splits", None) or {}
    info = splits.get(split) if hasattr(splits, "get") else None
    rows = getattr(info, "num_examples", None)
    return rows if isinstance(rows, int) and rows > 0 else None


def pin_revision(name: str, revision: str | None) -> str | None:
    """The commit a Hub dataset's ``revision`` (None = the default branch) points at now.

    Every worker loads its own shard, possibly minutes apart; reading one commit keeps a run
    from mixing two versions of a dataset updated meanwhile. When the Hub cannot be asked
    (offline, no token for a private dataset), the revision is used as given.
    """
    try:
        from huggingface_hub import HfApi

        sha = HfApi().dataset_info(name, revision=revision).sha
    except Exception as exc:  # offline, gated, unknown: load_dataset will say what is wrong
        LOG.info("hf:%s: revision not pinned (%s: %s)", name, type(exc).__name__, str(exc)[:200])
        return revision
    if sha and sha != revision:
        LOG.info(
            "hf:%s: reading revision %s at commit %s", name, revision or "(default branch)", sha
        )
    return sha or revision


def load_dataset(
    name: str, config: str | None, split: str, streaming: bool, revision: str | None = None
) -> Any:
    """``datasets.load_dataset(name, config, split=split, streaming=streaming[, revision=])``;
    errors -> ``SourceError``, listing the available configs/splits when one of those was wrong."""
    import datasets

    extra = {"revision": revision} if revision else {}
    try:
        return datasets.load_dataset(name, config, split=split, streaming=streaming, **extra)
    except Exception as exc:  # datasets raises many kinds; the user needs the message, not the type
        message = " ".join(str(exc).split())[:500]
        shown = f"hf:{name}:{config or DEFAULT_CONFIG}:{split}"
        if isinstance(exc, ValueError) and "config" in message.lower():
            raise SourceError(
                f"{shown}: unknown config {config!r}; available configs: {_listing(datasets.get_dataset_config_names, name)}"
            ) from None
        if isinstance(exc, ValueError) and "split" in message.lower():
            raise SourceError(
                f"{shown}: unknown split {split!r}; available splits: "
                f"{_listing(datasets.get_dataset_split_names, name, config)}"
            ) from None
        raise SourceError(
            f"cannot load Hub dataset {name!r} ({shown}): {type(exc).__name__}: {message}"
        ) from None


def _listing(fn: Any, *args: Any) -> str:
    try:
        return ", ".join(str(x) for x in fn(*args)) or "none"
    except Exception as exc:  # listing needs the same access as loading; say why it failed
        return f"(could not list them: {type(exc).__name__})"


def _read_json(path: Path, shown: str) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SourceError(f"hf:{shown}: unreadable {path.name}: {exc}") from None
    return value if isinstance(value, dict) else {}


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith((".", "_")) for part in path.relative_to(root).parts)


# --- reading -----------------------------------------------------------------------------------


def read_shard(shard: HubShard) -> Iterator[Row | RejectedRow]:
    """Rows of one shard as ``(where, row)``, ``where`` = ``hf:NAME:CONFIG:SPLIT:shard K:row N``
    (N counts from the start of the shard, 1-based). A failure part-way ends in one
    ``read_error`` row; columns fitting no accepted shape give one ``unknown_format`` row."""
    prefix = f"{shard.label}:shard {shard.index}"
    n = shard.start
    try:
        batches = _stream_batches(shard) if shard.fmt == "stream" else _file_batches(shard)
        first = True
        for batch in batches:
            for row in batch:
                n += 1
                if first:
                    first = False
                    bad = _bad_shape(row, shard.shapes, f"{prefix}:row {n}")
                    if bad is not None:
                        yield bad
                        return
                yield f"{prefix}:row {n}", row
    except (
        Exception
    ) as exc:  # corrupt file, network or decoding failure mid-stream: record it and stop
        message = " ".join(str(exc).split())[:500]
        yield reject(
            Reason.READ_ERROR,
            f"{prefix}:row {n + 1}",
            f"shard unreadable from here on: {type(exc).__name__}: {message}",
        )


def _bad_shape(row: dict[str, Any], shapes: tuple[str, ...], where: str) -> RejectedRow | None:
    if detect_shape(row) in shapes:
        return None
    return reject(
        Reason.UNKNOWN_FORMAT,
        where,
        f"columns {sorted(row)} match none of the shapes {', '.join(shapes)}; "
        "nothing more is read from this source",
        record=row,
    )


def _file_batches(shard: HubShard) -> Iterator[list[dict[str, Any]]]:
    """Row lists of the shard's rows ``[start, stop)``, one record batch at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def window(batches: Iterable[Any]) -> Iterator[list[dict[str, Any]]]:
        offset = 0
        for batch in batches:
            lo, hi = offset, offset + batch.num_rows
            offset = hi
            if hi <= shard.start:
                continue
            if shard.stop is not None and lo >= shard.stop:
                return
            begin = max(shard.start - lo, 0)
            end = batch.num_rows if shard.stop is None else min(shard.stop - lo, batch.num_rows)
            yield batch.slice(begin, end - begin).to_pylist()

    if shard.fmt == "parquet":
        yield from window(pq.ParquetFile(shard.path).iter_batches(batch_size=_BATCH_ROWS))
        return
    with pa.memory_map(shard.path) as source:
        yield from window(pa.ipc.open_stream(source))


def _stream_batches(shard: HubShard) -> Iterator[list[dict[str, Any]]]:
    dataset = load_dataset(shard.path, shard.config, shard.split, shard.streaming, shard.revision)
    if shard.num_shards > 1:
        dataset = dataset.shard(num_shards=shard.num_shards, index=shard.index, contiguous=True)
    if shard.streaming and (shard.start or shard.stop is not None):
        if shard.start:
            dataset = dataset.skip(shard.start)
        if shard.stop is not None:
            dataset = dataset.take(shard.stop - shard.start)
    for row in dataset:  # row by row: a stream that breaks keeps every row it gave before
        yield [dict(row)]
