"""The ``repo:PATH`` source: documented functions of a local repository, CodeSearchNet style.

Functions are found with tree-sitter (python, java, javascript, go, php, ruby) and kept under
CodeSearchNet's filters (Husain et al. 2019, "CodeSearchNet Challenge", arXiv:1909.09436,
section 2.2, and github.com/github/CodeSearchNet ``function_parser``):

* the function has documentation: a Python docstring, a ``/** ... */`` comment right before
  it (Java, JavaScript, PHP) or the ``//`` / ``#`` comment lines right before it (Go, Ruby);
* the documentation is truncated to its first paragraph and has at least 3 tokens;
* the implementation has at least 3 lines;
* the function name does not contain ``test`` and the file is not a test file;
* constructors and standard extension methods (``__init__``, ``__str__``, ``toString``,
  ``initialize`` ...) are left out.

Functions passed over are counted (``filtered_<rule>``), not emitted as rows. The repository
name is ``org/name`` from the git remote ``origin`` when there is one, else the directory
name; ``sha`` is the checked-out commit when readable; ``license`` is recognised from a
LICENSE/COPYING file; ``url`` is None (a local checkout has no stable web address).
"""

from __future__ import annotations

import configparser
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

from pipeline.sources.core import (
    Reason,
    SourceConfig,
    SourceStats,
    make_pair,
    reject,
)
from pipeline.sources.functions import extract_functions, filter_reason
from schemas import RejectedRow, SourcePair

EXTENSIONS: dict[str, str] = {
    ".py": "python", ".java": "java", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".go": "go", ".php": "php", ".rb": "ruby",
}

#: Directories never searched: VCS data, dependencies, build output, virtual environments.
SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", "node_modules", "vendor", "third_party", "build", "dist", "target",
    "__pycache__", "site-packages", ".venv", "venv", ".tox", ".mypy_cache", ".pytest_cache",
})

_TEST_DIRS = frozenset({"test", "tests", "testing", "spec", "specs", "__tests__", "__mocks__"})
_TEST_FILE = re.compile(
    r"(^test_.*\.py$|.*_test\.(py|go|rb)$|.*_spec\.rb$|.*Tests?\.java$|.*\.(test|spec)\.[cm]?js$|^conftest\.py$)"
)


@dataclasses.dataclass(frozen=True)
class RepoInfo:
    """What is known of the repository as a whole."""

    root: str
    repository_name: str
    sha: str | None
    license: str | None


def repo_info(root: Path) -> RepoInfo:
    """Name, commit and license of the repository at ``root``."""
    return RepoInfo(str(root), _repository_name(root), _head_sha(root), detect_license(root))


