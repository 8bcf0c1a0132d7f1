"""The ``repo:PATH[,PATH...]`` source: documented functions of local repositories, CodeSearchNet style.

Each ``PATH`` is a git checkout or a plain directory, or a glob of them
(``repo:'/src/*'``); a sub-directory with its own ``.git`` (a submodule, a vendored
checkout) is a repository of its own. Resolving the spec only finds the roots; walking a
repository happens in ``expand_repository`` (on a worker, under Beam), which yields one unit
per source file, so a large tree is spread over workers file by file.

Which files are read: files whose extension names one of the registry's languages
(``EXTENSIONS``, from ``languages/<name>.py``), not under ``SKIP_DIRS`` or hidden directories, not test files. Every other
file is counted with its reason (``files_skipped_<reason>``: ``unknown_language``,
``test_file``, ``too_large``, ``binary``, ``broken_symlink``, ``symlink``, ``invalid_utf8``,
``read_error``), never a crash. A file in a known language that cannot be read or decoded
also becomes one rejected row, since it should have given pairs.

Inside a file, ``pipeline.sources.functions`` finds the functions (every language of the
registry: python, java, javascript, typescript, go, php, ruby, c, cpp, rust) and applies CodeSearchNet's filters (counted as
``filtered_<rule>``; the rules are listed there). Each pair carries the repository name (``org/name``
from the ``origin`` remote, else the directory name), the checked-out ``sha``, the license
(``pipeline.sources.licenses``) and, when the remote is a known forge and the commit is known,
a permalink ``url`` to the function's lines, the form CodeSearchNet's ``url`` column has.
"""

from __future__ import annotations

import configparser
import dataclasses
import enum
import glob
import os
import re
from collections.abc import Iterator
from pathlib import Path

from languages import REGISTRY
from pipeline.sources.core import (
    Reason,
    SourceConfig,
    SourceError,
    SourceStats,
    make_pair,
    reject,
)
from pipeline.sources.files import is_url
from pipeline.sources.functions import extract_functions, filter_reason
from pipeline.sources.licenses import detect_license
from schemas import RejectedRow, SourcePair

#: File extension -> language (the registry's ``Mining.extensions``; a ``.h`` header is C
#: unless its text is C++, see ``file_language``).
EXTENSIONS: dict[str, str] = {
    ext: name for name, spec in REGISTRY.items() for ext in spec.mining.extensions
}

#: Directories never searched: VCS data, dependencies, build output, virtual environments.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "vendor",
        "third_party",
        "build",
        "dist",
        "target",
        "__pycache__",
        "site-packages",
        ".venv",
        "venv",
        ".tox",
        ".mypy_cache",
        ".pytest_cache",
    }
)

_TEST_DIRS = frozenset(
    {"test", "tests", "testing", "spec", "specs", "__tests__", "__mocks__", "testdata", "benches"}
)
#: Test file names of every language (the registry's ``Mining.test_file``), matched on a file's
#: base name.
_TEST_FILE = re.compile(
    "|".join(f"(?:{spec.mining.test_file})" for spec in REGISTRY.values() if spec.mining.test_file)
)

#: (language, regex of lines only it has): a header of another language (``.h``) whose text
#: matches is read as this language's (``Mining.header_text``: C++ headers named ``.h``).
_HEADER_TEXT: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(spec.mining.header_text, re.M))
    for name, spec in REGISTRY.items()
    if spec.mining.header_text
)

#: How much of a file is scanned for NUL bytes to call it binary (what git and grep do).
_BINARY_PROBE = 8192


class FileSkip(enum.StrEnum):
    """Why a file of a repository was not read (counted as ``files_skipped_<reason>``)."""

    UNKNOWN_LANGUAGE = "unknown_language"
    TEST_FILE = "test_file"
    TOO_LARGE = "too_large"
    BINARY = "binary"
    BROKEN_SYMLINK = "broken_symlink"
    SYMLINK = (
        "symlink"  # not followed: it may point outside the repository or at a file read already
    )
    INVALID_UTF8 = "invalid_utf8"
    READ_ERROR = "read_error"
    LICENSE = "license"  # the repository corpus only: the license policy refuses the repository


