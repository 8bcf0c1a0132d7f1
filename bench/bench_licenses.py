"""License detection: accuracy on the real license files of this machine, and time per text.

Corpus (what a repository's LICENSE looks like in practice):

* ``/usr/share/common-licenses/*``: Debian's copies (expected = the file name's license);
* the Python standard library's ``LICENSE.txt`` (expected ``python-2.0``);
* license files of the installed Python packages (``*.dist-info/`` and ``*.dist-info/licenses/``,
  not deeper): expected = the package's ``License-Expression`` (or a ``License`` field that is
  an SPDX id or name); a detection is right when it is one of that expression's licenses;
* license files of the npm packages under ``/usr/lib/node_modules`` (expected = the
  ``license`` of the ``package.json`` beside it).

Files whose package declares nothing usable are listed but not scored. ``--accuracy`` prints
one row per file (file | expected | detected | method | confidence | ok); with ``--baseline``
spdx-lookup's own ``match`` is scored on the same files (about half a second per file).

Timing rows (``>1 = faster``): baseline = ``spdx_lookup.match(text)`` (the library's plain
call, which re-reads and re-tokenises every SPDX template each time), candidate =
``pipeline.sources.licenses.match_text(text)`` (bigram index built once per process), median
of ``--repeats`` after a warm-up, milliseconds per text; then ``identify_license`` per
repository directory over the whole corpus (its directories), candidate only.

    .venv/bin/python bench/bench_licenses.py [--accuracy] [--baseline] [--repeats 5]
"""

from __future__ import annotations

import argparse
import email.parser
import glob
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline.sources.licenses import (  # noqa: E402
    _by_name,
    _index,
    _newer_index,
    identify_license,
    license_keys,
    match_file,
    match_text,
    normalize_expression,
)

COMMON = {
    "Apache-2.0": "apache-2.0",
    "Artistic": "artistic-1.0-perl",
    "BSD": "bsd-3-clause",
    "CC0-1.0": "cc0-1.0",
    "GFDL-1.2": "gfdl-1.2",
    "GFDL-1.3": "gfdl-1.3",
    "GPL-1": "gpl-1.0",
    "GPL-2": "gpl-2.0",
    "GPL-3": "gpl-3.0",
    "LGPL-2": "lgpl-2.0",
    "LGPL-2.1": "lgpl-2.1",
    "LGPL-3": "lgpl-3.0",
    "MPL-1.1": "mpl-1.1",
    "MPL-2.0": "mpl-2.0",
}
_NAMES = ("licen", "copying", "unlicen")


def corpus() -> list[tuple[str, str | None]]:
    """(path, expected expression or None) for every license file of the corpus."""
    out: list[tuple[str, str | None]] = []
    for name, expected in COMMON.items():
        path = Path("/usr/share/common-licenses") / name
        if path.is_file():
            out.append((str(path), expected))
    stdlib = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
    if stdlib.is_file():
        out.append((str(stdlib), "python-2.0"))
    site = Path(sysconfig.get_paths()["purelib"])
    for dist in sorted(site.glob("*.dist-info")):
        expected = _declared(dist / "METADATA")
        for path in sorted([*dist.glob("*"), *dist.glob("licenses/*")]):
            if path.is_file() and path.name.lower().startswith(_NAMES):
                out.append((str(path), expected))
    for pkg_json in sorted(glob.glob("/usr/lib/node_modules/**/package.json", recursive=True)):
        root = Path(pkg_json).parent
        if "test" in root.parts or "fixtures" in root.parts:
            continue
        try:
            declared = json.loads(Path(pkg_json).read_text(encoding="utf-8")).get("license")
        except (OSError, ValueError):
            continue
        files = [
            p for p in sorted(root.iterdir()) if p.is_file() and p.name.lower().startswith(_NAMES)
        ]
        expected = normalize_expression(declared) if isinstance(declared, str) else None
        out.extend((str(p), expected) for p in files)
    return out


def _declared(metadata: Path) -> str | None:
    try:
        message = email.parser.HeaderParser().parsestr(
            metadata.read_text(encoding="utf-8", errors="replace")
        )
    except OSError:
        return None
    if message.get("License-Expression"):
        return normalize_expression(str(message["License-Expression"]))
    field = str(message.get("License") or "").strip().splitlines()
    return (normalize_expression(field[0]) or _by_name(field[0])) if field else None


def is_right(expected: str | None, detected: str | None) -> bool | None:
    if expected is None:
        return None
    return detected is not None and detected in license_keys(expected)


