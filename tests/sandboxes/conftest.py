"""Shared fixtures: one sandbox per backend for the whole session, and a leftover-process probe.

Docker tests skip with the reason only when no daemon answers (``make test`` starts one with
``scripts/ensure_dockerd.sh``); bubblewrap tests skip only when ``bwrap`` is not installed.
Every test parametrized by ``backend`` (or using the ``sandbox`` fixture) carries that
backend's marker, so ``pytest -m bwrap`` or ``-m "not docker"`` picks a backend in CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandboxes import Sandbox, SandboxUnavailable, open_sandbox

FIXTURES = Path(__file__).parent / "fixtures"
BACKENDS = ("docker", "bwrap")


def leftover_pids(token: str) -> list[int]:
    """Host PIDs of live processes started by the sandbox whose ``SANDBOX_RUN`` is ``token``."""
    marker = f"SANDBOX_RUN={token}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if marker in fh.read():
                    with open(f"/proc/{entry}/stat") as st:
                        if st.read().rsplit(")", 1)[1].split()[0] != "Z":
                            found.append(int(entry))
        except OSError:
            continue
    return found


_SANDBOXES: dict[str, Sandbox] = {}


def get_sandbox(backend: str) -> Sandbox:
    if backend not in _SANDBOXES:
        try:
            _SANDBOXES[backend] = open_sandbox(backend)
        except SandboxUnavailable as exc:
            pytest.skip(f"{backend} backend unavailable here: {exc}")
    return _SANDBOXES[backend]


@pytest.fixture(scope="session", params=BACKENDS)
def sandbox(request) -> Sandbox:
    return get_sandbox(request.param)


def pytest_collection_modifyitems(config, items):
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        for key in ("backend", "sandbox"):
            if params.get(key) in BACKENDS:
                item.add_marker(getattr(pytest.mark, params[key]))


def pytest_sessionfinish(session, exitstatus):
    for sb in _SANDBOXES.values():
        sb.close()
