"""The bookkeeping every stage DoFn shares: counters, kept/rejected with a reason, latency.

Each stage's counters live under its namespace (``<namespace>/<name>`` in ``stats.json``):
``total`` (rows in), ``kept``, ``dropped`` and ``dropped_<reason>`` (rows out, by reason), and
the ``latency_ms`` distribution. ``pipeline/stats.py`` reads these names to build the per-stage
table and the accounting, so a stage that uses :class:`StageFn` is counted like every other
(docs/design.md, "Stage bookkeeping").
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

REJECTED = "rejected"


class StageFn(beam.DoFn):
    """A DoFn with its stage's counters (created on first use, so no ``setup`` is needed).

    Subclasses set ``NAMESPACE``; ``keep`` and ``reject`` count and return what to yield.
    """

    NAMESPACE: str = ""

    def _metric(self, name: str) -> Any:
        metrics = self.__dict__.setdefault("_stage_metrics", {})
        metric = metrics.get(name)
        if metric is None:
            metric = metrics[name] = Metrics.counter(self.NAMESPACE, name)
        return metric

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to ``<namespace>/<name>`` (nothing when ``n`` is 0)."""
        if n:
            self._metric(name).inc(n)

    def seen(self, n: int = 1, *, counter: str = "total") -> None:
        """Rows into the stage."""
        self.count(counter, n)

    def keep(self, element: Any, *, counter: str = "kept") -> Any:
        """Count a kept row; returns it to be yielded."""
        self.count(counter)
        return element

    def reject(
        self,
        value: Any,
        reason: str | None,
        *,
        counter: str | None = "dropped",
        tag: str = REJECTED,
    ) -> beam.pvalue.TaggedOutput:
        """Count a row leaving the stage (``dropped`` and ``dropped_<reason>``); returns the
        tagged output to be yielded."""
        if counter:
            self.count(counter)
        if reason:
            self.count(f"dropped_{reason}")
        return beam.pvalue.TaggedOutput(tag, value)

    def distribution(self, name: str, value: float) -> None:
        """One sample of the distribution ``<namespace>/<name>`` (whole numbers)."""
        metrics = self.__dict__.setdefault("_stage_metrics", {})
        key = ("distribution", name)
        if key not in metrics:
            metrics[key] = Metrics.distribution(self.NAMESPACE, name)
        metrics[key].update(int(value))

    def latency(self, ms: float, name: str = "latency_ms") -> None:
        """One sample of the stage's latency distribution, in whole milliseconds."""
        self.distribution(name, ms)

    @contextmanager
    def timed(self, name: str = "latency_ms") -> Iterator[None]:
        """Time the block into ``name``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.latency(1000 * (time.perf_counter() - started), name)
