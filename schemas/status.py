"""The one status vocabulary (docs/design.md, "Data contract").

A *program run* ends in one of the first seven statuses; a *translation checked against
tests* ends in ``passed``, ``failed`` or ``no_tests``, or in the program status that stopped
it. ``not_run`` marks a translation that was only parse-checked (``--sandbox=none``).
Compile errors are never merged into runtime errors, and memory kills are never merged
into crashes.
"""

from __future__ import annotations

import enum


class ExecStatus(enum.StrEnum):
    """Outcome of running (and optionally testing) one program."""

    OK = "ok"
    COMPILE_ERROR = "compile_error"
    RUNTIME_ERROR = "runtime_error"
    TIMEOUT = "timeout"
    MEMORY_EXCEEDED = "memory_exceeded"
    OUTPUT_EXCEEDED = "output_exceeded"
    SANDBOX_ERROR = "sandbox_error"
    PASSED = "passed"
    FAILED = "failed"
    NO_TESTS = "no_tests"
    NOT_RUN = "not_run"

    def __str__(self) -> str:  # so f-strings and parquet cells read "passed", not the repr
        return self.value


#: Statuses a single program run can end in (sandboxes/ reports only these).
PROGRAM_STATUSES: frozenset[ExecStatus] = frozenset(
    {
        ExecStatus.OK,
        ExecStatus.COMPILE_ERROR,
        ExecStatus.RUNTIME_ERROR,
        ExecStatus.TIMEOUT,
        ExecStatus.MEMORY_EXCEEDED,
        ExecStatus.OUTPUT_EXCEEDED,
        ExecStatus.SANDBOX_ERROR,
    }
)

#: Statuses that mean "the translation compiled" (for ``--require=compiled``).
COMPILED_STATUSES: frozenset[ExecStatus] = frozenset(
    {ExecStatus.OK, ExecStatus.PASSED, ExecStatus.NO_TESTS, ExecStatus.FAILED}
)


def parse_status(value: str | ExecStatus) -> ExecStatus:
    """Return the enum member for ``value``; raise ``ValueError`` naming the valid values."""
    if isinstance(value, ExecStatus):
        return value
    try:
        return ExecStatus(value)
    except ValueError:
        valid = ", ".join(s.value for s in ExecStatus)
        raise ValueError(f"unknown exec status {value!r}; valid: {valid}") from None
