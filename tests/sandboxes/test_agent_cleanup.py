"""The agent's cleanup on its own (on the host, in a temp dir): trees built to break it.

The cleanup runs as root inside the sandboxes (CAP_DAC_OVERRIDE opens any dir) and as the
programs' own uid where the agent cannot switch uids; the tree tests run both ways when the
tests run as root (the second in a child switched to uid 65534, which owns the tree).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandboxes.agent import _charge, _remove_tree
from tests.support import require_root

NOBODY = 65534


def _hostile_tree(top: Path, depth: int) -> None:
    """``depth`` nested dirs, files at every level, a locked (000) non-empty dir, a read-only
    dir, a fifo, and symlinks out of the tree (to ``top``'s parent)."""
    top.mkdir()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for level in range(depth):
            with open(os.open("f", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd), "w") as fh:
                fh.write("x")
            if level % 1000 == 0:
                os.mkdir("locked", dir_fd=fd)
                inner = os.open("locked", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                os.mkdir("inside", dir_fd=inner)
                os.close(inner)
                os.chmod("locked", 0, dir_fd=fd)
                os.mkdir("readonly", dir_fd=fd)
                os.close(os.open("readonly/f", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
                os.chmod("readonly", 0o500, dir_fd=fd)
                os.mkfifo("fifo", dir_fd=fd)
                os.symlink(str(top.parent / "outside"), "out", dir_fd=fd)
                os.symlink("/", "root", dir_fd=fd)
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


def _build_and_remove(base: Path, depth: int) -> tuple[bool, bool]:
    _hostile_tree(base / "tree", depth)
    return _remove_tree(str(base / "tree")), (base / "tree").exists()


@pytest.fixture
def base() -> Iterator[Path]:
    """A temp dir outside pytest's own (whose recursive cleanup a leftover deep tree would
    break for every later session), on a tmpfs like the sandbox's when there is one (a disk
    makes the 5000 levels slow), removed with the agent's cleanup whatever happens."""
    where = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="agent-cleanup-test-", dir=where))
    try:
        (path / "outside").mkdir()
        (path / "outside" / "keep").write_text("keep")
        path.chmod(0o777)
        (path / "outside").chmod(0o777)
        yield path
    finally:
        _remove_tree(str(path))


def test_removes_a_5000_level_hostile_tree(base: Path) -> None:
    removed, exists = _build_and_remove(base, 5000)
    assert removed and not exists
    assert (base / "outside" / "keep").read_text() == "keep"  # no symlink followed


def test_removes_it_as_the_owner_without_privileges(base: Path) -> None:
    """Without CAP_DAC_OVERRIDE the cleanup must chmod locked dirs back before entering."""
    require_root("switching to another uid needs root")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            removed, exists = _build_and_remove(base, 2500)
            os.write(write, f"{removed} {exists}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    answer = os.read(read, 100).decode()
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert answer == "True False"
    assert (base / "outside" / "keep").read_text() == "keep"


def test_keep_root_empties_without_touching_the_root(tmp_path: Path) -> None:
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "a" / "b").mkdir(parents=True)
    (shared / "a" / "b" / "f").write_text("x")
    (shared / "a").chmod(0)
    (shared / "g").write_text("y")
    assert _remove_tree(str(shared), keep_root=True)
    assert shared.is_dir() and list(shared.iterdir()) == []
    assert shared.stat().st_mode & 0o7777 == 0o1777


def test_a_symlink_is_removed_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep").write_text("keep")
    (tmp_path / "link").symlink_to(target)
    assert _remove_tree(str(tmp_path / "link"))
    assert not (tmp_path / "link").exists() and (target / "keep").exists()
    assert _remove_tree(str(tmp_path / "missing"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cache 1000\nrss 300\nrss_huge 0\nshmem 40\nmapped_file 7\n", 340),  # cgroup v1
        ("anon 500\nfile 9000\nshmem 60\n", 560),  # cgroup v2
    ],
)
def test_charge_counts_anonymous_memory_and_shmem(tmp_path: Path, text: str, expected: int) -> None:
    stat = tmp_path / "memory.stat"
    stat.write_text(text)
    assert _charge(str(stat)) == expected
    assert _charge(str(tmp_path / "absent")) is None