@dataclasses.dataclass(frozen=True)
class RepoInfo:
    """What is known of a repository as a whole.

    Attributes:
        root: the checkout's directory.
        repository_name: ``org/name`` from the ``origin`` remote, else the directory name.
        sha: the checked-out commit, or None.
        license: lower-case SPDX expression (``mit``, ``mit or apache-2.0``) or None.
        web_url: the forge's web address of the repository (``https://github.com/org/name``)
            when the remote is on a forge whose permalinks we know, else None.
    """

    root: str
    repository_name: str
    sha: str | None
    license: str | None
    web_url: str | None = None

    def permalink(self, relpath: str, start_line: int, end_line: int) -> str | None:
        """The forge's address of lines ``start_line``-``end_line`` of ``relpath`` at ``sha``."""
        if not self.web_url or not self.sha:
            return None
        host = self.web_url.split("/")[2]
        if host == "gitlab.com":
            return f"{self.web_url}/-/blob/{self.sha}/{relpath}#L{start_line}-{end_line}"
        if host == "bitbucket.org":
            return f"{self.web_url}/src/{self.sha}/{relpath}#lines-{start_line}:{end_line}"
        if host == "codeberg.org":
            return f"{self.web_url}/src/commit/{self.sha}/{relpath}#L{start_line}-L{end_line}"
        return (
            f"{self.web_url}/blob/{self.sha}/{relpath}#L{start_line}-L{end_line}"  # GitHub's form
        )


def repo_info(root: Path) -> RepoInfo:
    """Name, commit, license and web address of the repository at ``root``."""
    remote = _origin_url(root)
    name, web_url = _parse_remote(remote) if remote else (None, None)
    return RepoInfo(
        str(root), name or root.resolve().name, _head_sha(root), detect_license(root), web_url
    )


# --- finding repositories and their files ---------------------------------------------------


def find_repositories(paths: str) -> list[Path]:
    """The repository roots ``PATH[,PATH...]`` names (directories or globs of directories).

    Raises ``SourceError`` for a path that is not a directory or a glob matching none, so a
    typo stops the run before anything starts, and for a URL (``s3://``, ``gs://``): a
    repository is walked on a worker as a checkout on disk, which an object store does not hold.
    """
    roots: list[Path] = []
    for part in (p.strip() for p in paths.split(",")):
        if not part:
            continue
        if is_url(part):
            raise SourceError(
                f"repo: reads checkouts on a disk, and {part!r} is a URL: an object store keeps no "
                "checkout (no .git metadata to name the repository, commit and license, no symlinks). "
                "Mine the checkouts where they are (on a cluster, a disk every worker mounts at the same "
                "path), or store pairs as parquet/JSONL there and read them with parquet:URL or csn:URL"
            )
        expanded = os.path.expanduser(part)
        if any(ch in part for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(expanded) if os.path.isdir(m))
            if not matches:
                raise SourceError(f"repo: no directories match {part!r}")
            roots.extend(matches)
        elif os.path.isdir(expanded):
            roots.append(Path(expanded))
        else:
            raise SourceError(f"repo: {part!r} is not a directory")
    if not roots:
        raise SourceError(
            "repo: needs at least one directory, e.g. repo:../checkout or repo:'/src/*'"
        )
    unique: dict[Path, Path] = {}
    for root in roots:
        unique.setdefault(root.resolve(), root)
    return list(unique.values())


def file_language(relpath: str, text: str | None = None) -> str | None:
    """The language of a repository file from its extension; a ``.h`` header whose ``text``
    has C++-only lines (namespaces, templates, classes, access specifiers) is C++."""
    language = EXTENSIONS.get(os.path.splitext(relpath)[1])
    if text is not None and relpath.endswith(".h"):
        for other, pattern in _HEADER_TEXT:
            if other != language and pattern.search(text):
                return other
    return language


