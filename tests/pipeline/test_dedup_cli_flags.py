"""Each tuning flag of ``python -m pipeline.dedup`` run through ``main(argv)``, with an
assertion on what the flag changes in the output (not only that it parses)."""

from __future__ import annotations

import json
import random
from collections import Counter

import pyarrow.parquet as pq
import pytest

from pipeline.dedup import main
from pipeline.minhash import jaccard, optimal_band_rows
from tests.pipeline.test_dedup_corpus import make_corpus, random_function, render, variant_at


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _run(tmp_path, name: str, rows: list[dict], *flags: str) -> tuple[list[dict], list[dict], dict]:
    src = tmp_path / f"{name}.jsonl"
    _write_jsonl(src, rows)
    out = tmp_path / name
    assert main([f"--input={src}", f"--output={out}", *flags]) == 0
    kept = pq.read_table(out / "kept.parquet").to_pylist()
    removed = pq.read_table(out / "removed.parquet").to_pylist()
    return kept, removed, json.loads((out / "stats.json").read_text())


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    # Planted pairs spread over true Jaccard 0.4-0.97: many fall below the 0.7 threshold.
    rows, _ = make_corpus(n_pairs=80, n_singletons=10, seed=11)
    return rows


def test_verify_none_exact_and_signature(tmp_path, corpus):
    by_id = {r["id"]: r["code"] for r in corpus}
    runs = {v: _run(tmp_path, v, corpus, f"--verify={v}") for v in ("none", "signature", "exact")}

    def true_jaccards(removed):
        return [
            jaccard(by_id[r["id"]], by_id[r["kept_id"]])
            for r in removed
            if r["reason"] == "near_duplicate"
        ]

    exact = true_jaccards(runs["exact"][1])
    unverified = true_jaccards(runs["none"][1])
    assert exact and min(exact) >= 0.7  # exact verification keeps only true duplicates
    assert min(unverified) < 0.7  # without verification LSH's false positives are removed too
    assert len(unverified) > len(exact)
    metrics = {v: runs[v][2]["metrics"] for v in runs}
    assert metrics["none"].get("dedup/pairs_checked", 0) == 0
    assert (
        metrics["signature"]["dedup/pairs_checked"] > 0
        and metrics["exact"]["dedup/pairs_checked"] > 0
    )
    assert {v: runs[v][2]["config"]["verify"] for v in runs} == {v: v for v in runs}


def test_lsh_weights_change_bands_and_recall(tmp_path, corpus):
    _, removed_default, default = _run(tmp_path, "default", corpus, "--verify=none")
    _, removed_recall, recall = _run(
        tmp_path,
        "recall",
        corpus,
        "--verify=none",
        "--false_positive_weight=0.1",
        "--false_negative_weight=0.9",
    )
    assert (default["config"]["bands"], default["config"]["rows"]) == (25, 10)
    expected = optimal_band_rows(0.7, 256, 0.1, 0.9)
    assert (recall["config"]["bands"], recall["config"]["rows"]) == expected != (25, 10)
    # Fewer rows per band: more candidate pairs, so at least as many removals without verification.
    assert expected[1] < 10
    assert len(removed_recall) > len(removed_default)


def test_max_bucket_size_bounds_pairs_but_not_clusters(tmp_path):
    rng = random.Random(5)
    base = random_function(rng)
    family = [{"id": "f00", "code": render(base), "repository_name": "o/r"}]
    for i in range(1, 8):
        code, _ = variant_at(rng, base, 0.93)
        family.append({"id": f"f{i:02d}", "code": code, "repository_name": "o/r"})
    others = [
        {"id": f"s{i:02d}", "code": render(random_function(rng)), "repository_name": "o/s"}
        for i in range(5)
    ]
    rows = family + others
    kept_all, removed_all, all_pairs = _run(tmp_path, "all", rows, "--verify=exact")
    kept_star, removed_star, star = _run(
        tmp_path, "star", rows, "--verify=exact", "--max_bucket_size=2"
    )
    # A bucket of 8 gives 28 pairs; above the cap it gives a star of 7 edges to the smallest id.
    assert star["metrics"]["dedup/pairs_checked"] < all_pairs["metrics"]["dedup/pairs_checked"]
    assert sorted(r["id"] for r in kept_star) == sorted(r["id"] for r in kept_all)
    assert (
        {r["id"] for r in removed_star}
        == {r["id"] for r in removed_all}
        == {f"f{i:02d}" for i in range(1, 8)}
    )


