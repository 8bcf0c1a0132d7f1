"""Training data for the MoSE trainer: release shards, extra corpora, and deterministic batches.

Inputs: release shards ``DIR/data/*.parquet`` (``schemas.RELEASE_SCHEMA``; only the SynthCoNL
columns and ``split`` are read) and, for pretraining, an optional corpus: a repository corpus
written by the pipeline (``OUTPUT/repo_corpus``, ``schemas.REPO_FILE_SCHEMA``) or a directory
of source files (each top-level sub-directory is one "repository", e.g. one installed package).

Batches are a pure function of ``(seed, step)``: the sampler keeps no cursor, so the data
position of a checkpoint is its step and a resumed run sees exactly the batches an
uninterrupted run would have seen.

- :class:`PretrainSampler`: MLM + in-context-classification contexts (DESIGN.md section 7):
  2-4 snippets packed ``<sep>a<sep>b...<cls>``, from one repository or, with probability 0.5,
  from different repositories; label 1 = same repository.
- :class:`ContrastiveSampler`: text-to-code (docstring vs func1_CSN or func2) and code-to-code
  (func1_CSN vs func2) pairs, the kind drawn uniformly per item, at most one row per source
  function in a batch so that in-batch negatives are true negatives.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import torch

from model.tokenizer import MoseTokenizer
from schemas import SYNTHCONL_COLUMNS

_READ_COLUMNS = (*SYNTHCONL_COLUMNS, "split")

#: File extensions read from a ``--corpus`` directory.
CORPUS_EXTENSIONS: frozenset[str] = frozenset(
    {".py", ".java", ".js", ".go", ".php", ".rb", ".c", ".h", ".cc", ".cpp", ".hpp", ".rs", ".ts"}
)


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


def repository_snippets(rows: list[dict]) -> dict[str, list[str]]:
    """{repository_name: distinct func1_CSN and func2 texts}, in first-seen order."""
    groups: dict[str, dict[str, None]] = {}
    for row in rows:
        repo = row.get("repository_name") or "<unknown>"
        bucket = groups.setdefault(repo, {})
        for column in ("func1_CSN", "func2"):
            code = row.get(column)
            if code and code.strip():
                bucket[code] = None
    return {repo: list(codes) for repo, codes in groups.items() if codes}


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
            raise ValueError(f"{path} is not a repository corpus shard (needs {', '.join(columns)}; see REPO_FILE_SCHEMA)")
        table = pq.read_table(path, columns=list(columns))
        files.extend(zip(*(table.column(c).to_pylist() for c in columns), strict=True))
    by_repo: dict[str, list[str]] = {}
    for repo, _path, content in sorted(files):
        by_repo.setdefault(repo, []).append(content or "")
    # A file cap takes files from every repository in turn: the in-context loss needs several.
    round_robin = [(repo, i) for i in range(max(map(len, by_repo.values()), default=0))
                   for repo, contents in by_repo.items() if i < len(contents)]
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
    """A generator that depends only on (seed, keys): no state survives between steps."""
    return random.Random(hash((seed, *keys)) & 0xFFFFFFFFFFFF)


@dataclasses.dataclass(frozen=True)
class PretrainBatch:
    """input_ids/attention_mask (B, T) left padded; same_repository (B,) float."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    same_repository: torch.Tensor


class PretrainSampler:
    """Repository-grouped contexts for MLM + ICC; ``batch(step, size)`` is deterministic."""

    def __init__(
        self,
        groups: dict[str, list[str]],
        tokenizer: MoseTokenizer,
        max_length: int,
        seed: int,
        snippets: tuple[int, int] = (2, 4),
        p_different: float = 0.5,
    ) -> None:
        self.repos = sorted(r for r, codes in groups.items() if codes)
        if not self.repos:
            raise ValueError("no code to pretrain on")
        self.groups = {r: groups[r] for r in self.repos}
        self.multi = [r for r in self.repos if len(self.groups[r]) >= 2]
        if not 2 <= snippets[0] <= snippets[1]:
            raise ValueError("snippets per context must be a range starting at >= 2")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.seed = seed
        self.snippets = snippets
        # Contexts from different repositories need two repositories; same-repository
        # contexts need one with two snippets. Fall back to what the data allows.
        self.p_different = p_different if self.multi else 1.0
        if len(self.repos) < 2:
            self.p_different = 0.0
            if not self.multi:
                raise ValueError("pretraining needs two repositories or two snippets in one")

    def _context(self, rng: random.Random) -> tuple[list[str], int]:
        k = rng.randint(*self.snippets)
        if rng.random() < self.p_different:
            first = rng.choice(self.repos)
            others = [r for r in self.repos if r != first]
            repos = [first] + [rng.choice(others) for _ in range(k - 1)]
            return [rng.choice(self.groups[r]) for r in repos], 0
        repo = rng.choice(self.multi)
        codes = self.groups[repo]
        return rng.sample(codes, min(k, len(codes))), 1

    def batch(self, step: int, batch_size: int) -> PretrainBatch:
        rng = _rng(self.seed, 1, step)
        contexts = [self._context(rng) for _ in range(batch_size)]
        sequences = []
        for codes, _label in contexts:
            parts = self.tokenizer.encode_plain(codes)
            cap = max(1, (self.max_length - len(parts) - 1) // len(parts))
            sequences.append(self.tokenizer.pack([p[:cap] for p in parts], self.max_length))
        ids, mask = self.tokenizer.pad_left(sequences)
        labels = torch.tensor([label for _codes, label in contexts], dtype=torch.float32)
        return PretrainBatch(ids, mask, labels)


@dataclasses.dataclass(frozen=True)
class ContrastiveBatch:
    """Queries and documents, each (B, T) left padded; kinds[i] in {"text-code", "code-code"}."""

    query_ids: torch.Tensor
    query_mask: torch.Tensor
    doc_ids: torch.Tensor
    doc_mask: torch.Tensor
    kinds: tuple[str, ...]


class ContrastiveSampler:
    """Mixed text-to-code / code-to-code pairs with in-batch negatives (DESIGN.md section 7).

    Rows are grouped by their source function (``func1_CSN``); each epoch is a seeded
    permutation of the groups, a batch takes ``batch_size`` consecutive groups, picks one row
    of each and one pair kind uniformly among those the row supports: (doc, func1_CSN),
    (doc, func2) and (func1_CSN, func2).
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

    def batch(self, step: int, batch_size: int) -> ContrastiveBatch:
        size = min(batch_size, len(self.groups))
        per_epoch = len(self.groups) // size
        epoch, slot = divmod(step, per_epoch)
        picked = self._permutation(epoch)[slot * size : (slot + 1) * size]
        rng = _rng(self.seed, 3, step)
        queries: list[tuple[str, str | None]] = []  # (text, language or None for text)
        documents: list[tuple[str, str]] = []
        kinds: list[str] = []
        for index in picked:
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
        return ContrastiveBatch(q_ids, q_mask, d_ids, d_mask, tuple(kinds))

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
