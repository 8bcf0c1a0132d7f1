"""Train/validation/test assignment by repository (docs/design.md, "Dedup, decontamination and splits").

A row's split is a pure function of ``(seed, repository)``: the repository name is hashed
(BLAKE2b, 64 bits) to a number in [0, 1) that falls into one of the cumulative fraction
intervals. So every row of a repository lands in the same split, on every worker and every
re-run, and no repository spans two splits. Run it *after* dedup: dedup leaves one row per
near-duplicate cluster, so no cluster can span two splits either (evaluation on our own test
split is then decontaminated from train by construction).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import apache_beam as beam

from pipeline.settings import DEFAULT_SEED, csv, setting
from pipeline.stage import StageFn

NAMESPACE = "splits"


def parse_fractions(value: str) -> tuple[float, float, float]:
    """``--split_fractions``: three non-negative numbers summing to 1."""
    try:
        fractions = tuple(float(x) for x in csv(value))
    except ValueError:
        fractions = ()
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(
            f"--split_fractions must be three non-negative numbers summing to 1, got {value!r}"
        )
    return fractions  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """Fractions per split name, the hash seed, and the grouping column.

    Rows whose ``column`` is missing or empty fall back to ``id_column`` (each such row is
    its own group) so they spread over the splits instead of piling into one.
    """

    fractions: tuple[float, ...] = setting(
        (0.8, 0.1, 0.1),
        flag="split_fractions",
        cli_default="0.8,0.1,0.1",
        parse=lambda v: parse_fractions(v),
        help="train,validation,test fractions by repository",
    )
    seed: int = DEFAULT_SEED
    column: str = "repository_name"
    names: tuple[str, ...] = ("train", "validation", "test")
    id_column: str = "id"

    def __post_init__(self) -> None:
        if len(self.fractions) != len(self.names):
            raise ValueError(
                f"{len(self.names)} splits {self.names} need as many fractions, got {self.fractions}"
            )
        if any(f < 0 for f in self.fractions) or abs(sum(self.fractions) - 1.0) > 1e-6:
            raise ValueError(
                f"split fractions must be non-negative and sum to 1, got {self.fractions}"
            )
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"split names must be distinct, got {self.names}")

    def __str__(self) -> str:
        parts = ",".join(f"{n}={f:g}" for n, f in zip(self.names, self.fractions, strict=True))
        return f"splits_by-{self.column}_seed{self.seed}_{parts}"


def unit_interval(value: str, seed: int) -> float:
    """A stable number in [0, 1) for ``value`` (BLAKE2b of ``seed`` and the value)."""
    digest = hashlib.blake2b(f"{seed}\x00{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def split_for(group: str, config: SplitConfig) -> str:
    """The split of a repository (or any group key)."""
    u = unit_interval(group, config.seed)
    edge = 0.0
    for name, fraction in zip(config.names, config.fractions, strict=True):
        edge += fraction
        if u < edge:
            return name
    return next(
        n for n, f in reversed(list(zip(config.names, config.fractions, strict=True))) if f > 0
    )


def group_of(row: dict[str, Any], config: SplitConfig) -> str:
    """The grouping key of a row: its repository, else ``id:<its id>``."""
    value = row.get(config.column)
    if value is None or str(value) == "":
        rid = row.get(config.id_column)
        if rid is None:
            raise ValueError(f"row has neither {config.column!r} nor {config.id_column!r}")
        return f"id:{rid}"
    return str(value)


def assign_split(row: dict[str, Any], config: SplitConfig) -> dict[str, Any]:
    """The row with ``split`` set (a new dict)."""
    return {**row, "split": split_for(group_of(row, config), config)}


class _AssignFn(StageFn):
    """Row -> the row with its split; counts rows per split (``splits/<name>``)."""

    NAMESPACE = NAMESPACE

    def __init__(self, config: SplitConfig) -> None:
        self._config = config

    def process(self, row: dict[str, Any]):
        out = assign_split(row, self._config)
        self.count(out["split"])
        yield out


class AssignSplits(beam.PTransform):
    """Rows -> the same rows with ``split`` from a stable hash of their repository."""

    def __init__(self, config: SplitConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, rows):
        return rows | "AssignSplit" >> beam.ParDo(_AssignFn(self._config))
