"""Runs untrusted programs in many languages (Docker first, bubblewrap where Docker can't run).

Imports nothing else of this project, so it runs on its own. The interface is fixed in
docs/contracts.md, section sandboxes/; the user guide is docs/sandboxes.md.
"""

from sandboxes.languages import LANGUAGES, Language, resolve_language
from sandboxes.program import Program, RunResult
from sandboxes.sandbox import Sandbox, SandboxUnavailable, open_sandbox
from sandboxes.status import RunStatus, classify

__all__ = [
    "LANGUAGES",
    "Language",
    "Program",
    "RunResult",
    "RunStatus",
    "Sandbox",
    "SandboxUnavailable",
    "classify",
    "open_sandbox",
    "resolve_language",
]
