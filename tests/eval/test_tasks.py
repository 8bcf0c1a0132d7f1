"""Tasks from release shards and external sets: pools, directions, de-duplicated relevance."""

from __future__ import annotations

import dataclasses
import gzip
import json

import pytest

from eval.external import load_external
from eval.tasks import (
    LeakError,
    check_no_leak,
    dump_tasks,
    find_leaks,
    tasks_from_release,
    tasks_from_release_rows,
)
from schemas import ReleaseRow
from tests.eval.shards import humaneval_rows, write_release_shards


def _row(pid, doc, src, tgt_lang, tgt, attempt=0, src_lang="python", split="test"):
    return ReleaseRow(
        repository_name=f"r/{pid}",
        func_path_in_repository="f.py",
        language2=tgt_lang,
        func2=tgt,
        language1_CSN=src_lang,
        func1_CSN=src,
        func_documentation_string=doc,
        func_code_url=None,
        pair_id=pid,
        attempt=attempt,
        split=split,
    ).to_row()


def _by_name(tasks):
    return {t.name: t for t in tasks}


def test_text_and_code_tasks_from_rows():
    rows = [
        _row(
            "p1",
            "add two numbers",
            "def add(a, b): return a + b",
            "go",
            "func add(a, b int) int { return a + b }",
        ),
        _row(
            "p1",
            "add two numbers",
            "def add(a, b): return a + b",
            "rust",
            "fn add(a: i32, b: i32) -> i32 { a + b }",
        ),
        _row(
            "p2",
            "negate a number",
            "def neg(a): return -a",
            "go",
            "func neg(a int) int { return -a }",
        ),
    ]
    tasks = _by_name(tasks_from_release_rows(rows))
    go = tasks["text-to-code/go"]
    assert go.query_kind == "text" and go.pool_size == 2 and go.num_queries == 2
    q = go.queries.index("add two numbers")
    assert go.corpus[go.relevant[q][0]].startswith("func add")
    assert tasks["text-to-code/python"].pool_size == 2
    every = tasks["text-to-code/all"]
    assert every.pool_size == 5
    assert len(every.relevant[every.queries.index("add two numbers")]) == 3
    s2t = tasks["code-to-code/source->translation"]
    assert s2t.query_kind == "code" and s2t.pool_size == 3
    assert {
        s2t.corpus_languages[j]
        for j in s2t.relevant[s2t.queries.index("def add(a, b): return a + b")]
    } == {"go", "rust"}
    t2s = tasks["code-to-code/translation->source"]
    assert t2s.num_queries == 3 and t2s.pool_size == 2
    assert "code-to-code/source->rust" in tasks and "code-to-code/go->source" in tasks
    # corpus ordered by id, so the search's position tie rule is (-score, corpus_id)
    for t in tasks.values():
        assert list(t.corpus_ids) == sorted(t.corpus_ids)


def test_duplicates_collapse_and_relevance_is_the_union():
    rows = [
        _row("p1", "same doc", "def f(): return 1", "go", "func f() int { return 1 }"),
        _row(
            "p2", "same doc", "def g(): return 2", "go", "func f() int { return 1 }"
        ),  # same Go code
        _row("p3", "other", "def h(): return 3", "go", "func h() int { return 3 }", attempt=1),
        _row("p3", "other", "def h(): return 3", "go", "func h0() int { return 3 }", attempt=0),
    ]
    go = _by_name(tasks_from_release_rows(rows))["text-to-code/go"]
    assert go.pool_size == 2  # p1/p2 Go code collapsed; p3 keeps its lowest attempt only
    assert (
        "func h0() int { return 3 }" in go.corpus and "func h() int { return 3 }" not in go.corpus
    )
    assert go.num_queries == 2  # the two identical docstrings are one query
    q = go.queries.index("same doc")
    assert len(go.relevant[q]) == 1


def test_tasks_from_release_shards_on_disk(tmp_path):
    rows = humaneval_rows(30, split_of=lambda i: "test" if i % 3 else "train")
    write_release_shards(tmp_path, rows, num_shards=2)
    tasks = _by_name(tasks_from_release(tmp_path, "test"))
    n_test = sum(1 for r in rows if r.split == "test")
    assert tasks["text-to-code/python"].num_queries == n_test
    assert tasks["text-to-code/javascript"].pool_size == n_test
    assert "test split" in tasks["text-to-code/python"].describe()
    with pytest.raises(ValueError, match="no validation shards"):
        tasks_from_release(tmp_path, "validation")


