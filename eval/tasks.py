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

Relevance is made well defined by de-duplication: one function per (pair, language) (the lowest
attempt), identical functions in one language collapse into one corpus item, identical queries
collapse into one query, and a merged item is relevant wherever any of its members was. The corpus
is sorted by id, so the search's tie rule (lower corpus position first) is ``(-score, corpus_id)``.

External sets: CodeSearchNet-format JSONL(.gz)/parquet files (``docstring``/``code`` or their
``*_tokens`` columns, ``language``; one text-to-code task per language, each row's code relevant to
its docstring) and CoIR/BEIR-format directories (``corpus.jsonl``, ``queries.jsonl``,
``qrels/<split>.tsv``).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

KINDS: tuple[str, ...] = ("text", "code")

#: Language label for code whose language is not recorded (external sets).
UNKNOWN_LANGUAGE = "code"


@dataclasses.dataclass(frozen=True)
class RetrievalTask:
    """One retrieval task: queries against a pool, binary relevance by corpus position."""

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

    def __post_init__(self) -> None:
        if self.query_kind not in KINDS:
            raise ValueError(f"query_kind must be one of {KINDS}, got {self.query_kind!r}")
        n_q = len(self.queries)
        if not (len(self.query_ids) == len(self.query_languages) == len(self.relevant) == n_q):
            raise ValueError(f"task {self.name}: query columns differ in length")
        if not (len(self.corpus_ids) == len(self.corpus_languages) == len(self.corpus)):
            raise ValueError(f"task {self.name}: corpus columns differ in length")

    @property
    def pool_size(self) -> int:
        return len(self.corpus)

    @property
    def num_queries(self) -> int:
        return len(self.queries)

    def describe(self) -> str:
        """One line for reports: direction, queries, pool and source."""
        return (
            f"{self.direction}; {self.num_queries} queries, pool {self.pool_size} "
            f"(full-pool ranking){'; ' + self.source if self.source else ''}"
        )


# ---------------------------------------------------------------------------------------------
# building tasks from (query, relevant units) with de-duplication


@dataclasses.dataclass(frozen=True)
class _Unit:
    """One function of one pair in one language (or one external document)."""

    uid: str
    text: str
    language: str