def is_test_path(relpath: str) -> bool:
    """CodeSearchNet-style test-file check on a repository-relative path."""
    parts = relpath.split("/")
    return any(p.lower() in _TEST_DIRS for p in parts[:-1]) or bool(_TEST_FILE.match(parts[-1]))


def is_repository(directory: Path) -> bool:
    """A git checkout: has ``.git`` (a directory, or a file for worktrees and submodules)."""
    return os.path.lexists(directory / ".git")


def walk_repository(
    root: Path, stats: SourceStats, max_file_bytes: int, include_tests: bool = False
) -> tuple[list[tuple[str, str]], list[Path]]:
    """Files of the repository at ``root`` to read, and the nested repositories under it.

    Returns ``([(relpath, language), ...] sorted, [nested root, ...])``. Files passed over are
    counted in ``stats.files`` (``FileSkip`` reasons); nested repositories are not walked here.
    """
    files: list[tuple[str, str]] = []
    nested: list[Path] = []
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            stats.files[f"skipped_{FileSkip.READ_ERROR}"] += 1
            continue
        for entry in entries:
            path = Path(entry.path)
            if entry.is_symlink():
                broken = not os.path.exists(entry.path)
                stats.files[
                    f"skipped_{FileSkip.BROKEN_SYMLINK if broken else FileSkip.SYMLINK}"
                ] += 1
                continue
            if entry.is_dir(follow_symlinks=False):
                if entry.name in SKIP_DIRS or entry.name.startswith("."):
                    continue
                if is_repository(path):
                    nested.append(path)
                else:
                    stack.append(path)
                continue
            if not entry.is_file(follow_symlinks=False):
                continue  # sockets, fifos, devices: never source code
            relpath = path.relative_to(root).as_posix()
            language = file_language(entry.name)
            reason = None
            if language is None:
                reason = FileSkip.UNKNOWN_LANGUAGE
            elif not include_tests and is_test_path(relpath):
                reason = FileSkip.TEST_FILE
            else:
                try:
                    if entry.stat(follow_symlinks=False).st_size > max_file_bytes:
                        reason = FileSkip.TOO_LARGE
                except OSError:
                    reason = FileSkip.READ_ERROR
            if reason is not None:
                stats.files[f"skipped_{reason}"] += 1
                continue
            files.append((relpath, language))
    files.sort()
    return files, sorted(nested)


def read_text(path: Path, max_bytes: int) -> tuple[str | None, FileSkip | None, str]:
    """A file's text, or ``(None, reason, message)`` when it cannot be used as source code."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, FileSkip.READ_ERROR, f"cannot read: {exc.strerror or exc}"
    if len(data) > max_bytes:  # grew since the walk
        return None, FileSkip.TOO_LARGE, f"{len(data)} bytes, over the {max_bytes}-byte limit"
    if b"\x00" in data[:_BINARY_PROBE]:
        return None, FileSkip.BINARY, "a NUL byte in its first 8 KB: a binary file"
    try:
        return data.decode("utf-8"), None, ""
    except UnicodeDecodeError as exc:
        return None, FileSkip.INVALID_UTF8, f"not valid UTF-8 (byte {exc.start})"


def expand_repository(
    root: Path, stats: SourceStats, max_file_bytes: int, include_tests: bool = False
):
    """One ``repo`` unit per file to read under ``root``, then the same for each nested repository.

    Yields ``pipeline.sources.spec.Unit`` records carrying the file's ``RepoInfo``. Skipped
    files are counted in ``stats.files``; ``include_tests`` keeps test files (the repository
    corpus wants whole repositories, tests included).
    """
    from pipeline.sources.spec import Unit

    pending = [root]
    while pending:
        current = pending.pop(0)
        info = repo_info(current)
        files, nested = walk_repository(current, stats, max_file_bytes, include_tests)
        stats.repositories += 1
        for relpath, _language in files:
            yield Unit("repo", relpath, "", None, info)
        pending.extend(nested)


# --- functions of one file ------------------------------------------------------------------


def read_repo_file(
    info: RepoInfo, relpath: str, config: SourceConfig, stats: SourceStats
) -> Iterator[SourcePair | RejectedRow]:
    """The documented functions of one repository file that pass CodeSearchNet's filters."""
    language = file_language(relpath)
    if language is None:
        return
    where = f"{info.repository_name}/{relpath}"
    text, skip, message = read_text(Path(info.root) / relpath, config.max_repo_file_bytes)
    if text is None:
        stats.files[f"skipped_{skip}"] += 1
        if skip in (FileSkip.INVALID_UTF8, FileSkip.READ_ERROR):  # it should have given pairs
            yield reject(
                Reason(str(skip)),
                where,
                message,
                repository_name=info.repository_name,
                func_path_in_repository=relpath,
                language=language,
            )
        return
    language = file_language(relpath, text)
    stats.files["read"] += 1
    stats.by_language[language, "files_read"] += 1
    for fn in extract_functions(language, text):
        stats.by_language[language, "functions"] += 1
        reason = filter_reason(language, fn)
        if reason:
            stats.filtered[reason] += 1
            stats.by_language[language, f"filtered_{reason}"] += 1
            continue
        end_line = fn["line"] + max(len(fn["code"].rstrip("\n").splitlines()), 1) - 1
        fields = {
            "repository_name": info.repository_name,
            "func_path_in_repository": relpath,
            "func_name": fn["func_name"],
            "language": language,
            "code": fn["code"],
            "docstring": fn["docstring"],
            "url": info.permalink(relpath, fn["line"], end_line),
            "sha": info.sha,
            "license": info.license,
        }
        yield make_pair(fields, f"{where}:{fn['line']}", config, stats)


