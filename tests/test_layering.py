"""The packages' layering (docs/design.md, "Layering"): who may import whom.

``schemas/`` and ``languages/`` are leaves (they import nothing of the project), so every
package may read records and language facts; ``sandboxes/`` runs on its own and reads only the
language registry; ``model/`` reads records; ``eval/`` reads the model and records; the
pipeline may use everything. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("schemas", "languages", "sandboxes", "pipeline", "model", "eval")
ALLOWED: dict[str, set[str]] = {
    "schemas": set(),
    "languages": set(),
    "sandboxes": {"languages"},
    "model": {"schemas", "languages"},
    "eval": {"model", "schemas", "languages"},
    "pipeline": {"schemas", "languages", "sandboxes"},
}


def imported_packages(path: Path) -> set[str]:
    """The project packages a module imports (absolute imports; relative ones stay inside)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names} & set(PACKAGES)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_what_its_layer_allows(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        extra = imported_packages(path) - ALLOWED[package] - {package}
        if extra:
            offenders.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(extra))}")
    assert offenders == []
