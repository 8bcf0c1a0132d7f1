"""Suite-wide hooks: backend markers from parameters, one sandbox per backend per session.

A test parametrized by ``backend`` (or ``sandbox``) with ``docker`` or ``bwrap`` carries that
backend's marker, so ``pytest -m docker`` / ``-m bwrap`` select a backend's tests. What happens
when a backend or toolchain is missing is in ``tests/support.py``: a failure, or a skip with
the reason when a developer opts out through ``CODETRANS_ALLOW_MISSING``.
"""

from __future__ import annotations

import pytest

from tests.support import BACKENDS, close_sandboxes


def pytest_collection_modifyitems(config, items):
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        for key in ("backend", "sandbox"):
            if params.get(key) in BACKENDS:
                item.add_marker(getattr(pytest.mark, params[key]))


def pytest_sessionfinish(session, exitstatus):
    close_sandboxes()