def test_split_column_groups_rows_by_that_column(tmp_path):
    rng = random.Random(8)
    rows = [
        {
            "id": f"r{i:03d}",
            "code": render(random_function(rng, 40)),
            "org": f"org{i % 6}",
            "repository_name": f"org{i % 6}/repo{i}",
        }
        for i in range(60)
    ]
    by_repo, _, _ = _run(tmp_path, "repo", rows, "--split_fractions=0.5,0.25,0.25")
    by_org, _, _ = _run(
        tmp_path, "org", rows, "--split_fractions=0.5,0.25,0.25", "--split_column=org"
    )
    splits_per_org = {
        org: {r["split"] for r in by_org if r["org"] == org} for org in {r["org"] for r in rows}
    }
    assert all(len(s) == 1 for s in splits_per_org.values()), splits_per_org
    # Split by repository (the default), the rows of one org land in several splits.
    assert any(len({r["split"] for r in by_repo if r["org"] == org}) > 1 for org in splits_per_org)


def test_eval_column_names_the_eval_sets_text(tmp_path, capsys):
    rng = random.Random(9)
    held = render(random_function(rng))
    rows = [
        {"id": "a", "code": held, "repository_name": "o/a"},
        {"id": "b", "code": render(random_function(rng)), "repository_name": "o/b"},
    ]
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, rows)
    _write_jsonl(tmp_path / "bench.jsonl", [{"task_id": "B/0", "body": held}])
    # "body" is not one of the guessed columns: without the flag the eval set is refused.
    assert (
        main(
            [
                f"--input={src}",
                f"--output={tmp_path / 'x'}",
                f"--decontaminate={tmp_path / 'bench.jsonl'}",
            ]
        )
        == 2
    )
    assert "none of the text columns" in capsys.readouterr().err
    _, removed, stats = _run(
        tmp_path, "y", rows, f"--decontaminate={tmp_path / 'bench.jsonl'}", "--eval_column=body"
    )
    assert [(r["id"], r["reason"], r["eval_match"]) for r in removed] == [
        ("a", "contaminated:bench", "bench:B/0")
    ]
    assert Counter(stats["removed_by_reason"]) == Counter({"contaminated:bench": 1})


def test_seed_drives_the_minhash_permutations_and_the_split_assignment(tmp_path, corpus):
    """Same seed, same output; another seed draws other permutations (other borderline
    removals without verification) and assigns repositories to other splits."""
    rows = [{**r, "repository_name": f"org/repo{i}"} for i, r in enumerate(corpus)]
    flags = ("--verify=none", "--split_fractions=0.5,0.25,0.25")
    runs = {
        name: _run(tmp_path, name, rows, *flags, f"--seed={seed}")
        for name, seed in (("a", 1), ("again", 1), ("b", 2))
    }

    def outcome(run):
        kept, removed, stats = run
        return (sorted((r["id"], r["split"]) for r in kept), sorted(r["id"] for r in removed))

    assert outcome(runs["a"]) == outcome(runs["again"])
    assert {name: run[2]["config"]["seed"] for name, run in runs.items()} == {
        "a": 1,
        "again": 1,
        "b": 2,
    }
    (split_a, removed_a), (split_b, removed_b) = outcome(runs["a"]), outcome(runs["b"])
    common = {i for i, _ in split_a} & {i for i, _ in split_b}
    assert {(i, s) for i, s in split_a if i in common} != {
        (i, s) for i, s in split_b if i in common
    }
    assert removed_a != removed_b
