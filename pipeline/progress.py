"""Progress lines and per-stage CPU clocks: a pass-through step after each stage.

Inserted after each stage by the graph in ``pipeline.run``, so stage code stays free of
logging and timing plumbing. Each worker process logs its own count (``[stage] N rows (R
rows/s, pid P)``) at most every ``every_s`` seconds and once at teardown; the launcher shows the
lines of multi-processing workers too (``forward_worker_progress``).

**CPU per stage.** Beam runs a fused chain of steps depth-first in one thread: a stage's
output element goes through the next steps before the stage resumes. So the CPU time a
worker process used between one progress step and the next is the work that produced the
element reaching the second: the stage just before it (its own code, the child processes it
waited for, such as the translator's). Every progress step reads the process's CPU time
(user+sys, plus reaped children) and adds the time since the previous checkpoint of this
process to the counter ``progress/<stage>_cpu_us``; the rejected-rows step credits the stage
named in each rejected row. Setting up a progress step restarts the count, so work before it
(another pipeline in the same process, worker start-up) and work between a stage's last output
and the next checkpoint (the sinks, shuffles) is not credited to any stage: ``pipeline.stats.stage_rates`` reports it as the
rest of the run's CPU. Attribution is exact when a process runs one bundle at a time (the
DirectRunner in-process and multi-processing modes, Dataflow's default of one thread per
core aside); CPU of processes that are no children of a worker (Docker containers) is
counted by the stage that starts them (``execute/sandbox_cpu_us``).
"""

from __future__ import annotations

import logging
import os
import re
import resource
import threading
import time

import apache_beam as beam
from apache_beam.metrics import Metrics

LOG = logging.getLogger("pipeline.progress")
NAMESPACE = "progress"

_lock = threading.Lock()
_last_cpu: dict[int, float] = {}  # pid -> process CPU seconds at the last checkpoint


def process_cpu_s() -> float:
    """User+sys CPU seconds of this process and of the children it has reaped."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def reset_checkpoint() -> None:
    """Start this process's count now (a process may run several pipelines, one after another)."""
    with _lock:
        _last_cpu[os.getpid()] = process_cpu_s()


def checkpoint() -> float:
    """CPU seconds this process used since its previous checkpoint (0 at the first)."""
    now = process_cpu_s()
    pid = os.getpid()  # a forked worker starts its own count
    with _lock:
        last = _last_cpu.get(pid, now)
        _last_cpu[pid] = now
    return max(0.0, now - last)


class _ProgressFn(beam.DoFn):
    def __init__(self, stage: str, every_s: float, by_rejected_stage: bool = False) -> None:
        self._stage = stage
        self._every_s = every_s
        self._by_rejected_stage = by_rejected_stage

    def setup(self) -> None:
        reset_checkpoint()  # what ran before this run's steps were set up is no stage's
        self._count = 0
        self._start = time.monotonic()
        self._last = self._start
        self._cpu: dict[str, object] = {}
        self._rows: dict[str, object] = {}

    def _credit(self, stage: str, cpu_s: float) -> None:
        if stage not in self._cpu:
            self._cpu[stage] = Metrics.counter(NAMESPACE, f"{stage}_cpu_us")
            self._rows[stage] = Metrics.counter(NAMESPACE, f"{stage}_rows")
        self._cpu[stage].inc(int(cpu_s * 1e6))
        self._rows[stage].inc()

    def process(self, element):
        stage = self._stage
        if self._by_rejected_stage:
            stage = getattr(element, "stage", None) or self._stage
        self._credit(stage, checkpoint())
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
            "[%s] %d rows%s (%.1f rows/s, pid %d)",
            self._stage,
            self._count,
            " done" if final else "",
            self._count / elapsed,
            os.getpid(),
        )


class _WorkerProgress(logging.Filter):
    """Pass the workers' own progress lines (and warnings), drop the rest of their INFO chatter.

    The multi-processing DirectRunner forwards every log line of its worker processes to the
    launcher through the logger of its job service, as ``Worker: severity: INFO timestamp ...
    message: "..." log_location: "..."``; the launcher keeps Beam's loggers at WARNING, which
    hid the workers' progress lines. A progress line is shown as ``worker: [stage] N rows (R
    rows/s, pid P)``; each worker process counts its own rows.
    """

    _FIELD = re.compile(r'(\w+): "((?:[^"\\]|\\.)*)"')

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        fields = dict(self._FIELD.findall(record.getMessage()))
        where = fields.get("log_location", "").replace("\\", "/").split(":")[0]
        if where.endswith("pipeline/progress.py") and "message" in fields:
            record.msg, record.args = "worker: %s", (fields["message"],)
            return True
        return False


def forward_worker_progress() -> None:
    """Show the progress lines of multi-processing workers in the launcher's log."""
    logger = logging.getLogger("apache_beam.runners.portability.local_job_service")
    if not any(isinstance(f, _WorkerProgress) for f in logger.filters):
        logger.addFilter(_WorkerProgress())
    logger.setLevel(logging.INFO)


class LogProgress(beam.PTransform):
    """Pass elements through unchanged, logging ``[stage] N rows (R rows/s)`` and crediting the
    process CPU since the previous checkpoint to ``stage`` (see the module docstring).

    ``by_rejected_stage``: the elements are rejected rows; credit each one's own ``stage``.
    """

    def __init__(self, stage: str, every_s: float = 10.0, by_rejected_stage: bool = False) -> None:
        super().__init__()
        self._stage = stage
        self._every_s = every_s
        self._by_rejected_stage = by_rejected_stage

    def expand(self, pcoll):
        return pcoll | beam.ParDo(_ProgressFn(self._stage, self._every_s, self._by_rejected_stage))
