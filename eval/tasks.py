"""Retrieval tasks: queries, a candidate pool and binary relevance, built from data on disk.

From release shards (``DIR/data/{split}-SSSSS-of-NNNNN.parquet``, ``schemas.RELEASE_SCHEMA``),
each pair gives one docstring and one function per language: its source (``func1_CSN`` in
``language1_CSN``) and its validated translations (``func2`` in ``language2``). Tasks:

- ``text-to-code/<lang>``: docstring -> the pair's function in ``<lang>``; pool: every function
  of the split in ``<lang>`` (sources and translations). SynthCoNL/CodeSearchNet style.
- ``text-to-code/all``: docstring -> any function of the pair; pool: every function of the split.
- ``code-to-code/source->translation``: ``func1_CSN`` -> the pair's translations; pool: every
  translation. ``code-to-code/translation->source``: ``func2`` -> its source; pool: every source.
- ``code-to-code/source-><lang>`` and ``code-to-code/<lang>->source``: the same per target language.

What is indexed: every function is searched *without its documentation*
(``eval.docstrings.strip_documentation``: the docstring, the documentation comments before the
definition, and comments anywhere that restate the pair's docstring), as CodeSearchNet,
CodeXGLUE and UniXcoder score code; code-to-code queries are stripped the same way, so neither
side can match on shared documentation. Every task states this in ``indexed``. A text-to-code
task whose pool still contains a query's text (three words or more, compared lower-cased with
punctuation as spaces) is refused with :class:`LeakError`.

Relevance is made well defined by de-duplication: one function per (pair, language) (the lowest
attempt), identical functions in one language collapse into one corpus item, identical queries
collapse into one query, and a merged item is relevant wherever any of its members was. The corpus
is sorted by id, so the search's tie rule (lower corpus position first) is ``(-score, corpus_id)``.

External formats (CodeSearchNet, CodeXGLUE/UniXcoder code search, CoIR/BEIR, POJ-104,
BigCloneBench) are read by ``eval.external``. ``dump_tasks`` writes what each task searched.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from eval.docstrings import strip_documentation

KINDS: tuple[str, ...] = ("text", "code")

#: Language label for code whose language is not recorded (external sets).
UNKNOWN_LANGUAGE = "code"

#: What a pool of documentation-free functions holds (the default of every code task here).
INDEXED_STRIPPED = "code without its docstring and the comments restating it"
INDEXED_AS_STORED = "code as stored"

#: Shortest query (in words) the leak check looks for: CodeSearchNet keeps docstrings of 3+ tokens.
LEAK_MIN_WORDS = 3


class LeakError(ValueError):
    """A task's pool contains the text of one of its queries."""


@dataclasses.dataclass(frozen=True)
class RetrievalTask:
    """One retrieval task: queries against a pool, binary relevance by corpus position.

    ``excluded`` (optional, per query): corpus positions left out of that query's ranking, as
    the query itself in a POJ-104 style set where every item is also a query.
    """

    name: str
    direction: str  # human-readable, e.g. "docstring -> python code"
    query_kind: str  # "text" | "code"
    query_ids: tuple[str, ...]
    queries: tuple[str, ...]
    query_languages: tuple[str | None, ...]
    corpus_ids: tuple[str, ...]
    corpus: tuple[str, ...]
    corpus_languages: tuple[str, ...]
    relevant: tuple[tuple[int, ...], ...]  # per query: corpus positions of its relevant items
    source: str = ""  # where the data came from (shards + split, or a file)
    indexed: str = INDEXED_AS_STORED  # what the pool (and code queries) hold
    excluded: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self) -> None:
        if self.query_kind not in KINDS:
            raise ValueError(f"query_kind must be one of {KINDS}, got {self.query_kind!r}")
        n_q = len(self.queries)
        if not (len(self.query_ids) == len(self.query_languages) == len(self.relevant) == n_q):
            raise ValueError(f"task {self.name}: query columns differ in length")
        if not (len(self.corpus_ids) == len(self.corpus_languages) == len(self.corpus)):
            raise ValueError(f"task {self.name}: corpus columns differ in length")
        if self.excluded and len(self.excluded) != n_q:
            raise ValueError(f"task {self.name}: excluded must have one entry per query")
        for rel, excl in zip(self.relevant, self.excluded or [()] * n_q, strict=True):
            if set(rel) & set(excl):
                raise ValueError(f"task {self.name}: a relevant item is excluded from its ranking")

    @property
    def kind(self) -> str:
        return "retrieval"

    @property
    def pool_size(self) -> int:
        return len(self.corpus)

    @property
    def num_queries(self) -> int:
        return len(self.queries)

    def ranked_pool_sizes(self) -> list[int]:
        """Per query, how many candidates it is ranked against (the pool minus its exclusions)."""
        if not self.excluded:
            return [self.pool_size] * self.num_queries
        return [self.pool_size - len(e) for e in self.excluded]

    def describe(self) -> str:
        """One line for reports: direction, queries, pool, what was indexed and the source."""
        pool = f"pool {self.pool_size}"
        if self.excluded:
            pool += " (each query's own item left out)"
        return (
            f"{self.direction}; {self.num_queries} queries, {pool}, full-pool ranking; "
            f"indexed: {self.indexed}{'; ' + self.source if self.source else ''}"
        )


