"""External evaluation sets in the formats the field publishes them in.

``load_external(spec)`` recognises a path by its contents:

- **CodeXGLUE / UniXcoder code search** (GraphCodeBERT's filtered CodeSearchNet; Guo et al.
  2021, arXiv:2009.08366; UniXcoder, arXiv:2203.03850): a folder with ``test.jsonl`` and
  ``codebase.jsonl`` (or one sub-folder per language holding them). Queries are the test
  docstrings, the pool is the separate codebase, a query's answer is the codebase item with the
  same ``url``: one task ``codesearch/<lang>`` per language, MRR over the whole codebase. As in
  UniXcoder's ``run.py``, the query is ``" ".join(docstring_tokens)`` and the code
  ``" ".join(code_tokens)`` (CodeSearchNet's tokens: no docstring, no comments); a record with
  only ``code``/``original_string`` is stripped of its documentation by
  ``eval.docstrings``. (UniXcoder gives 0 to an answer ranked past 1,000; here the exact rank
  counts, a difference below 0.001 per such query.)
- **CodeSearchNet JSONL** (``*.jsonl``, ``*.jsonl.gz``, parquet; a file or a folder of them):
  each record's code is relevant to its own docstring, the pool is every record of the
  language (``csn/<lang>``); code and query as above.
- **CoIR / BEIR** folders (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``): as
  stored (``PATH::code`` when the queries are code).
- **POJ-104** (CodeXGLUE clone detection; Mou et al. 2016): JSON lines with ``code``, ``index``
  and ``label``; every program is a query against all the others, relevant = same label, its
  own item left out; MAP@R is the task's metric (``PATH::LANGUAGE`` sets the language, default
  ``cpp``).
- **BigCloneBench** (CodeXGLUE; Svajlenko et al. 2014): a folder with ``data.jsonl``
  (``idx``, ``func``) and ``valid.txt`` / ``test.txt`` (``idx1<TAB>idx2<TAB>label``): pair
  classification, the score threshold chosen for the best F1 on validation, F1 reported on test.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from eval.docstrings import strip_documentation
from eval.tasks import (
    INDEXED_AS_STORED,
    INDEXED_STRIPPED,
    UNKNOWN_LANGUAGE,
    PairTask,
    RetrievalTask,
    Task,
    _Unit,
    build_task,
    check_no_leak,
)

INDEXED_TOKENS = "CodeSearchNet code_tokens joined by spaces (no docstring, no comments)"


def read_records(path: Path) -> list[dict[str, Any]]:
    """JSON lines (optionally gzip) or parquet rows."""
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _text(record: dict[str, Any], names: tuple[str, ...]) -> str:
    for name in names:
        value = record.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def csn_query(record: dict[str, Any]) -> str:
    """The query: ``docstring_tokens`` joined (UniXcoder), else the docstring as written."""
    tokens = record.get("docstring_tokens")
    if isinstance(tokens, list) and tokens:
        return " ".join(tokens)
    return _text(record, ("docstring", "func_documentation_string", "doc")).strip()


def csn_code(record: dict[str, Any], language: str) -> tuple[str, str]:
    """(code to index, what that is): ``code_tokens`` joined, else the code stripped of its docs."""
    tokens = record.get("code_tokens") or record.get("function_tokens")
    if isinstance(tokens, list) and tokens:
        return " ".join(tokens), INDEXED_TOKENS
    code = _text(record, ("code", "original_string", "function", "func_code_string"))
    doc = _text(record, ("docstring", "func_documentation_string"))
    return strip_documentation(code, language, doc), INDEXED_STRIPPED


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and (p.suffix in (".jsonl", ".parquet") or p.name.endswith(".jsonl.gz"))
    )


def tasks_from_csn(path: str | Path) -> list[RetrievalTask]:
    """CodeSearchNet-format file(s): one text-to-code task per language, full-pool ranking."""
    root = Path(path)
    files = _files(root)
    if not files:
        raise ValueError(f"no CodeSearchNet files under {root}")
    by_lang: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    indexed_by_lang: dict[str, set[str]] = defaultdict(set)
    for file in files:
        for i, rec in enumerate(read_records(file)):
            lang = rec.get("language") or UNKNOWN_LANGUAGE
            query = csn_query(rec)
            code, indexed = csn_code(rec, lang)
            if code.strip() and query:
                by_lang[lang].append((f"{file.name}:{i:08d}", query, code))
                indexed_by_lang[lang].add(indexed)
    tasks = []
    for lang, recs in sorted(by_lang.items()):
        task = build_task(
            f"csn/{lang}",
            f"docstring -> {lang} code",
            "text",
            ((uid, doc, None, [uid]) for uid, doc, _ in recs),
            [_Unit(uid, code, lang) for uid, _, code in recs],
            f"CodeSearchNet format: {root.name}",
            "; ".join(sorted(indexed_by_lang[lang])),
        )
        if task is not None:
            check_no_leak(task)
            tasks.append(task)
    return tasks


def _codesearch_folders(root: Path) -> Iterator[tuple[str | None, Path]]:
    if (root / "codebase.jsonl").is_file():
        yield None, root
        return
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if (sub / "codebase.jsonl").is_file():
            yield sub.name, sub


def is_codesearch_folder(root: Path) -> bool:
    return root.is_dir() and any(True for _ in _codesearch_folders(root))


def tasks_from_codesearch(path: str | Path, split: str = "test") -> list[RetrievalTask]:
    """CodeXGLUE/UniXcoder code search: ``<split>.jsonl`` queries against ``codebase.jsonl``.

    Matched by ``url``; a query whose url is not in the codebase is dropped (and counted in the
    task's source line). Identical code in the codebase is one candidate, relevant to every
    query whose url it carries.
    """
    root = Path(path)
    tasks = []
    for folder_lang, folder in _codesearch_folders(root):
        query_file = folder / f"{split}.jsonl"
        if not query_file.is_file():
            raise ValueError(f"{folder} has codebase.jsonl but no {split}.jsonl")
        codebase = read_records(folder / "codebase.jsonl")
        queries = read_records(query_file)
        lang = folder_lang or next(
            (r.get("language") for r in codebase if r.get("language")), UNKNOWN_LANGUAGE
        )
        pool, indexed = [], set()
        for i, rec in enumerate(codebase):
            code, how = csn_code(rec, rec.get("language") or lang)
            url = rec.get("url") or f"codebase:{i}"
            pool.append(_Unit(url, code, lang))
            indexed.add(how)
        urls = {u.uid for u in pool}
        kept = [
            (rec["url"], csn_query(rec))
            for rec in queries
            if rec.get("url") in urls and csn_query(rec)
        ]
        dropped = len(queries) - len(kept)
        task = build_task(
            f"codesearch/{lang}",
            f"docstring -> {lang} code (separate codebase, matched by url)",
            "text",
            ((f"q:{url}", text, None, [url]) for url, text in kept),
            pool,
            f"CodeXGLUE code search: {folder}"
            + (f"; {dropped} queries without their code dropped" if dropped else ""),
            "; ".join(sorted(indexed)),
        )
        if task is not None:
            check_no_leak(task)
            tasks.append(task)
    if not tasks:
        raise ValueError(f"no codebase.jsonl under {root}")
    return tasks


def tasks_from_beir(
    path: str | Path,
    split: str = "test",
    query_kind: str = "text",
    language: str = UNKNOWN_LANGUAGE,
) -> RetrievalTask:
    """A CoIR/BEIR-format folder: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

    Queries without a positive qrel are dropped (as BEIR does); the pool is the whole corpus,
    as stored.
    """
    root = Path(path)
    qrels_path = root / "qrels" / f"{split}.tsv"
    for needed in (root / "corpus.jsonl", root / "queries.jsonl", qrels_path):
        if not needed.exists():
            raise ValueError(f"{root} is not a CoIR/BEIR folder: {needed} is missing")
    corpus = read_records(root / "corpus.jsonl")
    queries = {str(q["_id"]): q["text"] for q in read_records(root / "queries.jsonl")}
    qrels: dict[str, list[str]] = defaultdict(list)
    with open(qrels_path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0] == "query-id":
                continue
            if float(parts[2]) > 0:
                qrels[parts[0]].append(parts[1])
    units = [
        _Unit(
            str(d["_id"]),
            ((d.get("title") or "") + "\n" + d["text"]).strip() if d.get("title") else d["text"],
            language,
        )
        for d in corpus
    ]
    task = build_task(
        f"coir/{root.name}",
        f"{query_kind} query -> corpus document ({split} qrels)",
        query_kind,
        (
            (qid, queries[qid], language if query_kind == "code" else None, rel)
            for qid, rel in sorted(qrels.items())
            if qid in queries
        ),
        units,
        f"CoIR/BEIR format: {root.name}",
        INDEXED_AS_STORED,
    )
    if task is None:
        raise ValueError(f"{root}: no query has a relevant document in the corpus")
    return task


def is_poj104_file(path: Path) -> bool:
    if not path.is_file() or path.suffix not in (".jsonl", ".json"):
        return False
    with open(path, encoding="utf-8") as fh:
        first = fh.readline()
    try:
        record = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(record, dict) and {"code", "label", "index"} <= set(record)


def tasks_from_poj104(path: str | Path, language: str = "cpp") -> RetrievalTask:
    """POJ-104: every program against all others, relevant = same label, itself left out.

    Programs are indexed as stored (the benchmark's programs have no docstring). UniXcoder
    scores MAP@R over exactly this ranking (``scores[i, i] = -1e6``, R = same-label count - 1).
    """
    root = Path(path)
    records = read_records(root)
    if len(records) < 2:
        raise ValueError(f"{root}: POJ-104 needs at least two programs")
    ids = [str(r["index"]) for r in records]
    labels = [str(r["label"]) for r in records]
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    keep = [i for i in range(len(records)) if len(by_label[labels[i]]) > 1]
    return RetrievalTask(
        name=f"poj104/{root.stem}",
        direction=f"{language} program -> programs solving the same problem",
        query_kind="code",
        query_ids=tuple(ids[i] for i in keep),
        queries=tuple(records[i]["code"] for i in keep),
        query_languages=tuple(language for _ in keep),
        corpus_ids=tuple(ids),
        corpus=tuple(r["code"] for r in records),
        corpus_languages=tuple(language for _ in records),
        relevant=tuple(tuple(j for j in by_label[labels[i]] if j != i) for i in keep),
        source=f"POJ-104 format: {root.name}",
        indexed=INDEXED_AS_STORED,
        excluded=tuple((i,) for i in keep),
    )


def is_bcb_folder(root: Path) -> bool:
    return root.is_dir() and (root / "data.jsonl").is_file() and (root / "test.txt").is_file()


def _pairs(path: Path, position: dict[str, int]) -> tuple[tuple[int, int, int], ...]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.strip().split("\t")
            if len(parts) != 3 or parts[0] not in position or parts[1] not in position:
                continue
            out.append((position[parts[0]], position[parts[1]], 0 if parts[2] == "0" else 1))
    return tuple(out)


def tasks_from_bcb(path: str | Path, language: str = "java") -> PairTask:
    """BigCloneBench (CodeXGLUE format): pair classification with a validation-chosen threshold."""
    root = Path(path)
    if not (root / "valid.txt").is_file():
        raise ValueError(f"{root}: BigCloneBench needs valid.txt to choose the threshold")
    funcs = {str(r["idx"]): r["func"] for r in read_records(root / "data.jsonl")}
    used: set[str] = set()
    for name in ("valid.txt", "test.txt"):
        with open(root / name, encoding="utf-8") as fh:
            for line in fh:
                parts = line.strip().split("\t")
                if len(parts) == 3:
                    used.update(p for p in parts[:2] if p in funcs)
    order = sorted(used)
    position = {idx: i for i, idx in enumerate(order)}
    return PairTask(
        name=f"bcb/{root.name}",
        direction=f"{language} function pair -> clone or not",
        items=tuple(funcs[idx] for idx in order),
        item_languages=tuple(language for _ in order),
        validation=_pairs(root / "valid.txt", position),
        test=_pairs(root / "test.txt", position),
        source=f"BigCloneBench format: {root.name}",
        indexed=INDEXED_AS_STORED,
    )


def load_external(spec: str, split: str = "test") -> list[Task]:
    """Tasks from ``PATH`` or ``PATH::OPTION`` (see the module docstring for the formats).

    ``OPTION`` is ``code`` for a BEIR folder of code queries, or the language of a POJ-104 /
    BigCloneBench set.
    """
    path, _, option = spec.partition("::")
    root = Path(path)
    if not root.exists():
        raise ValueError(f"external set {root} does not exist")
    if root.is_dir() and (root / "corpus.jsonl").exists():
        return [
            tasks_from_beir(root, split=split, query_kind="code" if option == "code" else "text")
        ]
    if is_codesearch_folder(root):
        return list(tasks_from_codesearch(root, split))
    if is_bcb_folder(root):
        return [tasks_from_bcb(root, option or "java")]
    if is_poj104_file(root):
        return [tasks_from_poj104(root, option or "cpp")]
    return list(tasks_from_csn(root))