def spdx_lookup_detect(path: str) -> str | None:
    import spdx_lookup

    found = spdx_lookup.match(Path(path).read_text(encoding="utf-8", errors="replace"))
    return normalize_expression(found.license.id) if found is not None else None


def accuracy(files: list[tuple[str, str | None]], baseline: bool) -> None:
    print(
        "\n## accuracy: file | expected | detected | method | confidence | ok"
        + (" | spdx-lookup | ok" if baseline else "")
    )
    tally = {"ours": [0, 0, 0], "spdx-lookup": [0, 0, 0]}  # right, wrong, none
    short = Path(sysconfig.get_paths()["purelib"])
    for path, expected in files:
        found = match_file(Path(path))
        detected = normalize_expression(found.license_id) if found else None
        ok = is_right(expected, detected)
        cells = [
            str(Path(path).relative_to(short)) if path.startswith(str(short)) else path,
            expected or "(not declared)",
            detected or "-",
            found.method if found else "-",
            f"{found.confidence:.2f}" if found else "-",
            {True: "yes", False: "NO", None: "n/a"}[ok],
        ]
        _count(tally["ours"], ok, detected)
        if baseline:
            theirs = spdx_lookup_detect(path)
            theirs_ok = is_right(expected, theirs)
            _count(tally["spdx-lookup"], theirs_ok, theirs)
            cells += [theirs or "-", {True: "yes", False: "NO", None: "n/a"}[theirs_ok]]
        print(" | ".join(cells))
    scored = sum(e is not None for _, e in files)
    print(f"\nscored files: {scored} of {len(files)} (the rest declare no usable license)")
    for who, (right, wrong, none) in tally.items():
        if who == "ours" or baseline:
            print(
                f"{who}: right {right}, wrong {wrong}, no answer {none}  ({100 * right / max(scored, 1):.1f}% right)"
            )


def _count(cell: list[int], ok: bool | None, detected: str | None) -> None:
    if ok is None:
        return
    cell[0 if ok else (1 if detected else 2)] += 1


def timed(fn, repeats: int) -> float:
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def timing(files: list[tuple[str, str | None]], repeats: int) -> None:
    _index.cache_clear()
    _newer_index.cache_clear()
    start = time.perf_counter()
    _index()
    _newer_index()
    build = time.perf_counter() - start
    print(f"\nindex build, both indexes (once per process): {1000 * build:.0f} ms")
    print("\n## time per text, ms (>1 = faster)")
    print("case | baseline spdx_lookup.match | candidate match_text | ratio | n")
    samples = {
        "MIT (urllib3)": _find(files, "urllib3"),
        "BSD-3-Clause (Debian BSD)": "/usr/share/common-licenses/BSD",
        "Apache-2.0 (Debian)": "/usr/share/common-licenses/Apache-2.0",
        "GPL-3.0 (Debian)": "/usr/share/common-licenses/GPL-3",
    }
    for case, path in samples.items():
        if not path or not Path(path).is_file():
            continue
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        import spdx_lookup

        base = timed(lambda text=text: spdx_lookup.match(text), repeats)
        cand = timed(lambda text=text: match_text(text), repeats)
        print(
            f"{case} ({len(text):,} chars) | {1000 * base:.2f} | {1000 * cand:.3f} | {base / cand:.0f} | {repeats}"
        )
    roots = sorted({str(Path(p).parent) for p, _ in files})
    per_repo = timed(
        lambda: [identify_license(Path(r)) for r in roots], max(1, repeats // 2)
    ) / len(roots)
    print(
        f"identify_license per directory ({len(roots)} directories of the corpus) | - | {1000 * per_repo:.3f} | - | "
        f"{max(1, repeats // 2)}"
    )


def _find(files: list[tuple[str, str | None]], word: str) -> str | None:
    return next((p for p, _ in files if word in p), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accuracy", action="store_true", help="print the per-file accuracy table")
    parser.add_argument(
        "--baseline", action="store_true", help="also score spdx-lookup's match (slow)"
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        raise ValueError("--repeats must be >= 1")
    versions = {
        name: importlib.metadata.version(name)
        for name in ("spdx", "spdx-lookup", "license-expression", "numpy")
    }
    print(
        f"# license detection; device: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; " + ", ".join(f"{k} {v}" for k, v in versions.items())
    )
    files = corpus()
    if args.accuracy or args.baseline:
        accuracy(files, args.baseline)
    timing(files, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
