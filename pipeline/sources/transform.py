"""``ReadSource``: the source stage as a Beam transform.

The spec is resolved when the transform is built (so a bad spec fails before the pipeline
runs); its units (one per file, or per repository) are created and reshuffled across workers;
``_ExpandUnitFn`` walks each repository into one unit per source file, which are reshuffled
again and read by ``_ReadUnitFn``. Outputs: ``pairs`` (``SourcePair``), ``candidates``
(``Candidate``, ``synthconl`` only) and ``rejected`` (``RejectedRow``, stage ``source``).
Counters in namespace ``source``: ``total``, ``kept``, ``dropped``, ``dropped_<reason>``,
``filtered_<rule>``, ``files_read``, ``files_skipped_<reason>``, ``repositories`` (repo
extraction), ``tests_extracted``, ``tests_skipped``,
``pairs_with_tests``; distribution ``latency_ms`` (per unit).
"""

from __future__ import annotations

import time

import apache_beam as beam

from pipeline.sources.core import STAGE, SourceConfig, SourceStats
from pipeline.sources.spec import Unit, expand_unit, read_unit, resolve_spec
from pipeline.stage import StageFn
from schemas import Candidate, RejectedRow

PAIRS, CANDIDATES, REJECTED = "pairs", "candidates", "rejected"


class _CountingFn(StageFn):
    """A DoFn that keeps ``source`` counters (``pipeline/stage.py``)."""

    NAMESPACE = STAGE

    def __init__(self, config: SourceConfig) -> None:
        self._config = config

    def _inc_file_counts(self, stats: SourceStats) -> None:
        """Counts that are not rows: functions filtered out, files read or skipped, repositories."""
        for rule, n in stats.filtered.items():
            self.count(f"filtered_{rule}", n)
        for outcome, n in stats.files.items():
            self.count(f"files_{outcome}", n)
        self.count("repositories", stats.repositories)


class _ExpandUnitFn(_CountingFn):
    """A repository root -> one unit per source file to read (walking happens on a worker)."""

    def process(self, unit: Unit):
        stats = SourceStats()
        yield from expand_unit(unit, self._config, stats)
        self._inc_file_counts(stats)


class _ReadUnitFn(_CountingFn):
    """Read one unit; route records by kind and keep the stage counters."""

    def process(self, unit: Unit):
        stats = SourceStats()
        started = time.monotonic()
        for record in read_unit(unit, self._config, stats):
            self.seen()
            if isinstance(record, RejectedRow):
                yield self.reject(record, record.reason, tag=REJECTED)
            elif isinstance(record, Candidate):
                self.count("pairs_with_tests", int(bool(record.pair.tests)))
                yield self.keep(beam.pvalue.TaggedOutput(CANDIDATES, record))
            else:
                self.count("pairs_with_tests", int(bool(record.tests)))
                yield self.keep(record)
        self.count("tests_extracted", stats.tests_extracted)
        self.count("tests_skipped", stats.tests_skipped)
        self._inc_file_counts(stats)
        self.latency((time.monotonic() - started) * 1000)


class ReadSource(beam.PTransform):
    """Read ``spec`` (see ``pipeline.sources``) -> dict of ``pairs``, ``candidates``, ``rejected``.

    Raises ``SourceError`` at construction when the spec cannot be read.
    """

    def __init__(self, spec: str, config: SourceConfig | None = None) -> None:
        super().__init__()
        self._spec = spec
        self._config = config or SourceConfig()
        self._units = resolve_spec(spec, self._config)

    @property
    def units(self) -> tuple[Unit, ...]:
        return self._units

    def expand(self, pbegin):
        outputs = (
            pbegin
            | "Units" >> beam.Create(list(self._units))
            | "SpreadUnits" >> beam.Reshuffle()
            | "ExpandUnits" >> beam.ParDo(_ExpandUnitFn(self._config))
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadUnits"
            >> beam.ParDo(_ReadUnitFn(self._config)).with_outputs(CANDIDATES, REJECTED, main=PAIRS)
        )
        # One unit can hold many rows (a whole file): spread them before the costly stages.
        return {
            PAIRS: outputs[PAIRS] | "SpreadPairs" >> beam.Reshuffle(),
            CANDIDATES: outputs[CANDIDATES] | "SpreadCandidates" >> beam.Reshuffle(),
            REJECTED: outputs[REJECTED],
        }
