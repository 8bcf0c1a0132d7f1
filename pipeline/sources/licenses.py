"""The license of a repository directory, as a lower-case SPDX expression, and license policies.

``identify_license(root)`` looks at the evidence in this order and stops at the first that
decides:

1. license files in the root: ``LICENSE``, ``LICENCE``, ``COPYING``, ``UNLICENSE`` in any
   case, bare or with ``.txt``/``.md``/``.rst``/``.markdown``, or split per license
   (``LICENSE-MIT`` + ``LICENSE-APACHE``, ``LICENSE.BSD``, ``COPYING.LESSER``). Each text is
   matched against the SPDX license texts shipped in the ``spdx`` package (the data
   ``spdx-lookup`` matches against). Several recognised files mean alternatives (``OR``),
   the layout of dual-licensed projects, except that GPL-3.0 next to LGPL-3.0 is LGPL-3.0
   (the LGPL is written as additional permissions on top of the GPL and ships both texts);
2. package metadata: ``package.json`` ``license``/``licenses``, ``Cargo.toml``
   ``package.license`` (or its ``license-file``), ``pyproject.toml`` ``project.license``
   (string, ``{text}`` or ``{file}``) or ``tool.poetry.license``, ``setup.cfg``
   ``[metadata] license``, ``composer.json`` ``license`` (a list means any of them),
   ``*.gemspec`` ``license``/``licenses``, ``PKG-INFO``/``METADATA``
   ``License-Expression`` (then ``License`` when it is an SPDX expression).

Matching a text: the text and every SPDX license text are reduced to sets of word bigrams
(lower case, copyright lines dropped, SPDX template variables replaced by their original
wording). The approach is spdx-lookup's (word sets compared by Dice's coefficient, Dice 1945,
"Measures of the amount of ecologic association between species"), made more discriminating
and robust:

* bigrams instead of single words (BSD-2-Clause inside a BSD-3-Clause text, MIT inside X11);
* a license is a candidate when at least ``FULL_COVERAGE`` of its own bigrams are in the
  file, so a license with a NOTICE or a project preface appended, or an Apache text cut
  before its appendix, still matches;
* candidates whose texts mostly overlap are rivals (BSD-2-Clause and BSD-3-Clause, MIT and
  X11, GPL-3.0 and GPL-3.0+) and the one with most matched minus unmatched bigrams of its
  own wins, whatever else the file holds; candidates that do not overlap (a project's text
  followed by bundled third-party notices) are all found, and the one whose text begins
  first in the file is the project's (``TextMatch.others`` names the rest);
* failing that, the SPDX standard license headers ("Licensed under the Apache License,
  Version 2.0 ...") are tried the same way, then the beginning of a short text against the
  beginning of each license (a file holding only a title such as "GNU GENERAL PUBLIC
  LICENSE Version 3, 29 June 2007"), with a confidence of at most 0.5.

The index of all templates is built once per process (0.4-0.8 s here) and one text then
costs well under a millisecond for an MIT file, about 10 ms for the GPL-3.0 (an inverted
index from bigram to licenses, counted with numpy): ``bench/bench_licenses.py`` compares it
with spdx-lookup's own ``match``, which re-reads and re-tokenises every template on every
call (about half a second per text).

The ``spdx`` package holds the SPDX list of its 2.5 release; the licenses added since (MIT-0,
BlueOak-1.0.0 ...) are matched against ScanCode's texts of them (``licensedcode-data``) in a
second index, consulted only when nothing in the first matches (``_newer_index``).

Expressions, permissiveness and the ``--licenses`` policy live in
``pipeline.sources.license_policy`` (re-exported here). Ids are written in lower case; GNU ids
keep their short form (``gpl-3.0``): a license text cannot tell "only" from "or later" anyway.
"""

from __future__ import annotations

import argparse
import collections
import configparser
import dataclasses
import email.parser
import functools
import glob
import json
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.sources.license_policy import (
    LICENSE_NOT_ALLOWED,
    LICENSE_UNKNOWN,
    PERMISSIVE_CATEGORIES,
    LicensePolicy,
    category,
    is_permissive,
    license_keys,
    normalize_expression,
    parse_license_policy,
)