def test_codesearchnet_jsonl(tmp_path):
    path = tmp_path / "python_test_0.jsonl.gz"
    recs = [
        {
            "language": "python",
            "docstring": "Add numbers.",
            "code": "def add(a, b):\n    return a + b",
        },
        {
            "language": "python",
            "docstring_tokens": ["Read", "a", "file"],
            "code_tokens": ["def", "read", "(", ")"],
        },
        {"language": "go", "docstring": "Sum.", "code": "func Sum() {}"},
    ]
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in recs) + "\n")
    tasks = _by_name(load_external(str(path)))
    py = tasks["csn/python"]
    assert py.pool_size == 2 and py.num_queries == 2
    assert py.corpus[py.relevant[py.queries.index("Read a file")][0]] == "def read ( )"
    assert tasks["csn/go"].pool_size == 1


def test_coir_beir_folder(tmp_path):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": f"d{i}", "text": f"code {i}"}) for i in range(4)) + "\n"
    )
    (tmp_path / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "find 2"})
        + "\n"
        + json.dumps({"_id": "q2", "text": "none"})
        + "\n"
    )
    (tmp_path / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td2\t1\nq1\td3\t1\nq2\td1\t0\n"
    )
    [task] = load_external(str(tmp_path))
    assert task.num_queries == 1 and task.pool_size == 4
    assert sorted(task.corpus[j] for j in task.relevant[0]) == ["code 2", "code 3"]
    [code_task] = load_external(f"{tmp_path}::code")
    assert code_task.query_kind == "code"
    with pytest.raises(ValueError):
        load_external(str(tmp_path / "missing"))


DOC_ROWS = [
    (
        "g1",
        "Return the greatest common divisor of two integers.",
        'def gcd(a, b):\n    """Return the greatest common divisor of two integers."""\n    while b:\n        a, b = b, a % b\n    return a\n',
        "go",
        "// Gcd: return the greatest common divisor of two integers.\nfunc Gcd(a, b int) int {\n\tfor b != 0 {\n\t\ta, b = b, a%b\n\t}\n\treturn a\n}\n",
    ),
    (
        "g2",
        "Clamp a value into the closed interval from low to high.",
        'def clamp(x, lo, hi):\n    """Clamp a value into the closed interval from low to high."""\n    return max(lo, min(x, hi))\n',
        "go",
        "func Clamp(x, lo, hi int) int {\n\t// clamp a value into the closed interval from low to high\n\treturn max(lo, min(x, hi))\n}\n",
    ),
]


def _doc_rows():
    return [_row(pid, doc, src, lang, tgt) for pid, doc, src, lang, tgt in DOC_ROWS]


def test_pools_hold_code_without_its_documentation():
    tasks = _by_name(tasks_from_release_rows(_doc_rows()))
    every = tasks["text-to-code/all"]
    assert "without its docstring" in every.indexed and "without its docstring" in every.describe()
    assert "def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a\n" in every.corpus
    assert "func Clamp(x, lo, hi int) int {\n\treturn max(lo, min(x, hi))\n}\n" in every.corpus
    for item in every.corpus:
        assert "greatest" not in item.lower() and "interval" not in item.lower()
    # code-to-code: the query side is stripped as well, and says so
    s2t = tasks["code-to-code/source->translation"]
    assert all('"""' not in q for q in s2t.queries) and s2t.indexed.startswith("queries and pool")


def test_a_pool_that_contains_its_query_is_refused():
    # as stored, every function holds its docstring word for word: the leak check must fail
    with pytest.raises(LeakError, match="found verbatim in the pool"):
        tasks_from_release_rows(_doc_rows(), strip=False)
    leaky = _by_name(tasks_from_release_rows(_doc_rows(), strip=False, check_leaks=False))[
        "text-to-code/go"
    ]
    # punctuation and case do not hide it: "// Gcd: return the GREATEST ..." still matches
    assert find_leaks(leaky) == [(0, 0), (1, 1)]
    with pytest.raises(LeakError):
        check_no_leak(leaky)
    # a query of fewer than three words is not looked for
    short = dataclasses.replace(leaky, queries=("Return gcd", "Clamp it"))
    assert find_leaks(short) == []


def test_dump_tasks_writes_what_was_searched(tmp_path):
    tasks = tasks_from_release_rows(_doc_rows())
    folders = dump_tasks(tasks, tmp_path)
    assert len(folders) == len(tasks)
    every = tmp_path / "text-to-code_all"
    queries = [json.loads(line) for line in (every / "queries.jsonl").read_text().splitlines()]
    corpus = [json.loads(line) for line in (every / "corpus.jsonl").read_text().splitlines()]
    summary = json.loads((every / "task.json").read_text())
    assert (
        summary["pool_size"] == len(corpus) == 4 and "without its docstring" in summary["indexed"]
    )
    assert {q["text"] for q in queries} == {doc for _, doc, *_ in DOC_ROWS}
    ids = {c["id"] for c in corpus}
    assert all(set(q["relevant"]) <= ids and len(q["relevant"]) == 2 for q in queries)
