"""Function extraction throughput and yield on real source trees (the ``repo:`` source's core).

Runs ``pipeline.sources.functions.extract_functions`` + ``filter_reason`` over whole files,
as the ``repo:`` source does, for every language that has a real tree on this machine:

* python: the CPython standard library of the interpreter running this script (top level,
  no ``test``/``idlelib`` packages): the baseline every other language is compared with;
* c: ``.c`` files under ``/usr/share`` and the pyenv installs, plus the kernel UAPI headers
  (``/usr/include/linux``);
* cpp: libstdc++'s headers (``/usr/include/c++/<version>``, extensionless ones included);
* rust: the Rust standard library (``alloc``, ``core``, ``std``): the rust-src component when
  installed, else the toolchain's rustdoc source pages (``share/doc/rust/html/src``) with the
  markup removed.

Rows (``>1 = faster``): ``<lang>: functions/s`` baseline = python's rate, candidate = that
language's rate, both functions per CPU-second on one pinned core (parse included), median of
``--repeats`` passes after a warm-up. Then one table of yield: files, functions found, kept by
the CodeSearchNet filters, and the count per filter reason.

    .venv/bin/python bench/bench_extract.py [--repeats 3] [--max_files 1000]
"""

from __future__ import annotations

import argparse
import collections
import html
import importlib.metadata
import os
import platform
import re
import statistics
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline.sources.functions import extract_functions, filter_reason  # noqa: E402


def python_tree(limit: int) -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "idlelib", "site-packages", "lib2to3", "turtledemo"}
    paths = [p for p in sorted(stdlib.rglob("*.py")) if not skip & set(p.relative_to(stdlib).parts)]
    return _read(paths[:limit])


def c_tree(limit: int) -> list[str]:
    paths = sorted(Path("/usr/include/linux").glob("*.h"))
    for root in (Path("/usr/share"), Path.home() / ".pyenv"):
        if root.is_dir():
            paths += sorted(root.rglob("*.c"))
    return _read(paths[:limit])


def cpp_tree(limit: int) -> list[str]:
    roots = sorted(Path("/usr/include/c++").glob("[0-9]*"))
    paths = sorted(p for p in roots[-1].rglob("*") if p.is_file()) if roots else []
    return _read(paths[:limit])


def rust_tree(limit: int) -> list[str]:
    try:
        sysroot = subprocess.run(
            [str(Path.home() / ".cargo/bin/rustc"), "--print", "sysroot"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return []
    if not sysroot:
        return []
    library = Path(sysroot) / "lib/rustlib/src/rust/library"
    if library.is_dir():
        paths = [
            p
            for crate in ("alloc", "core", "std")
            for p in sorted((library / crate / "src").rglob("*.rs"))
        ]
        return _read(paths[:limit])
    pages = Path(sysroot) / "share/doc/rust/html/src"
    out = []
    for page in [
        p for crate in ("alloc", "core", "std") for p in sorted((pages / crate).rglob("*.rs.html"))
    ][:limit]:
        match = re.search(
            r'<pre class="rust"><code>(.*?)</code></pre>', page.read_text(encoding="utf-8"), re.S
        )
        if match:
            code = re.sub(r"<a href=#\d+ id=\d+ data-nosnippet>\d+</a>", "", match.group(1))
            out.append(html.unescape(re.sub(r"<[^>]+>", "", code)))
    return out


def _read(paths: list[Path]) -> list[str]:
    out = []
    for path in paths:
        try:
            out.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue  # the repo: source rejects these too
    return out


def extract_all(language: str, texts: list[str]) -> collections.Counter:
    """Filter reasons (None = kept) of every function of ``texts``."""
    reasons: collections.Counter = collections.Counter()
    for text in texts:
        for fn in extract_functions(language, text):
            reasons[filter_reason(language, fn)] += 1
    return reasons


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median CPU seconds of ``repeats`` runs after a warm-up (the per-core cost)."""
    fn()
    runs = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        runs.append(time.process_time() - start)
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max_files", type=int, default=1000, help="files per language at most")
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.max_files < 1:
        raise ValueError("--repeats and --max_files must be at least 1")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    trees = {"python": python_tree, "c": c_tree, "cpp": cpp_tree, "rust": rust_tree}
    corpora = {lang: load(args.max_files) for lang, load in trees.items()}
    results = {}
    for lang, texts in corpora.items():
        if texts:
            reasons = extract_all(lang, texts)
            seconds = timed(lambda lang=lang, texts=texts: extract_all(lang, texts), args.repeats)
            results[lang] = (reasons, seconds)

    print(
        "function extraction (extract_functions + filter_reason over whole files), functions per CPU-second "
        "on one core; baseline = python on its standard library, ratio = candidate/baseline (>1 = faster)"
    )
    print(
        f"device: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible (shared), pinned "
        f"to 1; python {platform.python_version()}, tree-sitter {importlib.metadata.version('tree-sitter')}, "
        f"tree-sitter-language-pack {importlib.metadata.version('tree-sitter-language-pack')}; "
        f"median of {args.repeats} after a warm-up"
    )
    base = None
    if "python" in results:
        reasons, seconds = results["python"]
        base = sum(reasons.values()) / seconds
    print(
        f"{'case':<22} | {'baseline':>9} | {'candidate':>9} | {'ratio':>6} | {'n':>6} | {'files':>5} | {'MB/s':>5}"
    )
    for lang, (reasons, seconds) in results.items():
        n = sum(reasons.values())
        rate = n / seconds
        mb = sum(len(t.encode("utf-8", "surrogatepass")) for t in corpora[lang]) / 1e6
        b = f"{base:>9,.0f}" if base else f"{'-':>9}"
        ratio = f"{rate / base:>6.2f}" if base else f"{'-':>6}"
        print(
            f"{lang + ': functions/s':<22} | {b} | {rate:>9,.0f} | {ratio} | {n:>6} | {len(corpora[lang]):>5} | "
            f"{mb / seconds:>5.2f}"
        )
    for lang in trees:
        if lang not in results:
            print(
                f"{lang + ': no tree found':<22} | {'-':>9} | {'-':>9} | {'-':>6} | {0:>6} | {0:>5} | {'-':>5}"
            )

    print()
    names = sorted({r for reasons, _ in results.values() for r in reasons if r is not None})
    print(f"{'language':<8} | {'files':>5} | {'functions':>9} | {'kept':>6} | " + " | ".join(names))
    for lang, (reasons, _) in results.items():
        print(
            f"{lang:<8} | {len(corpora[lang]):>5} | {sum(reasons.values()):>9} | {reasons[None]:>6} | "
            + " | ".join(f"{reasons[r]:>{len(r)}}" for r in names)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
