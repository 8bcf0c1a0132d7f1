"""What the tests need from the machine, and what happens when a part of it is missing.

The suite tests what users run: both sandbox backends (Docker and bubblewrap) and every
language's toolchain. CI installs all of them (``make test`` runs ``make system`` and
``scripts/ensure_dockerd.sh``; ``.ci/run`` sets ``CI=true``), so a missing part is a failure
there, whatever else the environment says. On a developer's machine it is a failure too,
unless the developer opts out explicitly for that part::

    CODETRANS_ALLOW_MISSING=docker,bwrap make test

Then each test that needs an opted-out part that is missing is skipped, with the reason.
Part names are the ones failures print: ``docker``, ``bwrap``, a language of the sandbox
table (its toolchain), ``root``, or a system package such as ``linux-libc-dev``.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

from sandboxes import Sandbox, SandboxUnavailable, open_sandbox

#: Comma-separated parts a developer allows to be missing (ignored when ``CI`` is set).
ALLOW_MISSING = "CODETRANS_ALLOW_MISSING"
BACKENDS: tuple[str, ...] = ("docker", "bwrap")


def in_ci() -> bool:
    """``CI`` set to a true value (``true``, ``1``, ``yes``), as CI services and ``.ci/run`` do."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def allowed_missing() -> frozenset[str]:
    """The parts named in ``CODETRANS_ALLOW_MISSING``."""
    return frozenset(p.strip() for p in os.environ.get(ALLOW_MISSING, "").split(",") if p.strip())


def missing(part: str, why: str) -> NoReturn:
    """``part`` is not usable here (``why``): fail, or skip when a developer opted out."""
    if in_ci():
        ignored = (
            f" ({ALLOW_MISSING}={os.environ[ALLOW_MISSING]} is ignored in CI)"
            if part in allowed_missing()
            else ""
        )
        pytest.fail(
            f"{part} is missing in CI, which must install it: {why}{ignored}", pytrace=False
        )
    if part in allowed_missing():
        pytest.skip(f"{part} is missing ({why}); allowed by {ALLOW_MISSING}")
    pytest.fail(
        f"{part} is missing: {why}. Install it (make system; make test starts Docker) "
        f"or opt out explicitly: {ALLOW_MISSING}={part}",
        pytrace=False,
    )


_SANDBOXES: dict[str, Sandbox] = {}
_UNAVAILABLE: dict[str, str] = {}


def get_sandbox(backend: str) -> Sandbox:
    """The session's sandbox for ``backend`` (opened once); :func:`missing` when it cannot run."""
    if not available(backend):
        missing(backend, f"the {backend} sandbox backend cannot run here: {_UNAVAILABLE[backend]}")
    return _SANDBOXES[backend]


def available(backend: str) -> bool:
    """Whether ``backend`` can run here (opens the session's sandbox; never fails or skips)."""
    if backend not in _SANDBOXES and backend not in _UNAVAILABLE:
        try:
            _SANDBOXES[backend] = open_sandbox(backend)
        except SandboxUnavailable as exc:
            _UNAVAILABLE[backend] = str(exc)
    return backend in _SANDBOXES


def close_sandboxes() -> None:
    for sandbox in _SANDBOXES.values():
        sandbox.close()
    _SANDBOXES.clear()


def require_root(why: str) -> None:
    """Needs root (CI runs as root): switching to other uids, cgroups."""
    if os.geteuid() != 0:
        missing("root", why)
