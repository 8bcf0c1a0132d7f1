"""The pure MinHash core: shingling, signatures (quality against true Jaccard), LSH bands,
bucket pairs, union-find and the representative rule."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pipeline.minhash import (
    MinHashConfig,
    UnionFind,
    band_keys,
    candidate_edges,
    choose_representative,
    connected_components,
    estimated_jaccard,
    is_empty,
    is_permissive,
    jaccard,
    normalize,
    optimal_band_rows,
    rank_key,
    shingle_hashes,
    signature,
    signatures,
    text_hash,
)
from tests.pipeline.test_dedup_corpus import make_corpus


def test_normalize_and_exact_key_ignore_whitespace_layout():
    assert normalize("  def  f():\n\treturn 1 \n") == "def f(): return 1"
    assert text_hash("def f():\n    return 1") == text_hash("def f(): return 1")
    assert text_hash("def f(): return 1") != text_hash("def f(): return 2")
    assert normalize(None) == ""


def test_shingles_are_the_character_5grams_of_the_normalised_text():
    text = "def  add(a, b):\n    return a + b\n"
    norm = normalize(text)
    grams = {norm[i : i + 5] for i in range(len(norm) - 4)}
    assert len(shingle_hashes(text)) == len(grams)
    assert len(shingle_hashes("abc")) == 1  # shorter than n: one shingle
    assert len(shingle_hashes("   ")) == 0
    assert jaccard("abcdefgh", "abcdefgh") == 1.0
    assert jaccard("abcdef", "abcdeX") == pytest.approx(1 / 3)  # {abcde, bcdef} vs {abcde, bcdeX}


def test_signatures_do_not_depend_on_batch_company_or_order():
    rows, _ = make_corpus(n_pairs=6, n_singletons=4)
    texts = [r["code"] for r in rows] + ["ab", "", "x y   z"]
    batch = signatures(texts)
    assert batch.shape == (len(texts), 256) and batch.dtype == np.uint32
    for i, t in enumerate(texts):
        np.testing.assert_array_equal(batch[i], signature(t))
    np.testing.assert_array_equal(signatures(texts[::-1])[::-1], batch)
    assert is_empty(batch[len(texts) - 2]) and not is_empty(batch[0])
    assert not np.array_equal(signatures(texts[:1], seed=2)[0], batch[0])


def test_estimated_jaccard_agrees_with_true_jaccard_within_sampling_error():
    """Each estimate is a mean of 256 Bernoulli(J) draws: z = (est - J) / sqrt(J(1-J)/256)
    must look standard normal over many pairs (no bias, the right spread)."""
    rows, pairs = make_corpus(n_pairs=150, n_singletons=0, seed=11, low=0.2, high=0.95)
    code = {r["id"]: r["code"] for r in rows}
    sigs = dict(zip(code, signatures(list(code.values())), strict=True))
    z = []
    for a, b, true_j in pairs:
        est = estimated_jaccard(sigs[a], sigs[b])
        z.append((est - true_j) / np.sqrt(true_j * (1 - true_j) / 256))
    z = np.asarray(z)
    assert abs(z.mean()) < 3 / np.sqrt(len(z))  # unbiased
    assert 0.7 < z.var() < 1.4  # the binomial spread, no more
    assert np.mean(np.abs(z) < 3) > 0.98


def test_unrelated_texts_estimate_near_zero():
    rows, _ = make_corpus(n_pairs=0, n_singletons=40, seed=5)
    sigs = signatures([r["code"] for r in rows])
    est = [estimated_jaccard(sigs[i], sigs[j]) for i in range(40) for j in range(i + 1, 40)]
    assert max(est) < 0.1


def test_band_parameters_come_from_datasketch_optimiser():
    assert optimal_band_rows(0.7, 256) == (25, 10)
    cfg = MinHashConfig()
    assert cfg.band_rows == (25, 10)
    assert MinHashConfig(false_positive_weight=0.1, false_negative_weight=0.9).band_rows == (32, 8)
    assert MinHashConfig(bands=16, rows=16).band_rows == (16, 16)
    text = str(cfg)
    for part in ("256perm", "5gram", "t0.7", "b25r10", "seed1"):
        assert part in text


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 1.5},
        {"num_perm": 1},
        {"verify": "maybe"},
        {"bands": 30, "rows": 10},
        {"bands": 4},
        {"max_bucket_size": 1},
        {"passing_statuses": "passed"},
    ],
)
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        MinHashConfig(**kwargs)


def test_band_keys_match_exactly_when_a_band_matches():
    rng = np.random.default_rng(0)
    sigs = rng.integers(0, 2**32, size=(3, 256), dtype=np.uint64).astype(np.uint32)
    sigs[1, 10:20] = sigs[0, 10:20]  # band 1 equal
    keys = band_keys(sigs, 25, 10)
    assert keys.shape == (3, 25)
    assert keys[0, 1] == keys[1, 1]
    assert (keys[0] == keys[1]).sum() == 1
    same = np.concatenate([np.tile(sigs[2, :10], 25), np.zeros(6, np.uint32)])[None, :]
    assert len(set(band_keys(same, 25, 10)[0].tolist())) == 25  # equal values, distinct bands


def test_components_chain_through_different_bands():
    """A~B only in band 1, B~C only in band 7, A and C share no band: one component."""
    rng = np.random.default_rng(1)
    sig = rng.integers(0, 2**32, size=(4, 256), dtype=np.uint64).astype(np.uint32)
    a, b, c = sig[0].copy(), sig[1].copy(), sig[2].copy()
    b[10:20] = a[10:20]
    c[70:80] = b[70:80]
    d = sig[3]
    keys = band_keys(np.stack([a, b, c, d]), 25, 10)
    buckets: dict[int, list[str]] = {}
    for name, row in zip("ABCD", keys, strict=True):
        for k in row.tolist():
            buckets.setdefault(k, []).append(name)
    assert [band for band in range(25) if keys[0, band] == keys[1, band]] == [1]
    assert [band for band in range(25) if keys[1, band] == keys[2, band]] == [7]
    assert not set(keys[0].tolist()) & set(keys[2].tolist())
    edges = [e for members in buckets.values() for e in candidate_edges(members)]
    assert sorted(edges) == [("A", "B"), ("B", "C")]
    comp = connected_components(edges)
    assert comp == {"A": "A", "B": "A", "C": "A"}


def test_candidate_edges_all_pairs_then_star_for_huge_buckets():
    assert sorted(candidate_edges(["c", "a", "b"])) == [("a", "b"), ("a", "c"), ("b", "c")]
    big = [f"id{i}" for i in range(100)]
    edges = list(candidate_edges(big, max_bucket_size=50))
    assert len(edges) == 99 and {e[0] for e in edges} == {"id0"}
    assert len(set(connected_components(edges).values())) == 1
    assert list(candidate_edges(["x", "x"])) == []


def test_union_find_merge_of_partial_results_equals_global():
    rng = random.Random(0)
    nodes = [f"n{i}" for i in range(300)]
    edges = [(rng.choice(nodes), rng.choice(nodes)) for _ in range(250)]
    expected = connected_components(edges)
    for _ in range(5):
        rng.shuffle(edges)
        parts = [edges[i::3] for i in range(3)]
        ufs = []
        for part in parts:
            uf = UnionFind()
            for x, y in part:
                uf.union(x, y)
            ufs.append(uf)
        ufs[0].merge(ufs[1])
        ufs[2].merge(ufs[0])
        assert ufs[2].components() == expected
    # the root is the smallest member (shortest, then lexicographic)
    assert connected_components([("n10", "n2"), ("n2", "n100")]) == {
        "n10": "n2",
        "n2": "n2",
        "n100": "n2",
    }


def test_representative_rule():
    cfg = MinHashConfig()
    rows = [
        {"id": "a", "license": "gpl-3.0", "exec_status": "passed"},
        {"id": "bbbbbb", "license": "MIT", "exec_status": "failed"},
        {"id": "cccc", "license": "BSD-3-Clause", "exec_status": "passed"},
    ]
    assert choose_representative(rank_key(r, cfg) for r in rows) == "cccc"  # permissive + passed
    assert choose_representative(rank_key(r, cfg) for r in rows[:2]) == "bbbbbb"  # permissive first
    tie = [
        {"id": "zz", "license": None},
        {"id": "abc", "license": None},
        {"id": "yy", "license": None},
    ]
    assert (
        choose_representative(rank_key(r, cfg) for r in tie) == "yy"
    )  # shortest, then lexicographic
    passed = [{"id": "a1", "exec_status": "failed"}, {"id": "a22", "exec_status": "passed"}]
    assert choose_representative(rank_key(r, cfg) for r in passed) == "a22"
    assert is_permissive("Apache-2.0") and is_permissive("cc0-1.0") and not is_permissive("gpl-2.0")
    assert not is_permissive(None)
