"""The hardened spawner on its own (trusted shell commands, no sandbox): group kill, caps, timer.

Each test asserts that nothing it started is left running (MultiPL-E's safe_subprocess tests:
fork-and-exit, infinite output, closed stdout, sleeper).

Timing: the limits and bounds here hold with every core busy. A bound on ``wall_s`` only
tells "stopped at its limit" from "waited for the 30 s sleep": it sits well between the two,
never near the limit itself.
"""

import os
import signal
import uuid

from sandboxes.runner import Limits, spawn


def _alive(marker: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if marker.encode() in fh.read():
                        with open(f"/proc/{entry}/stat") as st:
                            if st.read().rsplit(")", 1)[1].split()[0] != "Z":
                                pids.append(int(entry))
            except OSError:
                pass
    return pids


def test_clean_exit_with_stdin():
    out = spawn(["/bin/cat"], limits=Limits(wall_s=60), stdin=b"hello")
    assert (out.exit_code, out.stdout, out.timed_out, out.output_exceeded) == (
        0,
        b"hello",
        False,
        False,
    )


def test_sleeper_times_out_and_is_killed():
    marker = uuid.uuid4().hex
    out = spawn(["/bin/sh", "-c", f"sleep 30; echo {marker}"], limits=Limits(wall_s=0.5))
    assert out.timed_out and out.wall_s < 20  # killed at its limit, not after the sleep
    assert _alive(marker) == []


def test_fork_and_exit_leaves_no_child():
    marker = uuid.uuid4().hex
    # the parent exits at once; its background child would live on without the group kill
    out = spawn(
        ["/bin/sh", "-c", f"sh -c 'sleep 30; : {marker}' & echo started"], limits=Limits(wall_s=60)
    )
    # done when the parent exits: not held up by the child's pipe until its 30 s sleep ends
    assert out.exit_code == 0 and out.stdout == b"started\n" and not out.timed_out
    assert out.wall_s < 20
    assert _alive(marker) == []


def test_output_flood_is_capped_and_killed():
    out = spawn(["/bin/sh", "-c", "yes flood"], limits=Limits(wall_s=60, output_bytes=1000))
    assert out.output_exceeded and len(out.stdout) == 1000 and not out.timed_out
    assert out.signal == signal.SIGKILL


def test_compiler_output_is_truncated_not_killed():
    script = "i=0; while [ $i -lt 2000 ]; do echo error $i >&2; i=$((i+1)); done; exit 3"
    out = spawn(
        ["/bin/sh", "-c", script],
        limits=Limits(wall_s=60, output_bytes=100, kill_on_output_cap=False),
    )
    assert out.exit_code == 3 and out.output_exceeded and len(out.stderr) == 100


def test_closed_stdout_does_not_hang():
    out = spawn(
        ["/bin/sh", "-c", "exec 1>&-; exec 2>&-; sleep 0.2; exit 4"], limits=Limits(wall_s=60)
    )
    assert out.exit_code == 4 and not out.timed_out


def test_cpu_limit_reads_as_timeout():
    # wall limit far away (a loaded host gives the loop a fraction of a core), CPU limit 1 s:
    # SIGXCPU must still read as a timeout, not a crash
    out = spawn(["/bin/sh", "-c", "while :; do :; done"], limits=Limits(wall_s=120, cpu_s=1))
    assert out.timed_out and out.signal in (signal.SIGXCPU, signal.SIGKILL)


def test_file_size_limit(tmp_path):
    out = spawn(
        ["/bin/sh", "-c", "head -c 100000 /dev/zero > big"],
        cwd=str(tmp_path),
        limits=Limits(wall_s=60, file_size_bytes=1000),
    )
    assert out.exit_code != 0  # SIGXFSZ or a write error
    assert (tmp_path / "big").stat().st_size <= 1000


def test_missing_command_is_a_spawn_error():
    out = spawn(["/nonexistent/compiler"], limits=Limits(wall_s=60))
    assert out.spawn_error and out.exit_code is None
