"""Training data for the MoSE trainer: release shards, extra corpora, deterministic batches.

Inputs: release shards ``DIR/data/*.parquet`` (``schemas.RELEASE_SCHEMA``; only the SynthCoNL
columns and ``split`` are read) and, for pretraining, an optional corpus: a repository corpus
written by the pipeline (``OUTPUT/repo_corpus``, ``schemas.REPO_FILE_SCHEMA``) or a directory
of source files (each top-level sub-directory is one "repository", e.g. one installed package).

Every item of a batch is a pure function of ``(seed, step, item index)``: the samplers keep no
cursor, so the data position of a checkpoint is its step, a resumed run sees exactly the
batches an uninterrupted run would have seen, and the global batch of a step is the same
whether one process builds all of it or N ranks each build their slice
(:class:`BatchLayout`). :class:`StepBatches` runs the samplers in DataLoader worker processes
(tokenisation and masking off the training step) and still yields steps in order.

- :class:`PretrainSampler`: MLM + in-context-classification (ICC) contexts (docs/design.md,
  "The model"): k snippets packed ``<sep>a<sep>b...<cls>``, all from one repository (label 1)
  or each from a different one (label 0), with the masks of MLM already applied.
- :class:`ContrastiveSampler`: text-to-code (docstring vs func1_CSN or func2) and code-to-code
  (func1_CSN vs func2) pairs, the kind drawn uniformly per item, at most one row per source
  function in a step so that in-batch negatives are true negatives.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from model.losses.mlm import IGNORE_INDEX, mask_tokens
from model.tokenizer import MoseTokenizer
from schemas import SYNTHCONL_COLUMNS

_READ_COLUMNS = (*SYNTHCONL_COLUMNS, "split")

#: File extensions read from a ``--corpus`` directory.
CORPUS_EXTENSIONS: frozenset[str] = frozenset(
    {".py", ".java", ".js", ".go", ".php", ".rb", ".c", ".h", ".cc", ".cpp", ".hpp", ".rs", ".ts"}
)

#: A repository's code for ICC: a list of units, each the texts of one source function (its
#: original and its translations). A context never takes two texts of one unit.
Units = list[list[str]]


def shard_paths(data_dir: str | os.PathLike[str]) -> list[Path]:
    """Sorted ``DIR/data/*.parquet`` (ValueError when there are none)."""
    paths = sorted((Path(data_dir) / "data").glob("*.parquet"))
    if not paths:
        raise ValueError(f"no release shards under {Path(data_dir) / 'data'}")
    return paths


def read_release(data_dir: str | os.PathLike[str], split: str | None = "train") -> list[dict]:
    """Rows of the release shards (SynthCoNL columns + split), filtered to ``split``.

    A row's split is its ``split`` column, else the shard file's name prefix
    (``train-00000-of-00001.parquet``). ``split=None`` keeps every row.
    """
    rows: list[dict] = []
    for path in shard_paths(data_dir):
        names = set(pq.read_schema(path).names)
        missing = [c for c in SYNTHCONL_COLUMNS if c not in names]
        if missing:
            raise ValueError(
                f"{path} is not a release shard (missing {missing}; see RELEASE_SCHEMA)"
            )
        columns = [c for c in _READ_COLUMNS if c in names]
        file_split = path.name.split("-")[0]
        for row in pq.read_table(path, columns=columns).to_pylist():
            row_split = row.get("split") or file_split
            if split is None or row_split == split:
                row["split"] = row_split
                rows.append(row)
    return rows


def repository_units(rows: list[dict]) -> dict[str, Units]:
    """{repository_name: units}: one unit per source function, holding ``func1_CSN`` and every
    ``func2`` translated from it, distinct texts in first-seen order.

    A function and its translations share identifiers and structure; were they separate
    snippets of one repository, a same-repository context could hold a function and its own
    translation and be recognised as positive without reading for repository style. Keeping
    them one unit rules that out.
    """
    groups: dict[str, dict[str, dict[str, None]]] = {}
    for row in rows:
        repo = row.get("repository_name") or "<unknown>"
        texts = [row.get(c) for c in ("func1_CSN", "func2")]
        texts = [t for t in texts if t and t.strip()]
        if not texts:
            continue
        unit = groups.setdefault(repo, {}).setdefault(texts[0], {})
        for text in texts:
            unit[text] = None
    return {repo: [list(u) for u in units.values()] for repo, units in groups.items()}


def corpus_units(corpus: Mapping[str, Sequence[str]], prefix: str = "corpus:") -> dict[str, Units]:
    """``read_corpus`` output as units of one chunk each, repositories renamed ``prefix+name``."""
    return {f"{prefix}{repo}": [[c] for c in chunks] for repo, chunks in corpus.items() if chunks}


def special_token_ids(tokenizer: MoseTokenizer) -> frozenset[int]:
    """MoSE's four specials plus every special token of the underlying tokenizer.

    StarCoder2's tokenizer carries its own control tokens (``<|endoftext|>``, ``<fim_prefix>``,
    ``<filename>``...): none of them may be masked for prediction or inserted at random.
    """
    added = tokenizer.tokenizer.get_added_tokens_decoder()
    return frozenset(tokenizer.special_ids) | {i for i, t in added.items() if t.special}


def chunk_source(text: str, max_chars: int = 1500, min_chars: int = 40) -> list[str]:
    """Split a source file into definition-sized chunks.

    Blocks start at a non-indented line that follows a blank line (top-level definitions in
    most languages); consecutive blocks are merged up to ``max_chars`` and over-long blocks
    are cut; chunks shorter than ``min_chars`` are dropped.
    """
    blocks: list[list[str]] = [[]]
    previous_blank = True
    for line in text.splitlines():
        starts_block = previous_blank and line[:1] not in ("", " ", "\t")
        if starts_block and blocks[-1]:
            blocks.append([])
        blocks[-1].append(line)
        previous_blank = not line.strip()
    chunks: list[str] = []
    current = ""
    for block in blocks:
        piece = "\n".join(block).strip("\n")
        while len(piece) > max_chars:
            chunks.append(piece[:max_chars])
            piece = piece[max_chars:]
        if current and len(current) + len(piece) + 1 > max_chars:
            chunks.append(current)
            current = ""
        current = f"{current}\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return [c for c in chunks if len(c.strip()) >= min_chars]


def read_corpus(
    corpus_dir: str | os.PathLike[str], max_files: int | None = None, max_chars: int = 1500
) -> dict[str, list[str]]:
    """{repository: chunks} from a repository corpus or a directory of source files.

    A directory of parquet files with ``schemas.REPO_FILE_SCHEMA`` columns (what
    ``python -m pipeline.run --emit_repo_corpus`` writes to ``OUTPUT/repo_corpus``) is read
    grouped by its ``repository_name`` column. Otherwise the first path component under
    ``corpus_dir`` names the repository (files directly in it belong to a repository named
    after the directory). Files are visited in sorted order.
    """
    root = Path(corpus_dir)
    if not root.is_dir():
        raise ValueError(f"--corpus {root} is not a directory")
    if sorted(root.glob("*.parquet")):
        return _read_repo_corpus(root, max_files, max_chars)
    groups: dict[str, list[str]] = {}
    seen = 0
    for path in sorted(root.rglob("*")):
        if path.suffix not in CORPUS_EXTENSIONS or not path.is_file():
            continue
        relative = path.relative_to(root)
        repo = relative.parts[0] if len(relative.parts) > 1 else root.name
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        chunks = chunk_source(text, max_chars=max_chars)
        if chunks:
            groups.setdefault(repo, []).extend(chunks)
        seen += 1
        if max_files is not None and seen >= max_files:
            break
    return groups


def _read_repo_corpus(root: Path, max_files: int | None, max_chars: int) -> dict[str, list[str]]:
    """``read_corpus`` over ``RepoFile`` parquet shards (sorted by repository, then path)."""
    columns = ("repository_name", "path", "content")
    files: list[tuple[str, str, str]] = []
    for path in sorted(root.glob("*.parquet")):
        names = set(pq.read_schema(path).names)
        if not set(columns) <= names:
            raise ValueError(
                f"{path} is not a repository corpus shard (needs {', '.join(columns)}; see REPO_FILE_SCHEMA)"
            )
        table = pq.read_table(path, columns=list(columns))
        files.extend(zip(*(table.column(c).to_pylist() for c in columns), strict=True))
    by_repo: dict[str, list[str]] = {}
    for repo, _path, content in sorted(files):
        by_repo.setdefault(repo, []).append(content or "")
    # A file cap takes files from every repository in turn: the in-context loss needs several.
    round_robin = [
        (repo, i)
        for i in range(max(map(len, by_repo.values()), default=0))
        for repo, contents in by_repo.items()
        if i < len(contents)
    ]
    groups: dict[str, list[str]] = {}
    for repo, i in sorted(round_robin[:max_files]):
        chunks = chunk_source(by_repo[repo][i], max_chars=max_chars)
        if chunks:
            groups.setdefault(repo, []).extend(chunks)
    return groups


def tokenizer_corpus(
    rows: list[dict], extra: dict[str, list[str]] | None = None, max_chars: int = 20_000_000
) -> Iterator[str]:
    """Texts to train the BPE on: docstrings and both code columns, then the corpus chunks."""
    budget = max_chars

    def texts() -> Iterator[str]:
        for row in rows:
            for column in ("func_documentation_string", "func1_CSN", "func2"):
                if row.get(column):
                    yield row[column]
        for chunks in (extra or {}).values():
            yield from chunks

    for text in texts():
        if budget <= 0:
            return
        budget -= len(text)
        yield text


def _rng(seed: int, *keys: int) -> random.Random:
    """A generator that depends only on (seed, keys): no state survives between items."""
    return random.Random(hash((seed, *keys)) & 0xFFFFFFFFFFFF)


def _strip_left_padding(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the leading columns that are padding in every row (rows stay left padded)."""
    filled = mask.any(dim=0).nonzero()
    first = int(filled[0]) if filled.numel() else 0
    return ids[:, first:], mask[:, first:]


@dataclasses.dataclass(frozen=True)
class PretrainBatch:
    """One micro-batch of ICC contexts with MLM masks applied.

    input_ids / attention_mask (B, T), left padded, ``input_ids`` already masked (80/10/10);
    mlm_positions (N,) flat indices into the (B, T) grid of the tokens to predict and
    mlm_targets (N,) their original ids, so the model needs no data-dependent indexing (no
    host-device sync on a GPU); same_repository (B,) float ICC labels.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    mlm_positions: torch.Tensor
    mlm_targets: torch.Tensor
    same_repository: torch.Tensor

    def to(self, device: torch.device, non_blocking: bool = False) -> PretrainBatch:
        return PretrainBatch(*(t.to(device, non_blocking=non_blocking) for t in _fields(self)))

    def pin_memory(self) -> PretrainBatch:
        """Called by DataLoader(pin_memory=True) so host-to-GPU copies can overlap compute."""
        return PretrainBatch(*(t.pin_memory() for t in _fields(self)))

    def tokens(self) -> int:
        return int(self.attention_mask.sum())


def _fields(batch: object) -> list[torch.Tensor]:
    values = (getattr(batch, f.name) for f in dataclasses.fields(batch))
    return [v for v in values if isinstance(v, torch.Tensor)]


class PretrainSampler:
    """Repository contexts for MLM + ICC, built so that only the code tells the label.

    A context of k snippets (k uniform over the allowed range) is, with probability 0.5,
    k units of one repository (label 1) or one unit from each of k different repositories
    (label 0); each unit contributes one of its texts (the source function or a translation),
    chosen uniformly. Both labels draw their repositories from the same set, those holding at
    least k units, uniformly, so every snippet has the same distribution (repository, unit,
    text, hence length) under either label, and the number of ``<sep>`` tokens has the same
    distribution under both: neither count nor length predicts the label. (The earlier
    sampler built positives from ``min(k, len(repository))`` snippets and negatives from k,
    which let the ``<sep>`` count alone predict the label on repositories of CodeSearchNet's
    sizes.) A value of k is allowed only if k repositories hold k units each; ValueError when
    none is.

    ``batch(step, size, start, stop)`` builds items ``start..stop-1`` of the step's batch;
    item i depends only on (seed, step, i), so any split of a batch across ranks or
    micro-batches gives the same items and the same MLM masks.
    """

    def __init__(
        self,
        groups: Mapping[str, Sequence[Sequence[str]]],
        tokenizer: MoseTokenizer,
        max_length: int,
        seed: int,
        snippets: tuple[int, int] = (2, 4),
        mlm_probability: float = 0.15,
    ) -> None:
        if not 2 <= snippets[0] <= snippets[1]:
            raise ValueError("snippets per context must be a range starting at >= 2")
        units: dict[str, Units] = {}
        for repo, repo_units in groups.items():
            cleaned = [
                list(dict.fromkeys(t for t in unit if t and t.strip())) for unit in repo_units
            ]
            cleaned = [u for u in cleaned if u]
            if cleaned:
                units[repo] = cleaned
        if not units:
            raise ValueError("no code to pretrain on")
        self.units = units
        self.repos = sorted(units)
        self.eligible = {
            k: [r for r in self.repos if len(units[r]) >= k]
            for k in range(snippets[0], snippets[1] + 1)
        }
        self.ks = [k for k, repos in self.eligible.items() if len(repos) >= k]
        if not self.ks:
            sizes = sorted((len(u) for u in units.values()), reverse=True)[:8]
            raise ValueError(
                f"in-context classification needs, for some k in {snippets[0]}..{snippets[1]}, "
                f"k repositories with k functions each; the largest repositories hold {sizes}"
            )
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.seed = seed
        self.snippets = snippets
        self.mlm_probability = mlm_probability
        self.special_ids = special_token_ids(tokenizer)
        self.vocab_size = len(tokenizer)

    def context(self, rng: random.Random) -> tuple[list[str], int]:
        """(snippets, label): label 1 when all snippets come from one repository."""
        k = rng.choice(self.ks)
        eligible = self.eligible[k]
        if rng.random() < 0.5:
            repo = rng.choice(eligible)
            units, label = rng.sample(self.units[repo], k), 1
        else:
            units, label = [rng.choice(self.units[r]) for r in rng.sample(eligible, k)], 0
        return [rng.choice(unit) for unit in units], label

    def batch(self, step: int, size: int, start: int = 0, stop: int | None = None) -> PretrainBatch:
        """Items ``start..stop-1`` (default: all ``size``) of step ``step``'s batch."""
        stop = size if stop is None else stop
        if not 0 <= start < stop <= size:
            raise ValueError(f"bad item range {start}..{stop} of a batch of {size}")
        contexts = [self.context(_rng(self.seed, 1, step, i)) for i in range(start, stop)]
        parts = self.tokenizer.encode_plain([code for codes, _ in contexts for code in codes])
        sequences: list[torch.Tensor] = []
        labels: list[torch.Tensor] = []
        offset = 0
        for i, (codes, _label) in zip(range(start, stop), contexts, strict=True):
            mine = parts[offset : offset + len(codes)]
            offset += len(codes)
            cap = max(1, (self.max_length - len(mine) - 1) // len(mine))
            row = torch.tensor([self.tokenizer.pack([p[:cap] for p in mine], self.max_length)])
            generator = torch.Generator().manual_seed(
                hash((self.seed, 4, step, i)) & 0xFFFFFFFFFFFF
            )
            masked, target = mask_tokens(
                row,
                self.special_ids,
                mask_id=self.tokenizer.mask_id,
                vocab_size=self.vocab_size,
                generator=generator,
                probability=self.mlm_probability,
            )
            sequences.append(masked[0])
            labels.append(target[0])
        ids, mask = self.tokenizer.pad_left([s.tolist() for s in sequences])
        grid = torch.full_like(ids, IGNORE_INDEX)
        for row, target in enumerate(labels):
            grid[row, grid.shape[1] - target.numel() :] = target
        flat = grid.flatten()
        positions = (flat != IGNORE_INDEX).nonzero().squeeze(1)
        same = torch.tensor([label for _codes, label in contexts], dtype=torch.float32)
        return PretrainBatch(ids, mask, positions, flat[positions], same)


@dataclasses.dataclass(frozen=True)
class ContrastiveBatch:
    """Queries and documents, each (B, T) left padded; kinds[i] in {"text-code", "code-code"};
    the rows' token counts, known on the host (GradCache trims chunks with them)."""

    query_ids: torch.Tensor
    query_mask: torch.Tensor
    doc_ids: torch.Tensor
    doc_mask: torch.Tensor
    kinds: tuple[str, ...]
    query_lengths: tuple[int, ...] = ()
    doc_lengths: tuple[int, ...] = ()

    def to(self, device: torch.device, non_blocking: bool = False) -> ContrastiveBatch:
        moved = [t.to(device, non_blocking=non_blocking) for t in _fields(self)]
        return dataclasses.replace(self, **dict(zip(_TENSORS, moved, strict=True)))

    def pin_memory(self) -> ContrastiveBatch:
        pinned = [t.pin_memory() for t in _fields(self)]
        return dataclasses.replace(self, **dict(zip(_TENSORS, pinned, strict=True)))

    def tokens(self) -> int:
        return int(self.query_mask.sum() + self.doc_mask.sum())


_TENSORS = ("query_ids", "query_mask", "doc_ids", "doc_mask")


class ContrastiveSampler:
    """Mixed text-to-code / code-to-code pairs with in-batch negatives (docs/design.md, "The model").

    Rows are grouped by their source function (``func1_CSN``); each epoch is a seeded
    permutation of the groups, and step s takes the next ``size`` groups (``size`` = the
    step's pairs over all ranks and micro-batches), so no source function appears twice in a
    step. Item i picks one row of its group and one pair kind uniformly among those the row
    supports: (doc, func1_CSN), (doc, func2) and (func1_CSN, func2).
    """

    def __init__(
        self, rows: list[dict], tokenizer: MoseTokenizer, max_length: int, seed: int
    ) -> None:
        groups: dict[str, list[dict]] = {}
        for row in rows:
            if row.get("func1_CSN") and (row.get("func2") or row.get("func_documentation_string")):
                groups.setdefault(row["func1_CSN"], []).append(row)
        if len(groups) < 2:
            raise ValueError("contrastive training needs at least two distinct source functions")
        self.groups = [groups[key] for key in groups]
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.seed = seed

    def __len__(self) -> int:
        return len(self.groups)

    @functools.lru_cache(maxsize=4)  # noqa: B019 - a few epochs' permutations, one sampler per run
    def _permutation(self, epoch: int) -> list[int]:
        order = list(range(len(self.groups)))
        _rng(self.seed, 2, epoch).shuffle(order)
        return order

    def batch(
        self, step: int, size: int, start: int = 0, stop: int | None = None
    ) -> ContrastiveBatch:
        """Pairs ``start..stop-1`` (default: all ``size``) of step ``step``'s batch."""
        stop = size if stop is None else stop
        if not 0 <= start < stop <= size:
            raise ValueError(f"bad item range {start}..{stop} of a batch of {size}")
        if size > len(self.groups):
            raise ValueError(
                f"a contrastive step of {size} pairs needs {size} distinct source functions; "
                f"the data has {len(self.groups)} (lower --batch_size, --grad_accum or ranks)"
            )
        per_epoch = len(self.groups) // size
        epoch, slot = divmod(step, per_epoch)
        picked = self._permutation(epoch)[slot * size : (slot + 1) * size][start:stop]
        queries: list[tuple[str, str | None]] = []  # (text, language or None for text)
        documents: list[tuple[str, str]] = []
        kinds: list[str] = []
        for i, index in zip(range(start, stop), picked, strict=True):
            rng = _rng(self.seed, 3, step, i)
            row = rng.choice(self.groups[index])
            options = []
            if row.get("func_documentation_string"):
                options.append(("doc", "func1_CSN"))
                if row.get("func2"):
                    options.append(("doc", "func2"))
            if row.get("func2"):
                options.append(("func1_CSN", "func2"))
            query_col, doc_col = rng.choice(options)
            lang = {
                "func1_CSN": row.get("language1_CSN") or "",
                "func2": row.get("language2") or "",
            }
            if query_col == "doc":
                queries.append((row["func_documentation_string"], None))
                kinds.append("text-code")
            else:
                queries.append((row[query_col], lang[query_col]))
                kinds.append("code-code")
            documents.append((row[doc_col], lang[doc_col]))
        query_seqs = self._format(queries)
        doc_seqs = self.tokenizer.format_code(
            [d for d, _ in documents], [lang for _, lang in documents], self.max_length
        )
        q_ids, q_mask = self.tokenizer.pad_left(query_seqs)
        d_ids, d_mask = self.tokenizer.pad_left(doc_seqs)
        return ContrastiveBatch(
            q_ids,
            q_mask,
            d_ids,
            d_mask,
            tuple(kinds),
            tuple(len(s) for s in query_seqs),
            tuple(len(s) for s in doc_seqs),
        )

    def _format(self, items: list[tuple[str, str | None]]) -> list[list[int]]:
        texts = [i for i, (_, lang) in enumerate(items) if lang is None]
        codes = [i for i, (_, lang) in enumerate(items) if lang is not None]
        out: list[list[int]] = [[] for _ in items]
        for i, seq in zip(
            texts,
            self.tokenizer.format_text([items[i][0] for i in texts], self.max_length),
            strict=True,
        ):
            out[i] = seq
        formatted = self.tokenizer.format_code(
            [items[i][0] for i in codes], [items[i][1] or "" for i in codes], self.max_length
        )
        for i, seq in zip(codes, formatted, strict=True):
            out[i] = seq
        return out


Sampler = PretrainSampler | ContrastiveSampler
Batch = PretrainBatch | ContrastiveBatch


@dataclasses.dataclass(frozen=True)
class BatchLayout:
    """Which items of a step's global batch one rank builds, micro-batch by micro-batch.

    A step holds ``grad_accum`` micro-batches of ``batch_size * world_size`` items each (the
    contrastive negatives of a pair are the other items of its micro-batch, over all ranks);
    rank r builds items ``m * micro_size + r * batch_size`` onwards of micro-batch m. Because
    items depend only on (seed, step, index), 2 ranks x B and 1 process x 2B see the same
    global batch, and so do 1 process x B x ``--grad_accum=2``.
    """

    batch_size: int
    grad_accum: int = 1
    world_size: int = 1
    rank: int = 0

    def __post_init__(self) -> None:
        if min(self.batch_size, self.grad_accum, self.world_size) < 1:
            raise ValueError("batch_size, grad_accum and world_size must be >= 1")
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} outside world size {self.world_size}")

    @property
    def micro_size(self) -> int:
        """Items per micro-batch over all ranks."""
        return self.batch_size * self.world_size

    @property
    def step_size(self) -> int:
        """Items per optimizer step over all ranks and micro-batches."""
        return self.micro_size * self.grad_accum

    def items(self, micro: int) -> tuple[int, int]:
        """[start, stop) of this rank's items in micro-batch ``micro``."""
        start = micro * self.micro_size + self.rank * self.batch_size
        return start, start + self.batch_size

    def rank_batches(self, sampler: Sampler, step: int) -> list[Batch]:
        """This rank's ``grad_accum`` micro-batches of ``step``."""
        return [sampler.batch(step, self.step_size, *self.items(m)) for m in range(self.grad_accum)]


class StepBatches(IterableDataset):
    """This rank's micro-batches for steps ``start..stop-1``, one list per step, in order.

    With DataLoader workers, worker w builds steps start + w, start + w + n, ...; the
    DataLoader returns worker outputs round-robin, so the steps come back in order and every
    step's content is what a synchronous loop would build (items are pure functions of
    (seed, step, index)): worker count and prefetch change speed, never data.
    """

    def __init__(self, sampler: Sampler, layout: BatchLayout, start: int, stop: int) -> None:
        super().__init__()
        self.sampler = sampler
        self.layout = layout
        self.start = start
        self.stop = stop

    def __iter__(self) -> Iterator[list[Batch]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for step in range(self.start + worker, self.stop, workers):
            yield self.layout.rank_batches(self.sampler, step)


def make_loader(
    sampler: Sampler,
    layout: BatchLayout,
    start: int,
    stop: int,
    num_workers: int = 2,
    prefetch_factor: int = 4,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader over :class:`StepBatches`: tokenisation and masking run in ``num_workers``
    processes, ``prefetch_factor`` steps ahead each (``num_workers=0``: in the training
    process, synchronously)."""
    if num_workers < 0 or prefetch_factor < 1:
        raise ValueError("num_workers must be >= 0 and prefetch_factor >= 1")
    if num_workers:
        # The tokenizers library's own thread pool is not fork-safe; workers are the
        # parallelism here.
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return DataLoader(
        StepBatches(sampler, layout, start, stop),
        batch_size=None,
        num_workers=num_workers,
        prefetch_factor=prefetch_factor if num_workers else None,
        pin_memory=pin_memory,
    )
