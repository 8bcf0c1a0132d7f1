"""Shared fixtures: one sandbox per backend for the whole session, and a leftover-process probe.

A backend that cannot run here is a failure (CI installs both; ``make test`` starts Docker
with ``scripts/ensure_dockerd.sh``), or a skip with the reason when a developer opts out with
``CODETRANS_ALLOW_MISSING=docker`` (or ``bwrap``): see ``tests/support.py``. Every test
parametrized by ``backend`` (or using the ``sandbox`` fixture) carries that backend's marker
(``tests/conftest.py``), so ``pytest -m bwrap`` or ``-m "not docker"`` picks a backend.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandboxes import Sandbox
from tests.support import BACKENDS, get_sandbox

FIXTURES = Path(__file__).parent / "fixtures"

__all__ = ["BACKENDS", "FIXTURES", "get_sandbox", "leftover_pids", "sandbox"]


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


@pytest.fixture(scope="session", params=BACKENDS)
def sandbox(request) -> Sandbox:
    return get_sandbox(request.param)