__all__ = [
    "LICENSE_NOT_ALLOWED",
    "LICENSE_UNKNOWN",
    "PERMISSIVE_CATEGORIES",
    "LicenseInfo",
    "LicensePolicy",
    "TextMatch",
    "category",
    "detect_license",
    "identify_license",
    "is_permissive",
    "license_files",
    "license_keys",
    "main",
    "match_file",
    "match_text",
    "normalize_expression",
    "parse_license_policy",
]

#: A license is a full-text candidate when this share of its bigrams is in the file (0.9
#: misses Apache-2.0 texts cut before their appendix, which hold 0.89 of it).
FULL_COVERAGE = 0.85
#: Two licenses are rivals (alternative readings of the same text) when this share of the
#: smaller one's bigrams is in the larger one.
RIVAL_OVERLAP = 0.8
#: A short text is read as the beginning of a license when this share of its bigrams is in it.
FRAGMENT_COVERAGE = 0.85
#: A fragment is at most this share of the license it starts.
FRAGMENT_SHARE = 0.5
#: How much of a license file is read (the longest SPDX texts are about 60 KB).
MAX_LICENSE_BYTES = 200_000

#: ``LICENSE``, ``LICENCE``, ``COPYING``, ``UNLICENSE``, optionally qualified (``-MIT``,
#: ``.APACHE2``, ``.LESSER``) and optionally with a text suffix.
_LICENSE_NAME = re.compile(
    r"^(?:(?:un)?licen[cs]e|copying)(?:[-_.]([a-z0-9]+(?:[-_][a-z0-9]+)*))?(?:\.(?:txt|md|rst|markdown))?$"
)
#: Qualifiers that make a ``LICENSE.*`` name a program or a backup, not a license text.
_NOT_TEXT = frozenset(
    {
        "py",
        "js",
        "ts",
        "go",
        "rb",
        "java",
        "c",
        "h",
        "cc",
        "cpp",
        "rs",
        "php",
        "json",
        "html",
        "htm",
        "xml",
        "yml",
        "yaml",
        "toml",
        "sh",
        "bak",
        "orig",
        "swp",
        "tmp",
        "pdf",
    }
)


@dataclasses.dataclass(frozen=True)
class LicenseInfo:
    """What was found about one repository's license.

    Attributes:
        expression: lower-case SPDX expression (``mit``, ``mit or apache-2.0``), None if unknown.
        evidence: what decided, e.g. ``LICENSE (text)``, ``LICENSE-MIT + LICENSE-APACHE (text)``,
            ``package.json license``; or why nothing did (``no license file or metadata``).
        confidence: 1.0 for declared metadata; for texts, the share of the license's text
            found in the file (full texts) or a lower score for headers and fragments.
    """

    expression: str | None
    evidence: str
    confidence: float = 0.0


@dataclasses.dataclass(frozen=True)
class TextMatch:
    """The best SPDX license for one text: ``license_id`` (lower case), ``method``
    (``text``, ``header`` or ``fragment``), ``confidence`` in [0, 1], and ``others``: further
    licenses whose full texts follow in the same file (bundled third-party notices)."""

    license_id: str
    method: str
    confidence: float
    others: tuple[str, ...] = ()


# --- matching texts against the SPDX license texts ------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")
#: A copyright statement (names holders and years), not wrapped license text such as
#: "copyright notice and this permission notice" or "COPYRIGHT HOLDERS AND CONTRIBUTORS".
_COPYRIGHT_LINE = re.compile(
    r"^\W*(copyright\s*(\(c\)|©|\d{4}|by\b|<|:|$)|\(c\)\s*\d{4}|©|all rights reserved\W*$)",
    re.IGNORECASE,
)
_SPDX_VAR = re.compile(r"<<var;name=.*?;original=(.*?);match=.*?>>", re.IGNORECASE | re.DOTALL)
_SPDX_OPTIONAL = re.compile(r"<<(begin|end)Optional[^>]*>>", re.IGNORECASE)


def tokens(text: str) -> list[str]:
    """Lower-case words of a license text, copyright lines left out (they name holders)."""
    kept = [line for line in text.splitlines() if not _COPYRIGHT_LINE.match(line)]
    return _WORD.findall("\n".join(kept).lower())


