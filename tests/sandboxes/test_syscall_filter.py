"""The seccomp filter on its own (no sandbox): its numbers, and what it refuses and allows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sandboxes import syscall_filter
from sandboxes.syscall_filter import DENIED, SYSCALLS
from tests.support import missing

from .batch_attacks import ATTACKS_DIR

HEADERS = {
    "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    "aarch64": Path("/usr/include/asm-generic/unistd.h"),
}


def _header_numbers(path: Path) -> dict[str, int]:
    text = path.read_text()
    return {
        name: int(number)
        for name, number in re.findall(r"#define __NR(?:3264)?_(\w+)\s+(\d+)\b", text)
    }


@pytest.mark.parametrize("machine", sorted(SYSCALLS))
def test_numbers_match_the_kernel_headers(machine: str) -> None:
    if not HEADERS[machine].is_file():
        missing("linux-libc-dev", f"{HEADERS[machine]} is not installed")
    kernel = _header_numbers(HEADERS[machine])
    table = SYSCALLS[machine]
    assert {name: kernel.get(name) for name in table} == table
    # a denied name missing from the table must not exist on that architecture
    absent = [name for name in DENIED if name not in table and name in kernel]
    assert absent == []


def test_unknown_architecture_is_refused() -> None:
    assert not syscall_filter.supported("sparc64")
    with pytest.raises(ValueError, match="sparc64"):
        syscall_filter.program("sparc64")


@pytest.mark.parametrize("machine", sorted(SYSCALLS))
def test_program_is_whole_instructions(machine: str) -> None:
    program = syscall_filter.program(machine)
    assert len(program) % 8 == 0 and 20 < len(program) // 8 < 4096


def test_filter_alone_refuses_keyring_namespaces_and_ptrace() -> None:
    """A child under the filter only (on the host, as whatever user runs the tests)."""
    if not syscall_filter.supported() or os.uname().machine != "x86_64":
        pytest.skip("the probe program uses x86_64 system call numbers")
    install = syscall_filter.installer(syscall_filter.program())
    probe = (ATTACKS_DIR / "kernel_probes.py").read_text()
    out = subprocess.run(
        [sys.executable, "-I", "-c", probe],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        preexec_fn=install,
    ).stdout
    probes = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    for name in (
        "add_key",
        "keyctl",
        "request_key",
        "unshare_user",
        "clone_newuser",
        "ptrace",
        "io_uring_setup",
        "personality",
    ):
        assert probes[name] == "EPERM", (name, probes)
    assert probes["clone3_newuser"] == "ENOSYS" and probes["fork"] == "ok", probes


@pytest.mark.parametrize(
    ("language", "argv"),
    [
        ("java", ["/usr/bin/java", "-version"]),
        ("javascript", ["/usr/bin/node"]),
        ("go", ["/usr/bin/go", "version"]),
    ],
    ids=["java", "node", "go"],
)
def test_runtimes_start_under_the_filter(language: str, argv: list[str]) -> None:
    """Threads (clone3 -> ENOSYS -> clone) and runtimes' start-up survive the filter."""
    if not Path(argv[0]).exists():
        missing(language, f"{argv[0]} is not installed")
    if argv[0].endswith("node"):
        argv = [
            argv[0],
            "-e",
            "const { Worker } = require('worker_threads');"
            "new Worker('process.exit(0)', { eval: true }).on('exit', c => process.exit(c));",
        ]
    install = syscall_filter.installer(syscall_filter.program())
    result = subprocess.run(argv, capture_output=True, timeout=120, preexec_fn=install)
    assert result.returncode == 0, result.stderr[-500:]
