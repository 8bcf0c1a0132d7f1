"""Reading shards and building deterministic pretraining / contrastive batches."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import torch

from model.data import (
    BatchLayout,
    ContrastiveSampler,
    PretrainBatch,
    PretrainSampler,
    chunk_source,
    make_loader,
    read_corpus,
    read_release,
    repository_units,
)
from model.tokenizer import MoseTokenizer


@pytest.fixture
def tokenizer(shard_dir):
    rows = read_release(shard_dir)
    texts = [r["func1_CSN"] for r in rows] + [r["func2"] for r in rows]
    return MoseTokenizer.train(texts, 400)


def test_read_release_filters_split(shard_dir):
    assert len(read_release(shard_dir)) == 24
    assert read_release(shard_dir, split="test") == []
    with pytest.raises(ValueError):
        read_release(shard_dir / "nowhere")


def test_icc_contexts_are_labelled_by_repository(shard_dir, tokenizer):
    groups = repository_units(read_release(shard_dir))
    owner = {code: repo for repo, units in groups.items() for unit in units for code in unit}
    sampler = PretrainSampler(groups, tokenizer, 128, seed=1)
    rng = random.Random(0)
    labels = []
    for _ in range(200):
        codes, label = sampler.context(rng)
        assert 2 <= len(codes) <= 4
        assert label == int(len({owner[c] for c in codes}) == 1)
        labels.append(label)
    assert 0.35 < sum(labels) / len(labels) < 0.65
    batch = sampler.batch(3, 4)
    assert (batch.input_ids[:, -1] == tokenizer.cls_id).all()  # left padded, <cls> last
    assert torch.equal(batch.input_ids, sampler.batch(3, 4).input_ids)  # pure function of step


def _csn_like_units(n_repos: int = 300, seed: int = 0) -> dict[str, list[list[str]]]:
    """Repositories of CodeSearchNet-like sizes (many with 1-3 functions, a long tail), each
    function with 0-2 translations; texts of varied length, unrelated to the repository."""
    rng = random.Random(seed)
    groups = {}
    for r in range(n_repos):
        size = max(1, int(rng.lognormvariate(1.2, 1.1)))
        groups[f"repo{r}"] = [
            [
                f"def f{r}_{u}_{t}(x):\n" + "    x = x + 1\n" * rng.randint(1, 30)
                for t in range(1 + rng.randint(0, 2))
            ]
            for u in range(size)
        ]
    return groups


def test_icc_positives_and_negatives_are_alike_in_count_and_length(tokenizer):
    """Neither the number of snippets (<sep> tokens) nor a context's length tells the label;
    a function and its translations never share a context."""
    groups = _csn_like_units()
    unit_of = {
        t: (repo, u) for repo, units in groups.items() for u, unit in enumerate(units) for t in unit
    }
    sampler = PretrainSampler(groups, tokenizer, 256, seed=0)
    rng = random.Random(1)
    counts: dict[int, Counter] = {0: Counter(), 1: Counter()}
    chars: dict[int, list[int]] = {0: [], 1: []}
    for _ in range(4000):
        codes, label = sampler.context(rng)
        assert len({unit_of[c] for c in codes}) == len(codes)  # one text per unit
        counts[label][len(codes)] += 1
        chars[label].extend(len(c) for c in codes)
    n = {label: sum(c.values()) for label, c in counts.items()}
    for k in range(2, 5):
        assert abs(counts[1][k] / n[1] - counts[0][k] / n[0]) < 0.04, k
    # the best classifier on the <sep> count alone is at chance
    best = sum(max(counts[0][k], counts[1][k]) for k in range(2, 5)) / (n[0] + n[1])
    assert best < 0.54
    mean = {label: sum(v) / len(v) for label, v in chars.items()}
    assert abs(mean[1] - mean[0]) / mean[0] < 0.05
    batch = sampler.batch(0, 64)
    seps = (batch.input_ids == tokenizer.sep_id).sum(1)
    assert set(seps.tolist()) <= {2, 3, 4}  # MLM never turns a token into <sep>


def test_icc_needs_k_repositories_with_k_functions(tokenizer):
    with pytest.raises(ValueError, match="k repositories with k functions"):
        PretrainSampler({"a": [["x = 1"]] * 5, "b": [["y = 2"]]}, tokenizer, 64, seed=0)


def test_mlm_masks_are_in_the_batch_and_skip_specials(shard_dir, tokenizer):
    sampler = PretrainSampler(repository_units(read_release(shard_dir)), tokenizer, 96, seed=2)
    batch = sampler.batch(0, 8)
    flat = batch.input_ids.flatten()
    assert batch.mlm_positions.numel() == batch.mlm_targets.numel() > 0
    assert not torch.isin(batch.mlm_targets, torch.tensor(sorted(tokenizer.special_ids))).any()
    assert (batch.attention_mask.flatten()[batch.mlm_positions] == 1).all()
    shown = flat[batch.mlm_positions]
    assert (shown == tokenizer.mask_id).float().mean() > 0.6  # 80% <mask>
    swapped = shown[(shown != tokenizer.mask_id) & (shown != batch.mlm_targets)]
    assert not torch.isin(swapped, torch.tensor(sorted(tokenizer.special_ids))).any()


def test_a_batch_split_across_ranks_or_micro_batches_is_the_same_batch(shard_dir, tokenizer):
    """2 ranks x B, 1 process x 2B and 1 process x B x 2 micro-batches see the same items
    and the same MLM masks."""
    rows = read_release(shard_dir)
    for sampler in (
        PretrainSampler(repository_units(rows), tokenizer, 96, seed=4),
        ContrastiveSampler(rows, tokenizer, 96, seed=4),
    ):
        whole = BatchLayout(batch_size=4).rank_batches(sampler, 5)[0]
        ranks = [BatchLayout(2, 1, 2, r).rank_batches(sampler, 5)[0] for r in range(2)]
        micro = BatchLayout(2, grad_accum=2).rank_batches(sampler, 5)
        for parts in (ranks, micro):
            if isinstance(whole, PretrainBatch):
                assert torch.equal(
                    torch.cat([p.same_repository for p in parts]), whole.same_repository
                )
                got = [p.input_ids[p.attention_mask.bool()] for p in parts]
                assert torch.equal(torch.cat(got), whole.input_ids[whole.attention_mask.bool()])
                assert sum(p.mlm_targets.numel() for p in parts) == whole.mlm_targets.numel()
            else:
                got = [p.doc_ids[p.doc_mask.bool()] for p in parts]
                assert torch.equal(torch.cat(got), whole.doc_ids[whole.doc_mask.bool()])
                assert sum((p.kinds for p in parts), ()) == whole.kinds


def test_loader_workers_yield_the_synchronous_steps_in_order(shard_dir, tokenizer):
    sampler = PretrainSampler(repository_units(read_release(shard_dir)), tokenizer, 96, seed=0)
    layout = BatchLayout(batch_size=3, grad_accum=2)
    sync = list(make_loader(sampler, layout, start=2, stop=7, num_workers=0))
    workers = list(make_loader(sampler, layout, start=2, stop=7, num_workers=2, prefetch_factor=2))
    assert len(sync) == len(workers) == 5
    for a, b in zip(sync, workers, strict=True):
        assert len(a) == len(b) == 2
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x.input_ids, y.input_ids) and torch.equal(
                x.mlm_positions, y.mlm_positions
            )
    assert torch.equal(sync[0][0].input_ids, layout.rank_batches(sampler, 2)[0].input_ids)


def test_contrastive_batches_mix_kinds_without_duplicate_sources(shard_dir, tokenizer):
    sampler = ContrastiveSampler(read_release(shard_dir), tokenizer, 96, seed=0)
    kinds = []
    for step in range(6):
        batch = sampler.batch(step, 8)
        rows = {tuple(r.tolist()) for r in batch.doc_ids}
        assert len(rows) == 8
        kinds.extend(batch.kinds)
        assert (batch.query_ids[:, -1] == tokenizer.cls_id).all()
    assert 0.4 < kinds.count("text-code") / len(kinds) < 0.9
    assert torch.equal(sampler.batch(2, 8).query_ids, sampler.batch(2, 8).query_ids)
    with pytest.raises(ValueError, match="distinct source functions"):
        sampler.batch(0, len(sampler) + 1)


def test_corpus_groups_by_top_directory(tmp_path):
    (tmp_path / "pkg_a").mkdir()
    (tmp_path / "pkg_b" / "sub").mkdir(parents=True)
    body = "def f(x):\n    return x + 1\n\n\ndef g(y):\n    return y * 2\n"
    (tmp_path / "pkg_a" / "m.py").write_text(body)
    (tmp_path / "pkg_b" / "sub" / "n.py").write_text(body)
    (tmp_path / "pkg_b" / "notes.txt").write_text("ignored")
    groups = read_corpus(tmp_path)
    assert sorted(groups) == ["pkg_a", "pkg_b"]
    assert chunk_source(body, max_chars=30, min_chars=5) == [
        "def f(x):\n    return x + 1",
        "def g(y):\n    return y * 2",
    ]


def test_repository_corpus_parquet_is_grouped_by_repository_and_capped_across_them(tmp_path):
    """``OUTPUT/repo_corpus`` (``schemas.RepoFile`` rows) as ``--corpus``: grouped by
    ``repository_name``; a file cap takes files from every repository in turn."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas import REPO_FILE_SCHEMA, RepoFile

    body = "def f(x):\n    return x + 1\n\n\ndef g(y):\n    return y * 2\n"
    rows = [
        RepoFile(repo, f"m{i}.py", "python", body, len(body)).to_row()
        for repo, n in (("acme/big", 5), ("acme/small", 1))
        for i in range(n)
    ]
    pq.write_table(
        pa.Table.from_pylist(rows, schema=REPO_FILE_SCHEMA),
        tmp_path / "part-00000-of-00001.parquet",
    )
    groups = read_corpus(tmp_path)  # one chunk per (short) file
    assert {repo: len(chunks) for repo, chunks in groups.items()} == {
        "acme/big": 5,
        "acme/small": 1,
    }
    capped = read_corpus(tmp_path, max_files=2)
    assert {repo: len(chunks) for repo, chunks in capped.items()} == {
        "acme/big": 1,
        "acme/small": 1,
    }
    pq.write_table(pa.table({"x": [1]}), tmp_path / "other.parquet")
    with pytest.raises(ValueError, match="not a repository corpus shard"):
        read_corpus(tmp_path)


def test_demo_data_mines_documented_functions_without_docstrings(tmp_path):
    from model.demo_data import main as demo_main

    pkg = tmp_path / "src" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "m.py").write_text(
        'def area(width, height):\n    """Area of a rectangle in square units.\n\n    More.\n    """\n'
        "    return width * height\n\n\ndef bare(x):\n    return x\n"
    )
    assert (
        demo_main(
            [f"--source={tmp_path / 'src'}", f"--output={tmp_path / 'out'}", "--test_fraction=0"]
        )
        == 0
    )
    rows = read_release(tmp_path / "out")
    assert len(rows) == 1
    assert rows[0]["func_documentation_string"] == "Area of a rectangle in square units."
    assert rows[0]["func1_CSN"] == "def area(width, height):\n    return width * height\n"
    assert rows[0]["repository_name"] == "pkg" and rows[0]["func2"] == ""
