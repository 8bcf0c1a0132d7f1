"""Dedup, decontamination and splits at the level of source pairs.

One source pair yields several release rows (one per target language), and those rows share
``func1_CSN``: deduplicating rows would wrongly make a pair's Go and Rust rows duplicates of
each other. So the unit of dedup is the *pair*: its rows are grouped by ``pair_id`` into
one unit (text = the source function; license; whether any of its translations passed
tests; repository), the units go through the dedup/decontamination/split transforms of
``pipeline.dedup`` / ``pipeline.decontaminate`` / ``pipeline.splits``, and each row then
follows its pair: kept with the pair's ``dedup_cluster`` and ``split``, or rejected with the
pair's reason.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import apache_beam as beam

from pipeline.decontaminate import Decontaminate
from pipeline.dedup import Dedup
from pipeline.minhash import MinHashConfig
from pipeline.settings import csv, setting
from pipeline.splits import AssignSplits, SplitConfig
from schemas import RejectedRow, dumps

UNIT_ID = "id"
UNIT_TEXT = "code"


@dataclasses.dataclass(frozen=True)
class FinalizeConfig:
    minhash: MinHashConfig = dataclasses.field(default_factory=MinHashConfig)
    splits: SplitConfig = dataclasses.field(default_factory=SplitConfig)
    #: ``("auto",)`` from the flag is resolved by ``pipeline.options`` (HumanEval unless it is the source)
    eval_sets: tuple[str, ...] = setting(
        (),
        flag="decontaminate",
        cli_default="auto",
        parse=csv,
        help="comma-separated eval sets (paths or 'humaneval'); 'auto' = humaneval unless it is the source; "
        "empty disables",
    )


def pair_unit(pair_id: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The dedup unit of one pair: its source text, license, best verdict and repository."""
    first = rows[0]
    return {
        UNIT_ID: pair_id,
        UNIT_TEXT: first["func1_CSN"],
        "license": first.get("license"),
        "exec_status": "passed"
        if any(r.get("exec_status") == "passed" for r in rows)
        else first.get("exec_status"),
        "repository_name": first["repository_name"],
    }


def rejected_from_release_row(
    row: dict[str, Any], stage: str, reason: str, detail: str | None
) -> RejectedRow:
    """A rejected row for a release row dropped at dedup/decontamination (all of it kept)."""
    return RejectedRow(
        stage=stage,
        reason=reason,
        detail=detail,
        pair_id=row["pair_id"],
        repository_name=row.get("repository_name"),
        func_path_in_repository=row.get("func_path_in_repository"),
        language=row.get("language1_CSN"),
        target_language=row.get("language2"),
        attempt=row.get("attempt"),
        source_code=row.get("func1_CSN"),
        translated_code=row.get("func2"),
        record=dumps(row),
    )


def _outcome_kept(unit: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return unit[UNIT_ID], {
        "keep": True,
        "dedup_cluster": unit.get("dedup_cluster") or unit[UNIT_ID],
        "split": unit["split"],
    }


def _outcome_removed(unit: dict[str, Any], stage: str) -> tuple[str, dict[str, Any]]:
    if unit.get("eval_match"):
        detail = f"matches {unit['eval_match']}"
    elif unit.get("kept_id"):
        detail = f"cluster {unit.get('dedup_cluster')}, kept {unit['kept_id']}"
    else:
        detail = None
    return unit[UNIT_ID], {
        "keep": False,
        "stage": stage,
        "reason": unit["reason"],
        "detail": detail,
    }


class _ApplyOutcome(beam.DoFn):
    """Join each pair's rows with its unit's outcome (CoGroupByKey result)."""

    REJECTED = "rejected"

    def process(self, item):
        pair_id, grouped = item
        rows, outcomes = list(grouped["rows"]), list(grouped["outcome"])
        if len(outcomes) != 1:  # a unit must end in exactly one outcome; never drop silently
            for row in rows:
                yield beam.pvalue.TaggedOutput(
                    self.REJECTED,
                    rejected_from_release_row(
                        row, "dedup", "internal_error", f"{len(outcomes)} outcomes for {pair_id}"
                    ),
                )
            return
        outcome = outcomes[0]
        for row in rows:
            if outcome["keep"]:
                yield {**row, "dedup_cluster": outcome["dedup_cluster"], "split": outcome["split"]}
            else:
                yield beam.pvalue.TaggedOutput(
                    self.REJECTED,
                    rejected_from_release_row(
                        row, outcome["stage"], outcome["reason"], outcome["detail"]
                    ),
                )


class DedupAndSplit(beam.PTransform):
    """Release rows -> {``rows``: with dedup_cluster and split, ``rejected``: RejectedRow}."""

    def __init__(self, config: FinalizeConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, rows):
        cfg = self._config
        keyed = rows | "KeyByPair" >> beam.Map(lambda r: (r["pair_id"], r))
        units = (
            keyed
            | "GroupRowsByPair" >> beam.GroupByKey()
            | "PairUnit" >> beam.MapTuple(lambda pid, rs: pair_unit(pid, list(rs)))
        )
        # Exact then near dedup; every removed pair points at a pair that was kept.
        dedup = units | "Dedup" >> Dedup(cfg.minhash)
        decon = dedup["kept"] | "Decontaminate" >> Decontaminate(cfg.minhash, list(cfg.eval_sets))
        split = decon["kept"] | "AssignSplits" >> AssignSplits(cfg.splits)
        outcomes = (
            split | "KeptOutcome" >> beam.Map(_outcome_kept),
            dedup["removed"] | "DedupOutcome" >> beam.Map(_outcome_removed, "dedup"),
            decon["removed"] | "DecontamOutcome" >> beam.Map(_outcome_removed, "decontaminate"),
        ) | "FlattenOutcomes" >> beam.Flatten()
        joined = (
            {"rows": keyed, "outcome": outcomes}
            | "JoinOutcome" >> beam.CoGroupByKey()
            | "ApplyOutcome"
            >> beam.ParDo(_ApplyOutcome()).with_outputs(_ApplyOutcome.REJECTED, main="rows")
        )
        return {"rows": joined.rows, "rejected": joined[_ApplyOutcome.REJECTED]}
