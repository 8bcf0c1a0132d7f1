"""Progress lines for long stages: a pass-through step that logs counts and rates.

Inserted after each stage by the graph in ``pipeline.run``, so stage code stays free of
logging plumbing. Each worker logs its own count at most every ``every_s`` seconds and once
at teardown; under DirectRunner (one or two workers) that reads as one line per stage.
"""

from __future__ import annotations

import logging
import time

import apache_beam as beam

LOG = logging.getLogger("pipeline.progress")


class _ProgressFn(beam.DoFn):
    def __init__(self, stage: str, every_s: float) -> None:
        self._stage = stage
        self._every_s = every_s

    def setup(self) -> None:
        self._count = 0
        self._start = time.monotonic()
        self._last = self._start

    def process(self, element):
        self._count += 1
        now = time.monotonic()
        if now - self._last >= self._every_s:
            self._last = now
            self._log(now)
        yield element

    def teardown(self) -> None:
        if getattr(self, "_count", 0):
            self._log(time.monotonic(), final=True)

    def _log(self, now: float, final: bool = False) -> None:
        elapsed = max(now - self._start, 1e-9)
        LOG.info(
            "[%s] %d rows%s (%.1f rows/s)",
            self._stage, self._count, " done" if final else "", self._count / elapsed,
        )


class LogProgress(beam.PTransform):
    """Pass elements through unchanged, logging ``[stage] N rows (R rows/s)``."""

    def __init__(self, stage: str, every_s: float = 10.0) -> None:
        super().__init__()
        self._stage = stage
        self._every_s = every_s

    def expand(self, pcoll):
        return pcoll | beam.ParDo(_ProgressFn(self._stage, self._every_s))