def _template_tokens(template: str) -> list[str]:
    return tokens(_SPDX_OPTIONAL.sub(" ", _SPDX_VAR.sub(lambda m: m.group(1), template)))


def _bigrams(words: Sequence[str]) -> set[str]:
    return (
        {f"{a} {b}" for a, b in zip(words, words[1:], strict=False)}
        if len(words) > 1
        else set(words)
    )


@dataclasses.dataclass(frozen=True)
class _Index:
    """Bigram sets of every SPDX text and header, as an inverted index to count overlaps.

    ``column`` maps a bigram to its column; the licenses holding column ``c`` are
    ``rows[indptr[c]:indptr[c + 1]]`` (compressed sparse columns, in plain numpy).
    """

    ids: tuple[str, ...]
    kinds: tuple[str, ...]  # "text" or "header"
    sizes: np.ndarray
    starts: tuple[frozenset[str], ...]  # first bigrams of each text, for fragments
    grams: tuple[frozenset[str], ...]
    column: dict[str, int]
    indptr: np.ndarray
    rows: np.ndarray

    def overlaps(self, grams: Iterable[str]) -> np.ndarray:
        """Number of ``grams`` in each license's bigram set."""
        get = self.column.get
        cols = np.fromiter((c for g in grams if (c := get(g)) is not None), dtype=np.int64)
        if not len(cols):
            return np.zeros(len(self.ids), dtype=np.int64)
        begin = self.indptr[cols]
        lengths = self.indptr[cols + 1] - begin
        # positions begin[k] .. begin[k] + lengths[k] - 1 of every column, without a Python loop
        offsets = np.repeat(begin - np.cumsum(lengths) + lengths, lengths) + np.arange(
            lengths.sum()
        )
        return np.bincount(self.rows[offsets], minlength=len(self.ids))


_START = 40


@functools.cache
def _index() -> _Index:
    """Built once per process from the ``spdx`` package's texts (spdx-lookup's data)."""
    import spdx

    return _build_index(
        {"id": r["id"], "text": spdx.License(r).template, "header": r.get("header")}
        for r in spdx._licenses
    )


@functools.cache
def _newer_index() -> _Index | None:
    """The SPDX licenses the ``spdx`` package's list predates (MIT-0, BlueOak-1.0.0 ...), from
    ScanCode's license database (nexB's ``licensedcode-data``); None when it is not installed.

    Consulted only when no license of ``_index`` matches, so a newer variant of a known text
    (Pixar's Apache, the GFDL no-invariants spellings) never takes a match from the original.
    """
    import spdx

    known = {r["id"].lower() for r in spdx._licenses}
    records = list(_newer_spdx_texts(known))
    return _build_index(records) if records else None


_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)


def _newer_spdx_texts(known: set[str]) -> Iterator[dict[str, str]]:
    """``{"id", "text"}`` of every ScanCode license with a real SPDX id not in ``known``;
    ``-only``/``-or-later`` spellings of a known id (same text), deprecated entries and
    exceptions are skipped."""
    import importlib.resources

    try:
        entries = sorted(
            (importlib.resources.files("licensedcode") / "data" / "licenses").iterdir(),
            key=lambda f: f.name,
        )
    except (ModuleNotFoundError, FileNotFoundError):
        return
    for entry in entries:
        if not entry.name.endswith(".LICENSE"):
            continue
        raw = entry.read_text(encoding="utf-8")
        front = _FRONT_MATTER.match(raw)
        if front is None:
            continue
        fields = dict(re.findall(r"^(\w+):[ \t]*(\S.*)$", front.group(1), re.M))
        spdx_id = fields.get("spdx_license_key", "")
        if (
            not spdx_id
            or spdx_id.startswith("LicenseRef-")
            or re.sub(r"-(only|or-later)$", "", spdx_id.lower()) in known
            or "yes" in (fields.get("is_deprecated"), fields.get("is_exception"))
        ):
            continue
        text = raw[front.end() :].strip()
        if text:
            yield {"id": spdx_id, "text": text}