@dataclasses.dataclass(frozen=True)
class PairTask:
    """Pair classification (BigCloneBench style): is each pair of items a clone?

    ``validation`` and ``test`` are (item position, item position, label) triples; a model's
    score threshold is chosen on ``validation`` (best F1) and applied to ``test``.
    """

    name: str
    direction: str
    items: tuple[str, ...]
    item_languages: tuple[str, ...]
    validation: tuple[tuple[int, int, int], ...]
    test: tuple[tuple[int, int, int], ...]
    source: str = ""
    indexed: str = INDEXED_AS_STORED

    def __post_init__(self) -> None:
        if len(self.items) != len(self.item_languages):
            raise ValueError(f"task {self.name}: item columns differ in length")
        if not self.validation or not self.test:
            raise ValueError(f"task {self.name}: needs validation and test pairs")
        n = len(self.items)
        for i, j, label in (*self.validation, *self.test):
            if not (0 <= i < n and 0 <= j < n) or label not in (0, 1):
                raise ValueError(f"task {self.name}: bad pair ({i}, {j}, {label})")

    @property
    def kind(self) -> str:
        return "pairs"

    @property
    def query_kind(self) -> str:
        return "code"

    @property
    def pool_size(self) -> int:
        return len(self.items)

    @property
    def num_queries(self) -> int:
        return len(self.test)

    def describe(self) -> str:
        positives = sum(label for _, _, label in self.test)
        return (
            f"{self.direction}; {len(self.test)} test pairs ({positives} clones), "
            f"{len(self.validation)} validation pairs choose the threshold; {len(self.items)} "
            f"functions; indexed: {self.indexed}{'; ' + self.source if self.source else ''}"
        )


Task = RetrievalTask | PairTask


# ---------------------------------------------------------------------------------------------
# the leak check


