"""The field's formats end to end, with hand-set vectors so every rank and score is known."""

from __future__ import annotations

import json
import math

import pytest

from eval.external import load_external
from eval.retrieval import EvalConfig, evaluate_bm25, evaluate_chance, evaluate_encoder
from eval.tasks import LeakError
from tests.eval.standin import LookupEncoder

CONFIG = EvalConfig(latency_items=2, latency_repeats=1)


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _angle(degrees):
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))]


def _codesearch(root):
    """CodeXGLUE layout: python/test.jsonl queries, python/codebase.jsonl pool, joined by url."""
    folder = root / "python"
    folder.mkdir(parents=True)
    codebase = [
        {
            "url": "u1",
            "code_tokens": ["def", "add", "(", "a", ",", "b", ")"],
            "docstring_tokens": [],
            "language": "python",
        },
        {
            "url": "u2",
            "code_tokens": ["def", "neg", "(", "a", ")"],
            "docstring_tokens": [],
            "language": "python",
        },
        {
            "url": "u3",
            "code_tokens": ["def", "mul", "(", "a", ",", "b", ")"],
            "docstring_tokens": [],
            "language": "python",
        },
        # no tokens: the code is stripped of its docstring before indexing
        {
            "url": "u4",
            "code": 'def sub(a, b):\n    """Subtract b from a."""\n    return a - b\n',
            "docstring": "Subtract b from a.",
            "language": "python",
        },
    ]
    queries = [
        {"url": "u1", "docstring_tokens": ["Add", "two", "numbers", "."]},
        {"url": "u2", "docstring_tokens": ["Negate", "a", "number", "."]},
        {"url": "u9", "docstring_tokens": ["Not", "in", "the", "codebase", "."]},
    ]
    _jsonl(folder / "codebase.jsonl", codebase)
    _jsonl(folder / "test.jsonl", queries)
    return root


