"""Code and docs cite only documents and paths that are in the repository.

Docstrings once cited a design document and a facts file that were never committed; a
citation now points at docs/design.md (by section name) or at the file that holds the fact.
Checked here, in every tracked text file:

- a document reference (``docs/<name>.md``, an upper-case name such as ``README.md``, a markdown link to a
  ``.md``) names a file of the repository (a link resolves from the citing file's folder);
- a repository path with a file extension or a trailing slash (``pipeline/run.py``,
  ``pipeline/sources/``) exists, outside ``tests/``, whose paths mostly name files that
  tests create in temporary trees.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = (
    "pipeline",
    "sandboxes",
    "languages",
    "model",
    "eval",
    "schemas",
    "docs",
    "tests",
    "scripts",
    "bench",
    "docker",
)
TEXT = {".py", ".md", ".sh", ".toml", ".yaml", ".yml", ".txt", ".cfg"}
#: Names of files the code reads or writes in someone else's tree, not documents of ours.
NOT_OURS = {"LICENSE.md"}

DOC = re.compile(r"(?<![\w/.$-])((?:docs/[\w./-]+|[A-Z][A-Z_-]+)\.md)\b")
LINK = re.compile(r"\]\(([\w./-]+\.md)(?:#[\w-]*)?\)")
PATH = re.compile(
    r"(?<![\w./$-])((?:" + "|".join(TOP) + r")/[\w./-]*?(?:\.[a-z]{1,5}|/))(?![\w.$<{*-])"
)


def tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    paths = [ROOT / n for n in names]
    return [p for p in paths if p.is_file() and (p.suffix in TEXT or p.name == "Makefile")]


def missing_references() -> list[str]:
    md_names = {
        p.name
        for p in map(
            Path,
            subprocess.run(
                ["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.split(),
        )
    }
    md_names |= {p.name for p in (ROOT / "docs").glob("*.md")}
    missing = []
    for path in tracked_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        where = path.relative_to(ROOT)
        for ref in DOC.findall(text):
            if (
                ref in NOT_OURS
                or (ROOT / ref).is_file()
                or (ref.upper() == ref and ref in md_names)
            ):
                continue
            missing.append(f"{where}: {ref}")
        for ref in LINK.findall(text):
            if not (path.parent / ref).is_file() and not (ROOT / ref).is_file():
                missing.append(f"{where}: {ref}")
        if where.parts[0] == "tests":
            continue
        for ref in PATH.findall(text):
            if not (ROOT / ref).exists():
                missing.append(f"{where}: {ref}")
    return missing


def test_every_cited_document_and_path_exists():
    assert missing_references() == []


def test_the_design_page_has_the_sections_the_code_cites():
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^## (.+)$", design, flags=re.M))
    cited = set()
    for path in tracked_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for group in re.findall(r"docs/design\.md,\s+((?:\"[^\"]+\"(?:,\s*)?)+)", text):
            cited |= {" ".join(name.split()) for name in re.findall(r"\"([^\"]+)\"", group)}
    assert cited and cited <= sections, (
        f"cited sections missing from docs/design.md: {sorted(cited - sections)}"
    )


def test_contracts_list_every_stage_and_the_sources_package():
    from pipeline.stats import STAGE_ORDER

    contracts = (ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
    assert all(f"`{stage}`" in contracts for stage in STAGE_ORDER)
    assert "`pipeline/sources/` (a package" in contracts and "pipeline/sources.py" not in contracts