def repo_files(root: Path) -> list[str]:
    """Source files under ``root`` (relative POSIX paths, sorted), skipping ``SKIP_DIRS``."""
    out = []
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = sorted(directory.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                continue
            if entry.is_dir():
                if entry.name not in SKIP_DIRS and not entry.name.startswith("."):
                    stack.append(entry)
            elif entry.suffix in EXTENSIONS:
                out.append(entry.relative_to(root).as_posix())
    return sorted(out)


def is_test_path(relpath: str) -> bool:
    """CodeSearchNet-style test-file check on a repository-relative path."""
    parts = relpath.split("/")
    return any(p.lower() in _TEST_DIRS for p in parts[:-1]) or bool(_TEST_FILE.match(parts[-1]))


def read_repo_file(
    info: RepoInfo, relpath: str, config: SourceConfig, stats: SourceStats
) -> Iterator[SourcePair | RejectedRow]:
    """The documented functions of one repository file that pass CodeSearchNet's filters."""
    language = EXTENSIONS.get(Path(relpath).suffix)
    if language is None:
        return
    where = f"{info.repository_name}/{relpath}"
    if is_test_path(relpath):
        stats.filtered["test_file"] += 1
        return
    path = Path(info.root) / relpath
    try:
        if path.stat().st_size > config.max_repo_file_bytes:
            stats.filtered["large_file"] += 1
            return
        data = path.read_bytes()
    except OSError as exc:
        yield reject(Reason.READ_ERROR, where, f"cannot read: {exc}", repository_name=info.repository_name,
                     func_path_in_repository=relpath, language=language)
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield reject(Reason.INVALID_UTF8, f"{where}:byte {exc.start}", "the file is not valid UTF-8",
                     repository_name=info.repository_name, func_path_in_repository=relpath, language=language)
        return
    for fn in extract_functions(language, text):
        reason = filter_reason(language, fn)
        if reason:
            stats.filtered[reason] += 1
            continue
        fields = {
            "repository_name": info.repository_name,
            "func_path_in_repository": relpath,
            "func_name": fn["func_name"],
            "language": language,
            "code": fn["code"],
            "docstring": fn["docstring"],
            "url": None,
            "sha": info.sha,
            "license": info.license,
        }
        yield make_pair(fields, f"{where}:{fn['line']}", config, stats)


# --- repository metadata --------------------------------------------------------------------

_LICENSE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENSE.rst", "LICENCE", "LICENCE.txt", "COPYING",
                  "COPYING.txt", "license", "license.txt", "license.md")

#: Recognisable license texts -> Hub license ids (first match wins; most specific first).
_LICENSE_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("agpl-3.0", ("GNU AFFERO GENERAL PUBLIC LICENSE",)),
    ("lgpl-3.0", ("GNU LESSER GENERAL PUBLIC LICENSE", "Version 3")),
    ("lgpl-2.1", ("GNU LESSER GENERAL PUBLIC LICENSE", "Version 2.1")),
    ("gpl-3.0", ("GNU GENERAL PUBLIC LICENSE", "Version 3")),
    ("gpl-2.0", ("GNU GENERAL PUBLIC LICENSE", "Version 2")),
    ("apache-2.0", ("Apache License", "Version 2.0")),
    ("mpl-2.0", ("Mozilla Public License", "2.0")),
    ("mit", ("Permission is hereby granted, free of charge",)),
    ("isc", ("Permission to use, copy, modify, and/or distribute this software for any purpose",)),
    ("bsd-3-clause", ("Redistribution and use in source and binary forms", "Neither the name")),
    ("bsd-2-clause", ("Redistribution and use in source and binary forms",)),
    ("unlicense", ("This is free and unencumbered software released into the public domain",)),
)


def detect_license(root: Path) -> str | None:
    """The license id (``mit``, ``apache-2.0``, ``bsd-3-clause``, ``gpl-3.0`` ...) or None."""
    for name in _LICENSE_FILES:
        path = root / name
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8", errors="replace")[:20_000]
            except OSError:
                continue
            squashed = " ".join(text.split())
            for license_id, needles in _LICENSE_PATTERNS:
                if all(n in squashed for n in needles):
                    return license_id
    return None


_REMOTE = re.compile(r"(?:github\.com|gitlab\.com|bitbucket\.org)[:/]+([^/\s]+/[^/\s]+?)(?:\.git)?/?$")


def _repository_name(root: Path) -> str:
    config = root / ".git" / "config"
    if config.is_file():
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        try:
            parser.read(config, encoding="utf-8")
            url = parser.get('remote "origin"', "url", fallback="")
        except (configparser.Error, OSError, UnicodeDecodeError):
            url = ""
        match = _REMOTE.search(url.strip())
        if match:
            return match.group(1)
    return root.resolve().name


def _head_sha(root: Path) -> str | None:
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head if re.fullmatch(r"[0-9a-f]{40}", head) else None
        ref = head[4:].strip()
        ref_file = git / ref
        if ref_file.is_file():
            return ref_file.read_text().strip() or None
        packed = git / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0]
    except OSError:
        return None
    return None
