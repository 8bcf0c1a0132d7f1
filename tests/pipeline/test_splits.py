"""Repository splits: deterministic, repository-disjoint, fractions honoured."""

from __future__ import annotations

import collections

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.splits import AssignSplits, SplitConfig, assign_split, split_for


def _rows(n_repos=2000, per_repo=3):
    return [
        {"id": f"{r}-{k}", "repository_name": f"org{r % 17}/repo{r}"}
        for r in range(n_repos)
        for k in range(per_repo)
    ]


def test_splits_are_repository_disjoint_deterministic_and_near_the_fractions():
    cfg = SplitConfig(fractions=(0.8, 0.1, 0.1), seed=3)
    rows = [assign_split(r, cfg) for r in _rows()]
    by_repo = collections.defaultdict(set)
    for r in rows:
        by_repo[r["repository_name"]].add(r["split"])
    assert all(len(s) == 1 for s in by_repo.values())
    assert rows == [assign_split(r, cfg) for r in _rows()]
    counts = collections.Counter(next(iter(s)) for s in by_repo.values())
    assert abs(counts["train"] / 2000 - 0.8) < 0.03
    assert (
        abs(counts["validation"] / 2000 - 0.1) < 0.025 and abs(counts["test"] / 2000 - 0.1) < 0.025
    )
    other_seed = [assign_split(r, SplitConfig(seed=4)) for r in _rows(200, 1)]
    assert [r["split"] for r in other_seed] != [r["split"] for r in rows[::3][:200]]


def test_zero_fraction_split_gets_nothing():
    cfg = SplitConfig(fractions=(1.0, 0.0, 0.0))
    assert {split_for(f"repo{i}", cfg) for i in range(500)} == {"train"}


def test_rows_without_repository_fall_back_to_their_id():
    cfg = SplitConfig()
    splits = {
        assign_split({"id": f"x{i}", "repository_name": None}, cfg)["split"] for i in range(200)
    }
    assert splits == {"train", "validation", "test"}
    with pytest.raises(ValueError):
        assign_split({"repository_name": ""}, cfg)


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.8, 0.3, -0.1), (0.7, 0.1, 0.1)])
def test_bad_fractions_are_rejected(fractions):
    with pytest.raises(ValueError):
        SplitConfig(fractions=fractions)


def test_assign_splits_transform_matches_the_pure_function():
    cfg = SplitConfig(seed=5)
    rows = _rows(50, 2)
    with TestPipeline() as p:
        out = p | beam.Create(rows) | AssignSplits(cfg)
        assert_that(out, equal_to([assign_split(r, cfg) for r in rows]))