def _build_index(records: Iterable[dict[str, Any]]) -> _Index:
    """The bigram index of license texts (``id``, ``text`` and optionally a standard ``header``)."""
    ids: list[str] = []
    kinds: list[str] = []
    sizes: list[int] = []
    starts: list[frozenset[str]] = []
    all_grams: list[frozenset[str]] = []
    lists: dict[str, list[int]] = collections.defaultdict(list)
    for record in records:
        texts = [("text", record["text"])]
        if record.get("header"):
            texts.append(("header", record["header"]))
        for kind, text in texts:
            words = _template_tokens(text)
            grams = _bigrams(words)
            if len(grams) < 4:
                continue
            n = len(ids)
            ids.append(record["id"].lower())
            kinds.append(kind)
            sizes.append(len(grams))
            all_grams.append(frozenset(grams))
            starts.append(
                frozenset(
                    f"{a} {b}" for a, b in zip(words[:_START], words[1 : _START + 1], strict=False)
                )
            )
            for g in grams:
                lists[g].append(n)
    column = {g: c for c, g in enumerate(lists)}
    indptr = np.zeros(len(lists) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(v) for v in lists.values()])
    rows = np.fromiter(
        (n for v in lists.values() for n in v), dtype=np.int32, count=int(indptr[-1])
    )
    return _Index(
        tuple(ids),
        tuple(kinds),
        np.asarray(sizes),
        tuple(starts),
        tuple(all_grams),
        column,
        indptr,
        rows,
    )