def test_codesearch_protocol_ranks_queries_against_the_separate_codebase(tmp_path):
    [task] = load_external(str(_codesearch(tmp_path / "csn")))
    assert task.name == "codesearch/python" and task.pool_size == 4 and task.num_queries == 2
    assert "1 queries without their code dropped" in task.source
    assert "def sub(a, b):\n    return a - b\n" in task.corpus  # docstring gone
    assert "def add ( a , b )" in task.corpus  # code_tokens joined, as UniXcoder does
    # hand-set vectors: "Add two numbers ." is nearest to mul (20 deg), then add (30 deg): rank 2;
    # "Negate a number ." is nearest to neg: rank 1 -> MRR = (1/2 + 1) / 2
    encoder = LookupEncoder(
        {
            "Add two numbers .": _angle(0),
            "Negate a number .": _angle(90),
            "def add ( a , b )": _angle(30),
            "def mul ( a , b )": _angle(20),
            "def neg ( a )": _angle(88),
            "def sub(a, b):\n    return a - b\n": _angle(200),
        }
    )
    result = evaluate_encoder(encoder, [task], "lookup", config=CONFIG)
    metrics = result.exits[0].tasks[task.name]
    assert metrics["mrr"] == pytest.approx(0.75)
    assert metrics["r@1"] == pytest.approx(0.5) and metrics["r@5"] == 1.0
    chance = evaluate_chance([task]).exits[0].tasks[task.name]
    assert chance["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)  # one answer among 4
    assert chance["r@1"] == pytest.approx(0.25)


def test_a_codebase_still_holding_its_docstrings_is_refused(tmp_path):
    folder = tmp_path / "leaky"
    folder.mkdir()
    # a language tree-sitter does not know: nothing can be stripped, and the check catches it
    _jsonl(
        folder / "codebase.jsonl",
        [
            {
                "url": "u1",
                "code": "PROCEDURE add. * Add two numbers together. END.",
                "language": "cobol",
            }
        ],
    )
    _jsonl(folder / "test.jsonl", [{"url": "u1", "docstring": "Add two numbers together."}])
    with pytest.raises(LeakError):
        load_external(str(folder))


def test_codesearchnet_jsonl_prefers_tokens_and_strips_code(tmp_path):
    path = tmp_path / "python_test_0.jsonl"
    _jsonl(
        path,
        [
            {
                "language": "python",
                "docstring": "Add numbers together.",
                "code": 'def add(a, b):\n    """Add numbers together."""\n    return a + b\n',
            },
            {
                "language": "python",
                "docstring_tokens": ["Read", "a", "file"],
                "code_tokens": ["def", "read", "(", ")"],
                "code": "def read():\n    '''Read a file'''\n",
            },
        ],
    )
    [task] = load_external(str(path))
    assert set(task.corpus) == {"def add(a, b):\n    return a + b\n", "def read ( )"}
    assert task.queries == ("Add numbers together.", "Read a file")


def test_poj104_map_at_r_by_hand(tmp_path):
    path = tmp_path / "test.jsonl"
    programs = {
        "p0": ("A", 0),
        "p1": ("A", 10),
        "p2": ("A", 100),
        "p3": ("B", 50),
        "p4": ("B", 200),
    }
    _jsonl(
        path, [{"index": k, "label": lab, "code": f"int {k};"} for k, (lab, _) in programs.items()]
    )
    [task] = load_external(f"{path}::c")
    assert task.name == "poj104/test" and task.pool_size == 5 and task.num_queries == 5
    assert task.ranked_pool_sizes() == [4] * 5  # each program is left out of its own ranking
    encoder = LookupEncoder({f"int {k};": _angle(deg) for k, (_, deg) in programs.items()})
    metrics = evaluate_encoder(encoder, [task], "lookup", config=CONFIG).exits[0].tasks[task.name]
    # rankings by angle distance (itself excluded), R = 2 for label A and 1 for label B:
    # p0: p1, p3, p2 -> hits at 1 (p1) and none at 2 -> (1/1) / 2 = 0.5
    # p1: p0, p3, p2 -> 0.5;  p2: p3, p1, p0 -> top 2 = p3, p1 -> (1/2) / 2 = 0.25
    # p3: p1 (40 deg), p2, p0 (R = 1: top 1 is p1, wrong) -> 0;  p4: p2 (100 deg) -> 0
    assert metrics["map@r"] == pytest.approx((0.5 + 0.5 + 0.25 + 0 + 0) / 5)
    chance = evaluate_chance([task]).exits[0].tasks[task.name]
    # MAP@R of a random ranking, (1/n) sum_{i<=r} (1 + (i-1)(r-1)/(n-1)) / i with n = 4
    label_a = (1 + (1 + 1 / 3) / 2) / 4
    assert chance["map@r"] == pytest.approx((3 * label_a + 2 * (1 / 4)) / 5)


def test_bigclonebench_f1_at_the_validation_threshold(tmp_path):
    root = tmp_path / "bcb"
    root.mkdir()
    angles = {"1": 0, "2": 10, "3": 60, "4": 90, "5": 5}
    _jsonl(root / "data.jsonl", [{"idx": k, "func": f"void f{k}() {{}}"} for k in angles])
    # cosines: (1,2)=cos10 (1,5)=cos5 (1,3)=cos60 (1,4)=0 (2,3)=cos50
    (root / "valid.txt").write_text("1\t2\t1\n1\t3\t0\n1\t4\t0\n")
    (root / "test.txt").write_text("1\t5\t1\n2\t3\t1\n3\t4\t0\n1\t4\t0\n")
    [task] = load_external(str(root))
    assert task.kind == "pairs" and task.pool_size == 5 and len(task.test) == 4
    encoder = LookupEncoder({f"void f{k}() {{}}": _angle(deg) for k, deg in angles.items()})
    metrics = evaluate_encoder(encoder, [task], "lookup", config=CONFIG).exits[0].tasks[task.name]
    # validation: only (1,2) is a clone; the best F1 (1.0) is at threshold cos(10 deg)
    assert metrics["threshold"] == pytest.approx(math.cos(math.radians(10)), abs=1e-6)
    # test: (1,5)=cos5 >= cos10 -> clone (right); (2,3)=cos50 < cos10 -> missed; others below
    assert metrics["precision"] == pytest.approx(1.0) and metrics["recall"] == pytest.approx(0.5)
    assert metrics["f1"] == pytest.approx(2 / 3)
    assert evaluate_chance([task]).exits[0].tasks[task.name]["f1"] == pytest.approx(
        2 / 3
    )  # p = 1/2
    bm25 = evaluate_bm25([task]).exits[0].tasks[task.name]
    assert set(bm25) == {"f1", "precision", "recall", "threshold"}