def _build_task(
    name: str,
    direction: str,
    query_kind: str,
    queries: Iterable[tuple[str, str, str | None, Iterable[str]]],
    pool: Iterable[_Unit],
    source: str,
) -> RetrievalTask | None:
    """Assemble a task, collapsing identical corpus items and identical queries.

    ``queries``: (query id, text, language or None, ids of relevant units); ``pool``: the units.
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
    """Every release row of one split, as dicts."""
    rows: list[dict[str, Any]] = []
    for path in shard_paths(data_dir, split):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def _pair_units(rows: Iterable[dict[str, Any]]) -> tuple[dict[str, str], dict[str, _Unit], dict[str, list[_Unit]]]:
    """Per pair: its docstring, its source unit and its translation units (lowest attempt)."""
    docs: dict[str, str] = {}
    sources: dict[str, _Unit] = {}
    translations: dict[tuple[str, str], tuple[int, _Unit]] = {}
    for row in rows:
        pid = row["pair_id"]
        docs.setdefault(pid, (row.get("func_documentation_string") or "").strip())
        src_lang = row.get("language1_CSN")
        if row.get("func1_CSN") and src_lang:
            sources.setdefault(pid, _Unit(f"{pid}:{src_lang}", row["func1_CSN"], src_lang))
        tgt_lang = row.get("language2")
        if row.get("func2") and tgt_lang and tgt_lang != src_lang:
            attempt = row.get("attempt") or 0
            key = (pid, tgt_lang)
            if key not in translations or attempt < translations[key][0]:
                translations[key] = (attempt, _Unit(f"{pid}:{tgt_lang}", row["func2"], tgt_lang))
    by_pair: dict[str, list[_Unit]] = defaultdict(list)
    for (pid, _), (_, unit) in sorted(translations.items()):
        by_pair[pid].append(unit)
    return docs, sources, dict(by_pair)


def tasks_from_release_rows(
    rows: Iterable[dict[str, Any]], source: str = "", per_language: bool = True
) -> list[RetrievalTask]:
    """Text-to-code and code-to-code tasks from release rows (see the module docstring)."""
    docs, sources, translations = _pair_units(rows)
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
                _build_task(
                    f"text-to-code/{lang}",
                    f"docstring -> {lang} code",
                    "text",
                    text_queries(lang),
                    [u for u in all_units if u.language == lang],
                    source,
                )
            )
    tasks.append(
        _build_task("text-to-code/all", "docstring -> code in any language", "text",
                    text_queries(None), all_units, source)
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
    tasks.append(
        _build_task("code-to-code/source->translation", "source function -> its translations",
                    "code", src_to_tgt(None), all_translations, source)
    )
    tasks.append(
        _build_task("code-to-code/translation->source", "translated function -> its source",
                    "code", tgt_to_src(None), source_units, source)
    )
    if per_language and len(target_languages) > 1:  # with one target it repeats the above
        for lang in target_languages:
            pool = [u for u in all_translations if u.language == lang]
            tasks.append(
                _build_task(f"code-to-code/source->{lang}", f"source function -> its {lang} translation",
                            "code", src_to_tgt(lang), pool, source)
            )
            tasks.append(
                _build_task(f"code-to-code/{lang}->source", f"{lang} translation -> its source",
                            "code", tgt_to_src(lang), source_units, source)
            )
    return [t for t in tasks if t is not None]


def tasks_from_release(
    data_dir: str | Path, split: str = "test", per_language: bool = True
) -> list[RetrievalTask]:
    """Tasks from ``DIR/data/<split>-*.parquet``."""
    rows = read_release_rows(data_dir, split)
    return tasks_from_release_rows(rows, source=f"{Path(data_dir).name} {split} split", per_language=per_language)


# ---------------------------------------------------------------------------------------------
# external sets


def _read_records(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _csn_field(record: dict[str, Any], names: tuple[str, ...], tokens: str) -> str:
    for name in names:
        value = record.get(name)
        if isinstance(value, str) and value.strip():
            return value
    toks = record.get(tokens)
    return " ".join(toks) if toks else ""


def tasks_from_csn(path: str | Path) -> list[RetrievalTask]:
    """CodeSearchNet-format file(s): one text-to-code task per language, full-pool ranking.

    ``path`` is a ``.jsonl``/``.jsonl.gz``/``.parquet`` file or a folder of them. Each record's
    code (``code``, ``original_string``, ``function`` or ``code_tokens``) is relevant to its
    docstring (``docstring``, ``func_documentation_string`` or ``docstring_tokens``).
    """
    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.suffix in (".jsonl", ".gz", ".parquet")) if root.is_dir() else [root]
    if not files:
        raise ValueError(f"no CodeSearchNet files under {root}")
    by_lang: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for file in files:
        for i, rec in enumerate(_read_records(file)):
            lang = rec.get("language") or UNKNOWN_LANGUAGE
            code = _csn_field(rec, ("code", "original_string", "function", "func_code_string"), "code_tokens")
            doc = _csn_field(rec, ("docstring", "func_documentation_string"), "docstring_tokens")
            if code and doc:
                by_lang[lang].append((f"{file.name}:{i:08d}", doc.strip(), code))
    tasks = []
    for lang, recs in sorted(by_lang.items()):
        task = _build_task(
            f"csn/{lang}",
            f"docstring -> {lang} code",
            "text",
            ((uid, doc, None, [uid]) for uid, doc, _ in recs),
            [_Unit(uid, code, lang) for uid, _, code in recs],
            f"CodeSearchNet format: {root.name}",
        )
        if task is not None:
            tasks.append(task)
    return tasks


def tasks_from_beir(path: str | Path, split: str = "test", query_kind: str = "text",
                    language: str = UNKNOWN_LANGUAGE) -> RetrievalTask:
    """A CoIR/BEIR-format folder: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

    Queries without a positive qrel are dropped (as BEIR does); the pool is the whole corpus.
    """
    root = Path(path)
    qrels_path = root / "qrels" / f"{split}.tsv"
    for needed in (root / "corpus.jsonl", root / "queries.jsonl", qrels_path):
        if not needed.exists():
            raise ValueError(f"{root} is not a CoIR/BEIR folder: {needed} is missing")
    corpus = _read_records(root / "corpus.jsonl")
    queries = {str(q["_id"]): q["text"] for q in _read_records(root / "queries.jsonl")}
    qrels: dict[str, list[str]] = defaultdict(list)
    with open(qrels_path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0] == "query-id":
                continue
            if float(parts[2]) > 0:
                qrels[parts[0]].append(parts[1])
    units = [
        _Unit(str(d["_id"]), ((d.get("title") or "") + "\n" + d["text"]).strip() if d.get("title") else d["text"], language)
        for d in corpus
    ]
    task = _build_task(
        f"coir/{root.name}",
        f"{query_kind} query -> corpus document ({split} qrels)",
        query_kind,
        ((qid, queries[qid], language if query_kind == "code" else None, rel)
         for qid, rel in sorted(qrels.items()) if qid in queries),
        units,
        f"CoIR/BEIR format: {root.name}",
    )
    if task is None:
        raise ValueError(f"{root}: no query has a relevant document in the corpus")
    return task


def load_external(spec: str, split: str = "test") -> list[RetrievalTask]:
    """``PATH`` (CSN file/folder or BEIR folder), or ``PATH::code`` for a BEIR set of code queries."""
    path, _, kind = spec.partition("::") if "::" in spec else (spec, "", "")
    root = Path(path)
    if not root.exists():
        raise ValueError(f"external set {root} does not exist")
    if root.is_dir() and (root / "corpus.jsonl").exists():
        return [tasks_from_beir(root, split=split, query_kind=kind or "text")]
    return tasks_from_csn(root)