def match_text(text: str) -> TextMatch | None:
    """The SPDX license ``text`` is, or begins with; None when nothing fits well enough."""
    words = tokens(text)
    sequence = [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    grams = set(sequence) if sequence else set(words)
    if len(grams) < 3:
        return None
    # The bundled SPDX list first, then the newer licenses; whole texts before fragments.
    indexes: list[tuple[_Index, np.ndarray]] = []
    for build in (_index, _newer_index):  # the second only when the first has no whole text
        index = build()
        if index is None:
            continue
        inter = index.overlaps(grams)
        indexes.append((index, inter))
        coverage = inter / index.sizes
        for kind in ("text", "header"):
            found = _full_matches(index, kind, inter, sequence)
            if found:
                first, *others = found
                return TextMatch(
                    index.ids[first],
                    kind,
                    round(float(min(1.0, coverage[first])), 3),
                    tuple(
                        dict.fromkeys(
                            index.ids[i] for i in others if index.ids[i] != index.ids[first]
                        )
                    ),
                )
    for index, inter in indexes:
        found = _fragment_match(index, inter, grams, sequence)
        if found is not None:
            return found
    return None


def _fragment_match(
    index: _Index, inter: np.ndarray, grams: set[str], sequence: list[str]
) -> TextMatch | None:
    """A fragment: nearly all of the file is in one license, and the file starts like it."""
    dice = 2 * inter / (index.sizes + len(grams))
    file_cov = inter / len(grams)
    first_grams = sequence[:8]
    ranked = []
    for i in np.flatnonzero(file_cov >= FRAGMENT_COVERAGE):
        # a fragment is short: a near-complete text that missed FULL_COVERAGE (MIT-0 against
        # MIT) is some other license, not a fragment
        if index.kinds[i] != "text" or len(grams) > FRAGMENT_SHARE * index.sizes[i]:
            continue
        early = sum(g in index.starts[i] for g in first_grams)
        if early >= min(4, len(first_grams)):
            ranked.append(
                (-float(file_cov[i]), -early, -float(dice[i]), len(index.ids[i]), index.ids[i], i)
            )
    if not ranked:
        return None
    i = min(ranked)[-1]
    return TextMatch(index.ids[i], "fragment", round(0.5 * float(file_cov[i]), 3))


def _full_matches(index: _Index, kind: str, inter: np.ndarray, sequence: list[str]) -> list[int]:
    """Licenses of ``kind`` whose text is (nearly) all in the file, the project's own first.

    Rivals, licenses whose texts mostly overlap (BSD-2-Clause and BSD-3-Clause, MIT and X11,
    GPL-3.0 and GPL-3.0+), keep only the one with the most matched minus unmatched bigrams
    of its own: a 3-clause text holds all of BSD-2-Clause but matches more of BSD-3-Clause,
    and a 2-clause text misses BSD-3-Clause's third clause. Licenses that do not overlap (a
    LICENSE with the project's Apache text and bundled MPL and BSD notices) are all kept;
    the first is the one whose text begins first in the file, the rest follow by id.
    """
    candidates = [
        int(i)
        for i in np.flatnonzero(inter >= FULL_COVERAGE * index.sizes)
        if index.kinds[i] == kind
    ]
    # matched minus unmatched bigrams of the license: independent of what else the file holds
    score = 2 * inter - index.sizes
    candidates.sort(key=lambda i: (-int(score[i]), len(index.ids[i]), index.ids[i]))
    kept: list[int] = []
    for i in candidates:
        if not any(_rivals(index, i, k) for k in kept):
            kept.append(i)
    if len(kept) < 2:
        return kept
    # Several licenses: the project's own comes first in the file; each starts where a
    # window of the file is mostly its bigrams.
    first = min(kept, key=lambda i: (_start(index.grams[i], sequence), kept.index(i)))
    return [first, *sorted((i for i in kept if i != first), key=lambda i: index.ids[i])]


def _start(grams: frozenset[str], sequence: list[str], window: int = 20, share: float = 0.6) -> int:
    """First position of ``sequence`` where ``share`` of the next ``window`` bigrams are in
    ``grams`` (where that license's text begins); ``len(sequence)`` if nowhere."""
    hits = np.fromiter((g in grams for g in sequence), dtype=np.int32, count=len(sequence))
    if len(hits) < window:
        return 0 if hits.sum() >= share * len(hits) else len(sequence)
    sums = np.convolve(hits, np.ones(window, dtype=np.int32), mode="valid")
    dense = np.flatnonzero(sums >= share * window)
    return int(dense[0]) if len(dense) else len(sequence)


def _rivals(index: _Index, a: int, b: int) -> bool:
    common = len(index.grams[a] & index.grams[b])
    return common >= RIVAL_OVERLAP * min(len(index.grams[a]), len(index.grams[b]))


def match_file(path: Path) -> TextMatch | None:
    """:func:`match_text` of a file's first ``MAX_LICENSE_BYTES``; None when unreadable."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_LICENSE_BYTES)
    except OSError:
        return None
    return match_text(data.decode("utf-8", errors="replace"))


# --- a repository's license ------------------------------------------------------------------


def license_files(root: Path) -> list[Path]:
    """License files in the root of ``root`` (see the module docstring), sorted by name."""
    try:
        entries = list(root.iterdir())
    except OSError:
        return []
    out = []
    for entry in entries:
        match = _LICENSE_NAME.match(entry.name.lower())
        if match and match.group(1) not in _NOT_TEXT and _is_file(entry):
            out.append(entry)
    return sorted(out, key=lambda p: p.name.lower())


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def identify_license(root: Path | str) -> LicenseInfo:
    """The license of the repository or directory at ``root``, with its evidence."""
    root = Path(root)
    metadata = _from_metadata(root)
    files = license_files(root)
    matches = [(p.name, m) for p in files if (m := match_file(p)) is not None]
    if matches:
        found = {m.license_id for _, m in matches}
        if {"gpl-3.0", "lgpl-3.0"} <= found:
            found.discard("gpl-3.0")
            matches = [(n, m) for n, m in matches if m.license_id != "gpl-3.0"]
        names = " + ".join(n for n, _ in matches)
        methods = sorted({m.method for _, m in matches})
        confidence = min(m.confidence for _, m in matches)
        if len(found) == 1:
            expression = normalize_expression(found.pop())
        elif metadata.expression is not None and set(license_keys(metadata.expression)) == set(
            license_keys(" or ".join(sorted(found)))
        ):
            # The metadata says how the files combine (``MIT OR Apache-2.0``, or ``AND``).
            return LicenseInfo(
                metadata.expression,
                f"{names} ({'/'.join(methods)}) + {metadata.evidence}",
                confidence,
            )
        else:
            expression = normalize_expression(" or ".join(sorted(found)))
        if expression is not None:
            return LicenseInfo(expression, f"{names} ({'/'.join(methods)})", confidence)
    if metadata.expression is not None:
        return metadata
    if files:
        unread = ", ".join(p.name for p in files)
        return LicenseInfo(
            None,
            f"{unread}: no SPDX license recognised"
            + (f"; {metadata.evidence}" if metadata.evidence else ""),
        )
    return LicenseInfo(None, metadata.evidence or "no license file or package metadata")


def detect_license(root: Path | str) -> str | None:
    """The lower-case SPDX expression of the repository at ``root`` (``mit``), or None."""
    return identify_license(root).expression


# --- package metadata ------------------------------------------------------------------------

_GEMSPEC_LICENSE = re.compile(
    r"\.licen[cs]es?\s*=\s*(\[[^\]]*\]|\"[^\"]*\"|'[^']*'|%w[\[(][^\])]*[\])])"
)


def _from_metadata(root: Path) -> LicenseInfo:
    """The first package metadata that declares a recognisable license (confidence 1.0);
    else LicenseInfo(None, what was found but not understood)."""
    unread: list[str] = []
    for name, reader in _METADATA_READERS:
        for path in sorted(root.glob(name)) if "*" in name else [root / name]:
            if not _is_file(path):
                continue
            try:
                values = reader(path)
            except (
                OSError,
                ValueError,
                UnicodeDecodeError,
                configparser.Error,
                tomllib.TOMLDecodeError,
            ):
                unread.append(f"{path.name}: unreadable")
                continue
            for field, value in values:
                if isinstance(value, TextMatch):
                    return LicenseInfo(
                        normalize_expression(value.license_id),
                        f"{path.name} {field} ({value.method})",
                        value.confidence,
                    )
                expression = normalize_expression(value) or _by_name(value)
                if expression is not None:
                    return LicenseInfo(expression, f"{path.name} {field}", 1.0)
                unread.append(f"{path.name} {field} {value!r} is not an SPDX expression")
    return LicenseInfo(None, "; ".join(unread))


def _by_name(value: str) -> str | None:
    """An SPDX full name (``Apache License 2.0``, ``MIT License``) -> its id."""
    import spdx_lookup

    found = spdx_lookup.by_name(value) if isinstance(value, str) and value.strip() else None
    return normalize_expression(found.id) if found is not None else None


def _package_json(path: Path) -> list[tuple[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        return []
    license_ = data.get("license")
    if isinstance(license_, dict):
        license_ = license_.get("type")
    if isinstance(license_, str):
        return [("license", license_)]
    items = [x.get("type") if isinstance(x, dict) else x for x in data.get("licenses") or ()]
    items = [x for x in items if isinstance(x, str)]
    return [("licenses", " OR ".join(items))] if items else []


def _composer_json(path: Path) -> list[tuple[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    license_ = data.get("license") if isinstance(data, dict) else None
    if isinstance(license_, list):  # composer: a list means the package is under any of them
        license_ = " OR ".join(x for x in license_ if isinstance(x, str))
    return [("license", license_)] if isinstance(license_, str) and license_ else []


def _cargo_toml(path: Path) -> list[tuple[str, Any]]:
    package = tomllib.loads(path.read_text(encoding="utf-8")).get("package") or {}
    out: list[tuple[str, Any]] = []
    if isinstance(package.get("license"), str):
        out.append(("package.license", package["license"]))
    if isinstance(package.get("license-file"), str):
        found = match_file(path.parent / package["license-file"])
        if found is not None:
            out.append(("package.license-file", found))
    return out


def _pyproject_toml(path: Path) -> list[tuple[str, Any]]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out: list[tuple[str, Any]] = []
    license_ = (data.get("project") or {}).get("license")
    if isinstance(license_, str):
        out.append(("project.license", license_))
    elif isinstance(license_, dict):
        if isinstance(license_.get("text"), str):
            text = license_["text"]
            found = normalize_expression(text) or _by_name(text)
            out.append(("project.license.text", found if found else (match_text(text) or text)))
        if isinstance(license_.get("file"), str):
            found_file = match_file(path.parent / license_["file"])
            if found_file is not None:
                out.append(("project.license.file", found_file))
    poetry = ((data.get("tool") or {}).get("poetry") or {}).get("license")
    if isinstance(poetry, str):
        out.append(("tool.poetry.license", poetry))
    return out


def _setup_cfg(path: Path) -> list[tuple[str, Any]]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(path.read_text(encoding="utf-8"))
    value = parser.get("metadata", "license", fallback=None)
    return [("metadata.license", value.strip())] if value and value.strip() else []


def _gemspec(path: Path) -> list[tuple[str, Any]]:
    # A gemspec is Ruby code; the license assignment is read without running it.
    out = []
    for match in _GEMSPEC_LICENSE.finditer(path.read_text(encoding="utf-8", errors="replace")):
        value = match.group(1)
        items = (
            value[3:-1].split()
            if value.startswith("%w")
            else re.findall(r"[\"']([^\"']+)[\"']", value)
        )
        if items:
            out.append(("license", " OR ".join(items)))
    return out


def _pkg_info(path: Path) -> list[tuple[str, Any]]:
    message = email.parser.HeaderParser().parsestr(
        path.read_text(encoding="utf-8", errors="replace")
    )
    out = []
    if message.get("License-Expression"):
        out.append(("License-Expression", str(message["License-Expression"]).strip()))
    if message.get("License") and normalize_expression(str(message["License"])):
        out.append(("License", str(message["License"]).strip()))
    return out


_METADATA_READERS: tuple[tuple[str, Any], ...] = (
    ("package.json", _package_json),
    ("Cargo.toml", _cargo_toml),
    ("pyproject.toml", _pyproject_toml),
    ("setup.cfg", _setup_cfg),
    ("composer.json", _composer_json),
    ("*.gemspec", _gemspec),
    ("PKG-INFO", _pkg_info),
    ("METADATA", _pkg_info),
)


# --- command line ----------------------------------------------------------------------------


def _describe(path: Path) -> LicenseInfo:
    if path.is_dir():
        return identify_license(path)
    found = match_file(path)
    if found is None:
        return LicenseInfo(None, f"{path.name}: no SPDX license recognised")
    return LicenseInfo(
        normalize_expression(found.license_id), f"{path.name} ({found.method})", found.confidence
    )


def license_table(
    paths: Iterable[Path],
) -> tuple[list[tuple[str, LicenseInfo]], collections.Counter]:
    """(path, info) per path (directories: :func:`identify_license`; files: their text) and
    the number of paths per license (``unknown`` for None)."""
    rows = [(str(p), _describe(p)) for p in paths]
    totals = collections.Counter(info.expression or "unknown" for _, info in rows)
    return rows, totals


def format_table(rows: Sequence[tuple[str, LicenseInfo]], totals: collections.Counter) -> str:
    """Plain aligned text: one line per path, then the totals per license."""
    header = ("path", "license", "permissive", "confidence", "evidence")
    body = [
        (
            path,
            info.expression or "unknown",
            "yes" if is_permissive(info.expression) else "no",
            f"{info.confidence:.2f}",
            info.evidence,
        )
        for path, info in rows
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in [header, *body]
    ]
    summary = [("license", "paths", "permissive")]
    for expression, count in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])):
        permissive = (
            "yes" if is_permissive(None if expression == "unknown" else expression) else "no"
        )
        summary.append((expression, str(count), permissive))
    summary.append(("total", str(sum(totals.values())), ""))
    first = max(len(r[0]) for r in summary)
    lines.append("")
    lines.extend(
        f"{name.ljust(first)}  {count.rjust(5)}  {permissive}".rstrip()
        for name, count, permissive in summary
    )
    return "\n".join(lines)


def _expand(patterns: Iterable[str]) -> list[Path]:
    out: list[Path] = []
    for pattern in patterns:
        hits = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        out.extend(Path(h) for h in hits)
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the license table of repositories (directories) or license files."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.sources.licenses",
        description="License of each repository directory (or license file), as lower-case SPDX expressions.",
    )
    parser.add_argument("paths", nargs="+", help="directories or files; globs are expanded")
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per path instead of the table"
    )
    args = parser.parse_args(argv)
    paths = _expand(args.paths)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"error: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    if not paths:
        print("error: the patterns matched nothing", file=sys.stderr)
        return 2
    rows, totals = license_table(paths)
    if args.json:
        for path, info in rows:
            print(
                json.dumps(
                    {
                        "path": path,
                        **dataclasses.asdict(info),
                        "permissive": is_permissive(info.expression),
                    }
                )
            )
    else:
        print(format_table(rows, totals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
