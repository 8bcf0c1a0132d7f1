"""The program-run status vocabulary and its one classifier.

Both backends report the same raw facts per run (phase, exit code, timeout flag, whether the
memory cgroup's OOM killer fired, whether an output cap was hit, stderr) and
:func:`classify` alone turns them into a :class:`RunStatus`. No backend and no language greps
for a status on its own; a language may only *declare* stderr markers of its runtime's own
out-of-memory error (``Language.memory_markers``: Python's ``MemoryError``, the JVM's
``OutOfMemoryError`` under ``-Xmx``), which count as ``memory_exceeded``.

Order of precedence, most specific first: the sandbox itself failed -> ``sandbox_error``;
the output cap was hit -> ``output_exceeded``; the wall or CPU limit fired -> ``timeout``;
the OOM killer fired or the runtime reported exhaustion -> ``memory_exceeded``; then a clean
exit is ``ok`` and anything else is ``compile_error`` in the compile phase and
``runtime_error`` in the run phase (compile errors are never merged into runtime errors).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

PHASES: tuple[str, ...] = ("setup", "compile", "run")


class RunStatus(enum.StrEnum):
    """Outcome of one program run; the strings match ``schemas.ExecStatus``'s program statuses."""

    OK = "ok"
    COMPILE_ERROR = "compile_error"
    RUNTIME_ERROR = "runtime_error"
    TIMEOUT = "timeout"
    MEMORY_EXCEEDED = "memory_exceeded"
    OUTPUT_EXCEEDED = "output_exceeded"
    SANDBOX_ERROR = "sandbox_error"

    def __str__(self) -> str:
        return self.value


def classify(
    *,
    phase: str,
    exit_code: int | None,
    timed_out: bool = False,
    oom_killed: bool = False,
    output_exceeded: bool = False,
    sandbox_failed: bool = False,
    stderr: str = "",
    memory_markers: Iterable[str] = (),
) -> RunStatus:
    """Map the raw facts of one run to its status (precedence in the module docstring).

    Args:
        phase: ``setup`` (the sandbox could not prepare the run), ``compile`` or ``run``: the
            step that ended the run.
        exit_code: the step's return code (< 0: killed by that signal), ``None`` if unknown.
        timed_out: the wall-clock timer or the CPU rlimit stopped the step.
        oom_killed: the memory cgroup's OOM killer fired during the step.
        output_exceeded: stdout or stderr passed the cap (run phase: the program was killed).
        sandbox_failed: the sandbox, not the program, failed (could not start, agent lost).
        stderr: the step's (truncated) stderr, only searched for ``memory_markers``.
        memory_markers: the language's declared out-of-memory messages.
    """
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; valid: {', '.join(PHASES)}")
    if sandbox_failed or phase == "setup":
        return RunStatus.SANDBOX_ERROR
    if output_exceeded and phase == "run":
        return RunStatus.OUTPUT_EXCEEDED
    if timed_out:
        return RunStatus.TIMEOUT
    if oom_killed:
        return RunStatus.MEMORY_EXCEEDED
    if exit_code == 0:
        return RunStatus.OK
    if exit_code is None:
        return RunStatus.SANDBOX_ERROR
    if any(marker in stderr for marker in memory_markers):
        return RunStatus.MEMORY_EXCEEDED
    return RunStatus.COMPILE_ERROR if phase == "compile" else RunStatus.RUNTIME_ERROR