# --- repository metadata --------------------------------------------------------------------

#: Forges whose permalink form ``RepoInfo.permalink`` knows.
_FORGES = ("github.com", "gitlab.com", "bitbucket.org", "codeberg.org")
_SCP_REMOTE = re.compile(r"^(?:[^@/\s]+@)?([^:/\s]+):(?!//)(.+)$")  # git@github.com:org/name.git


def _parse_remote(url: str) -> tuple[str | None, str | None]:
    """``(org/name, web address)`` of a remote URL (https, ssh:// or scp-like); web only for forges."""
    url = url.strip()
    if "://" in url:
        rest = url.split("://", 1)[1]
        host, _, path = rest.partition("/")
        host = host.rsplit("@", 1)[-1].split(":")[0]
    else:
        match = _SCP_REMOTE.match(url)
        if not match:
            return None, None
        host, path = match.groups()
    path = path.strip("/")
    path = path[:-4] if path.endswith(".git") else path
    if path.count("/") < 1 or not host:
        return None, None
    host = host.lower()
    return path, (f"https://{host}/{path}" if host in _FORGES else None)


def _git_dir(root: Path) -> Path | None:
    """The repository's git directory: ``.git``, or where a ``.git`` file (worktree, submodule) points."""
    git = root / ".git"
    if git.is_dir():
        return git
    try:
        text = git.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("gitdir:"):
        return None
    target = Path(text[len("gitdir:") :].strip())
    return target if target.is_absolute() else (root / target).resolve()


def _common_dir(git: Path) -> Path:
    """Where refs and config live (a worktree's git directory names it in ``commondir``)."""
    try:
        common = (git / "commondir").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return git
    path = Path(common)
    return path if path.is_absolute() else (git / path).resolve()


def _origin_url(root: Path) -> str | None:
    git = _git_dir(root)
    if git is None:
        return None
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read(_common_dir(git) / "config", encoding="utf-8")
        return parser.get('remote "origin"', "url", fallback=None)
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None


def _head_sha(root: Path) -> str | None:
    git = _git_dir(root)
    if git is None:
        return None
    common = _common_dir(git)
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head if re.fullmatch(r"[0-9a-f]{40}", head) else None
        ref = head[4:].strip()
        for base in (git, common):
            if (base / ref).is_file():
                return (base / ref).read_text().strip() or None
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0]
    except (OSError, UnicodeDecodeError):
        return None
    return None