def _normalise(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def find_leaks(task: RetrievalTask, min_words: int = LEAK_MIN_WORDS) -> list[tuple[int, int]]:
    """(query, corpus position) pairs where the corpus item contains the query's text.

    Texts are compared as lower-cased word sequences (punctuation and line breaks are
    separators), so ``Return the sum.`` is found in ``# return the  SUM`` too. Queries of
    fewer than ``min_words`` words are not looked for. One pass over the corpus: queries are
    indexed by their first ``min_words`` words.
    """
    by_head: dict[tuple[str, ...], list[tuple[int, list[str]]]] = defaultdict(list)
    for qi, text in enumerate(task.queries):
        tokens = _normalise(text)
        if len(tokens) >= min_words:
            by_head[tuple(tokens[:min_words])].append((qi, tokens))
    if not by_head:
        return []
    leaks = set()
    for ci, item in enumerate(task.corpus):
        tokens = _normalise(item)
        for start in range(len(tokens) - min_words + 1):
            for qi, query in by_head.get(tuple(tokens[start : start + min_words]), ()):
                if tokens[start : start + len(query)] == query:
                    leaks.add((qi, ci))
    return sorted(leaks)


def check_no_leak(task: Task) -> None:
    """Raise :class:`LeakError` when a text-to-code task's pool holds one of its queries."""
    if not isinstance(task, RetrievalTask) or task.query_kind != "text":
        return
    leaks = find_leaks(task)
    if leaks:
        qi, ci = leaks[0]
        raise LeakError(
            f"task {task.name}: {len({q for q, _ in leaks})} of {task.num_queries} queries are "
            f"found verbatim in the pool (e.g. query {task.query_ids[qi]!r} in corpus item "
            f"{task.corpus_ids[ci]!r}); the pool must hold code without its documentation"
        )


# ---------------------------------------------------------------------------------------------
# building tasks from (query, relevant units) with de-duplication


@dataclasses.dataclass(frozen=True)
class _Unit:
    """One function of one pair in one language (or one external document)."""

    uid: str
    text: str
    language: str


def build_task(
    name: str,
    direction: str,
    query_kind: str,
    queries: Iterable[tuple[str, str, str | None, Iterable[str]]],
    pool: Iterable[_Unit],
    source: str,
    indexed: str = INDEXED_AS_STORED,
) -> RetrievalTask | None:
    """Assemble a task, collapsing identical corpus items and identical queries.

    ``queries``: (query id, text, language or None, ids of relevant units); ``pool``: the units.
    Returns None when no query has a relevant item in the pool.
    """
    # corpus: one item per (language, exact text); its id is the smallest member id
    members: dict[tuple[str, str], list[str]] = defaultdict(list)
    for unit in pool:
        members[(unit.language, unit.text)].append(unit.uid)
    items = sorted((min(ids), lang, text, ids) for (lang, text), ids in members.items())
    position_of_uid: dict[str, int] = {}
    for pos, (_, _, _, ids) in enumerate(items):
        for uid in ids:
            position_of_uid[uid] = pos
    # queries: one per (language, exact text); relevance is the union over merged queries
    merged: dict[tuple[str | None, str], tuple[str, set[int]]] = {}
    for qid, text, lang, rel_uids in queries:
        if not text.strip():
            continue
        rel = {position_of_uid[u] for u in rel_uids if u in position_of_uid}
        if not rel:
            continue
        key = (lang, text)
        if key in merged:
            first_id, acc = merged[key]
            merged[key] = (min(first_id, qid), acc | rel)
        else:
            merged[key] = (qid, rel)
    if not merged or not items:
        return None
    q_rows = sorted((qid, lang, text, rel) for (lang, text), (qid, rel) in merged.items())
    return RetrievalTask(
        name=name,
        direction=direction,
        query_kind=query_kind,
        query_ids=tuple(r[0] for r in q_rows),
        queries=tuple(r[2] for r in q_rows),
        query_languages=tuple(r[1] for r in q_rows),
        corpus_ids=tuple(i[0] for i in items),
        corpus=tuple(i[2] for i in items),
        corpus_languages=tuple(i[1] for i in items),
        relevant=tuple(tuple(sorted(r[3])) for r in q_rows),
        source=source,
        indexed=indexed,
    )


# ---------------------------------------------------------------------------------------------
# release shards


def shard_paths(data_dir: str | Path, split: str) -> list[Path]:
    """``DIR/data/<split>-*.parquet`` (or ``DIR/<split>-*.parquet`` when DIR is the data folder)."""
    root = Path(data_dir)
    for folder in (root / "data", root):
        paths = sorted(folder.glob(f"{split}-*.parquet"))
        if paths:
            return paths
    raise ValueError(f"no {split} shards under {root} (expected {root}/data/{split}-*.parquet)")


def read_release_rows(data_dir: str | Path, split: str = "test") -> list[dict[str, Any]]:
    """Every release row of one split (``split="all"``: every split), as dicts."""
    splits = ("train", "validation", "test") if split == "all" else (split,)
    rows: list[dict[str, Any]] = []
    for name in splits:
        try:
            paths = shard_paths(data_dir, name)
        except ValueError:
            if split == "all":
                continue
            raise
        for path in paths:
            rows.extend(pq.read_table(path).to_pylist())
    if not rows:
        raise ValueError(f"no shards of any split under {data_dir}")
    return rows


def _pair_units(
    rows: Iterable[dict[str, Any]], strip: bool
) -> tuple[dict[str, str], dict[str, _Unit], dict[str, list[_Unit]]]:
    """Per pair: its docstring, its source unit and its translation units (lowest attempt)."""
    docs: dict[str, str] = {}
    sources: dict[str, _Unit] = {}
    translations: dict[tuple[str, str], tuple[int, _Unit]] = {}

    def code(text: str, language: str, doc: str) -> str:
        return strip_documentation(text, language, doc) if strip else text

    for row in rows:
        pid = row["pair_id"]
        docs.setdefault(pid, (row.get("func_documentation_string") or "").strip())
        src_lang = row.get("language1_CSN")
        if row.get("func1_CSN") and src_lang and pid not in sources:
            sources[pid] = _Unit(
                f"{pid}:{src_lang}", code(row["func1_CSN"], src_lang, docs[pid]), src_lang
            )
        tgt_lang = row.get("language2")
        if row.get("func2") and tgt_lang and tgt_lang != src_lang:
            attempt = row.get("attempt") or 0
            key = (pid, tgt_lang)
            if key not in translations or attempt < translations[key][0]:
                unit = _Unit(f"{pid}:{tgt_lang}", code(row["func2"], tgt_lang, docs[pid]), tgt_lang)
                translations[key] = (attempt, unit)
    by_pair: dict[str, list[_Unit]] = defaultdict(list)
    for (pid, _), (_, unit) in sorted(translations.items()):
        by_pair[pid].append(unit)
    return docs, sources, dict(by_pair)


def tasks_from_release_rows(
    rows: Iterable[dict[str, Any]],
    source: str = "",
    per_language: bool = True,
    strip: bool = True,
    check_leaks: bool = True,
) -> list[RetrievalTask]:
    """Text-to-code and code-to-code tasks from release rows (see the module docstring).

    ``strip=False`` indexes the functions as stored (documentation included); the leak check
    then refuses the text-to-code tasks unless ``check_leaks=False`` (for a comparison only).
    """
    docs, sources, translations = _pair_units(rows, strip)
    indexed = INDEXED_STRIPPED if strip else INDEXED_AS_STORED
    units_by_pair: dict[str, list[_Unit]] = defaultdict(list)
    for pid, unit in sources.items():
        units_by_pair[pid].append(unit)
    for pid, units in translations.items():
        units_by_pair[pid].extend(units)
    all_units = [u for units in units_by_pair.values() for u in units]
    languages = sorted({u.language for u in all_units})
    tasks: list[RetrievalTask | None] = []

    def text_queries(lang: str | None) -> Iterator[tuple[str, str, None, list[str]]]:
        for pid in sorted(units_by_pair):
            rel = [u.uid for u in units_by_pair[pid] if lang is None or u.language == lang]
            if rel and docs.get(pid):
                yield pid, docs[pid], None, rel

    if per_language:
        for lang in languages:
            tasks.append(
                build_task(
                    f"text-to-code/{lang}",
                    f"docstring -> {lang} code",
                    "text",
                    text_queries(lang),
                    [u for u in all_units if u.language == lang],
                    source,
                    indexed,
                )
            )
    tasks.append(
        build_task(
            "text-to-code/all",
            "docstring -> code in any language",
            "text",
            text_queries(None),
            all_units,
            source,
            indexed,
        )
    )
    all_translations = [u for units in translations.values() for u in units]
    target_languages = sorted({u.language for u in all_translations})

    def src_to_tgt(lang: str | None) -> Iterator[tuple[str, str, str, list[str]]]:
        for pid in sorted(translations):
            if pid not in sources:
                continue
            rel = [u.uid for u in translations[pid] if lang is None or u.language == lang]
            if rel:
                s = sources[pid]
                yield s.uid, s.text, s.language, rel

    def tgt_to_src(lang: str | None) -> Iterator[tuple[str, str, str, list[str]]]:
        for pid in sorted(translations):
            if pid not in sources:
                continue
            for u in translations[pid]:
                if lang is None or u.language == lang:
                    yield u.uid, u.text, u.language, [sources[pid].uid]

    source_units = list(sources.values())
    code_indexed = f"queries and pool: {indexed}"
    tasks.append(
        build_task(
            "code-to-code/source->translation",
            "source function -> its translations",
            "code",
            src_to_tgt(None),
            all_translations,
            source,
            code_indexed,
        )
    )
    tasks.append(
        build_task(
            "code-to-code/translation->source",
            "translated function -> its source",
            "code",
            tgt_to_src(None),
            source_units,
            source,
            code_indexed,
        )
    )
    if per_language and len(target_languages) > 1:  # with one target it repeats the above
        for lang in target_languages:
            pool = [u for u in all_translations if u.language == lang]
            tasks.append(
                build_task(
                    f"code-to-code/source->{lang}",
                    f"source function -> its {lang} translation",
                    "code",
                    src_to_tgt(lang),
                    pool,
                    source,
                    code_indexed,
                )
            )
            tasks.append(
                build_task(
                    f"code-to-code/{lang}->source",
                    f"{lang} translation -> its source",
                    "code",
                    tgt_to_src(lang),
                    source_units,
                    source,
                    code_indexed,
                )
            )
    built = [t for t in tasks if t is not None]
    if check_leaks:
        for task in built:
            check_no_leak(task)
    return built


def tasks_from_release(
    data_dir: str | Path, split: str = "test", per_language: bool = True
) -> list[RetrievalTask]:
    """Tasks from ``DIR/data/<split>-*.parquet`` (``split="all"``: every split together)."""
    rows = read_release_rows(data_dir, split)
    return tasks_from_release_rows(
        rows, source=f"{Path(data_dir).name} {split} split", per_language=per_language
    )


# ---------------------------------------------------------------------------------------------
# what was searched


def _task_folder(root: Path, name: str) -> Path:
    return root / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def dump_tasks(tasks: Sequence[Task], directory: str | Path) -> list[Path]:
    """Write each task's queries and pool as JSON lines, so a user can see what was searched.

    Retrieval tasks: ``queries.jsonl`` (id, text, language, relevant corpus ids, excluded
    corpus ids) and ``corpus.jsonl`` (id, text, language); pair tasks: ``items.jsonl`` and
    ``pairs.jsonl`` (split, the two item ids, label). Each folder has a ``task.json`` summary.
    """
    root = Path(directory)
    written = []
    for task in tasks:
        folder = _task_folder(root, task.name)
        folder.mkdir(parents=True, exist_ok=True)
        summary = {
            "name": task.name,
            "kind": task.kind,
            "description": task.describe(),
            "indexed": task.indexed,
            "pool_size": task.pool_size,
        }
        (folder / "task.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        if isinstance(task, RetrievalTask):
            with open(folder / "queries.jsonl", "w", encoding="utf-8") as fh:
                for i, (qid, text, lang, rel) in enumerate(
                    zip(
                        task.query_ids,
                        task.queries,
                        task.query_languages,
                        task.relevant,
                        strict=True,
                    )
                ):
                    excluded = (
                        [task.corpus_ids[j] for j in task.excluded[i]] if task.excluded else []
                    )
                    fh.write(
                        json.dumps(
                            {
                                "id": qid,
                                "text": text,
                                "language": lang,
                                "relevant": [task.corpus_ids[j] for j in rel],
                                "excluded": excluded,
                            },
                            ensure_ascii=False,
                        )
                        + "\n"
                    )
            with open(folder / "corpus.jsonl", "w", encoding="utf-8") as fh:
                for cid, text, lang in zip(
                    task.corpus_ids, task.corpus, task.corpus_languages, strict=True
                ):
                    fh.write(
                        json.dumps({"id": cid, "text": text, "language": lang}, ensure_ascii=False)
                        + "\n"
                    )
        else:
            with open(folder / "items.jsonl", "w", encoding="utf-8") as fh:
                for i, (text, lang) in enumerate(zip(task.items, task.item_languages, strict=True)):
                    fh.write(
                        json.dumps({"id": i, "text": text, "language": lang}, ensure_ascii=False)
                        + "\n"
                    )
            with open(folder / "pairs.jsonl", "w", encoding="utf-8") as fh:
                for split, pairs in (("validation", task.validation), ("test", task.test)):
                    for i, j, label in pairs:
                        fh.write(
                            json.dumps({"split": split, "a": i, "b": j, "label": label}) + "\n"
                        )
        written.append(folder)
    return written
