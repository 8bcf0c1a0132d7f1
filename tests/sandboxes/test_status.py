"""The one classifier: precedence and the compile/run split users rely on."""

import pytest

from sandboxes.status import RunStatus, classify


def test_vocabulary_is_exactly_the_designed_one():
    assert [s.value for s in RunStatus] == [
        "ok",
        "compile_error",
        "runtime_error",
        "timeout",
        "memory_exceeded",
        "output_exceeded",
        "sandbox_error",
    ]


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (dict(phase="run", exit_code=0), RunStatus.OK),
        (dict(phase="compile", exit_code=1), RunStatus.COMPILE_ERROR),
        (dict(phase="run", exit_code=1), RunStatus.RUNTIME_ERROR),
        (dict(phase="run", exit_code=-6), RunStatus.RUNTIME_ERROR),
        (dict(phase="run", exit_code=-9, timed_out=True), RunStatus.TIMEOUT),
        (dict(phase="compile", exit_code=-9, timed_out=True), RunStatus.TIMEOUT),
        (dict(phase="run", exit_code=-9, oom_killed=True), RunStatus.MEMORY_EXCEEDED),
        (dict(phase="run", exit_code=-9), RunStatus.RUNTIME_ERROR),  # a crash is not a memory kill
        (
            dict(phase="run", exit_code=-9, output_exceeded=True, timed_out=True),
            RunStatus.OUTPUT_EXCEEDED,
        ),
        # a compiler's long error list is truncated, not an output_exceeded verdict
        (dict(phase="compile", exit_code=1, output_exceeded=True), RunStatus.COMPILE_ERROR),
        (
            dict(phase="run", exit_code=1, stderr="MemoryError", memory_markers=("MemoryError",)),
            RunStatus.MEMORY_EXCEEDED,
        ),
        (dict(phase="run", exit_code=1, stderr="MemoryError"), RunStatus.RUNTIME_ERROR),
        (dict(phase="setup", exit_code=None), RunStatus.SANDBOX_ERROR),
        (dict(phase="run", exit_code=None), RunStatus.SANDBOX_ERROR),
        (dict(phase="run", exit_code=0, sandbox_failed=True), RunStatus.SANDBOX_ERROR),
    ],
)
def test_classify(facts, expected):
    assert classify(**facts) is expected


def test_unknown_phase_is_a_value_error():
    with pytest.raises(ValueError, match="phase"):
        classify(phase="link", exit_code=0)
