"""Every flag of the data-side CLIs is run through its CLI by some test (issue 21, item 4).

A tripwire, not the proof: the flags are read from each parser's source, and a flag counts as
tested when a test module that imports that CLI passes it (``"--flag"`` or ``--flag=``). What
each flag changes is asserted by the tests the table in docs/testing.md names. A new flag
without a test fails here; so does a flag dropped from a parser while still listed as pending.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: CLI module -> the file whose parser declares its flags.
PARSERS = {
    "pipeline.run": "pipeline/options.py",
    "pipeline.dedup": "pipeline/dedup.py",
    "pipeline.release": "pipeline/release.py",
    "sandboxes.run": "sandboxes/run.py",
}
#: Flags whose CLI test is still to be written, per CLI (none today: every flag has one).
PENDING: dict[str, set[str]] = {}


def declared_flags(cli: str) -> list[str]:
    text = (ROOT / PARSERS[cli]).read_text(encoding="utf-8")
    return re.findall(r'add(?:_argument)?\(\s*"(--\w+)"', text)


def flags_passed_by_tests(cli: str) -> set[str]:
    flags: set[str] = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        text = path.read_text(encoding="utf-8")
        if path.resolve() != Path(__file__).resolve() and re.search(rf"\b{re.escape(cli)}\b", text):
            flags.update(re.findall(r"""["'](--\w+)(?=[="'])""", text))
    return flags


@pytest.mark.parametrize("cli", sorted(PARSERS))
def test_every_flag_runs_through_its_cli(cli):
    declared = declared_flags(cli)
    assert declared, f"no flags found in {PARSERS[cli]}: the pattern no longer matches"
    pending = PENDING.get(cli, set())
    assert pending <= set(declared), f"pending flags no longer in {cli}: {pending - set(declared)}"
    untested = [flag for flag in declared if flag not in flags_passed_by_tests(cli) and flag not in pending]
    assert untested == [], f"{cli} flags no test passes to its CLI: {untested}"
