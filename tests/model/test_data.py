"""Reading shards and building deterministic pretraining / contrastive batches."""

from __future__ import annotations

import pytest
import torch

from model.data import (
    ContrastiveSampler,
    PretrainSampler,
    chunk_source,
    read_corpus,
    read_release,
    repository_snippets,
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
    groups = repository_snippets(read_release(shard_dir))
    owner = {code: repo for repo, codes in groups.items() for code in codes}
    sampler = PretrainSampler(groups, tokenizer, 128, seed=1)
    rng = __import__("random").Random(0)
    labels = []
    for _ in range(200):
        codes, label = sampler._context(rng)
        assert 2 <= len(codes) <= 4
        assert label == int(len({owner[c] for c in codes}) == 1)
        labels.append(label)
    assert 0.35 < sum(labels) / len(labels) < 0.65
    batch = sampler.batch(3, 4)
    assert (batch.input_ids[:, -1] == tokenizer.cls_id).all()  # left padded, <cls> last
    assert torch.equal(batch.input_ids, sampler.batch(3, 4).input_ids)  # pure function of step


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
    rows = [RepoFile(repo, f"m{i}.py", "python", body, len(body)).to_row()
            for repo, n in (("acme/big", 5), ("acme/small", 1)) for i in range(n)]
    pq.write_table(pa.Table.from_pylist(rows, schema=REPO_FILE_SCHEMA), tmp_path / "part-00000-of-00001.parquet")
    groups = read_corpus(tmp_path)  # one chunk per (short) file
    assert {repo: len(chunks) for repo, chunks in groups.items()} == {"acme/big": 5, "acme/small": 1}
    capped = read_corpus(tmp_path, max_files=2)
    assert {repo: len(chunks) for repo, chunks in capped.items()} == {"acme/big": 1, "acme/small": 1}
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
