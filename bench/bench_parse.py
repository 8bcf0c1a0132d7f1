"""Parse-check throughput: functions per second on one core (docs/design.md, "Budgets": >= 5,000/s).

Corpus: real functions found on this machine, cut out of source files:
python from the venv's site-packages (``ast``), go from the Go toolchain's standard library,
java from the JDK's ``src.zip``, javascript from node's bundled npm modules, c from C files
under the Python installs, cpp from libstdc++'s headers, ruby from the Ruby standard library,
php from PHP files shipped with installed tools, and rust from py2many's Rust translations of
the Python functions (no Rust sources ship here). Functions are cut with tree-sitter (or
``ast`` for Python), so the corpus is what the pipeline sees: function-level snippets.

Rows (``>1 = faster``):
* ``<lang>: per-call parser`` baseline builds a tree-sitter parser for every function (what
  a stage without ``DoFn.setup()`` would do), candidate is ``ParseChecker.check``.
* ``python: ast.parse`` baseline is CPython's own parser (``ast.parse``), candidate the same.
Median of ``--repeats`` timed passes after one warm-up pass, pinned to one CPU; rates are
per CPU-second of this single-threaded process (the per-core cost; the machine is shared, so
wall-clock rates are lower and printed in the last column for the candidate).

    .venv/bin/python bench/bench_parse.py [--per_language 1500] [--repeats 5]
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import importlib.metadata
import os
import platform
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from tree_sitter import Parser
from tree_sitter_language_pack import get_language, get_parser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline.parse_check import GRAMMARS, ParseChecker  # noqa: E402

MAX_CHARS = 4000  # skip giant functions, as CSN-style corpora do
MIN_LINES = 3

# Function node types per language (tree-sitter grammar names).
FUNCTION_NODES = {
    "go": ("function_declaration", "method_declaration"),
    "java": ("method_declaration", "constructor_declaration"),
    "javascript": ("function_declaration", "method_definition"),
    "c": ("function_definition",),
    "cpp": ("function_definition",),
    "ruby": ("method",),
    "php": ("function_definition", "method_declaration"),
}


def _files(roots: list[Path], suffixes: tuple[str, ...], limit: int) -> Iterator[Path]:
    n = 0
    for root in roots:
        if not root.exists():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix in suffixes and path.is_file():
                yield path
                n += 1
                if n >= limit:
                    return


def _cut(language: str, sources: Iterator[bytes], want: int) -> list[str]:
    parser = get_parser(GRAMMARS[language])
    types = FUNCTION_NODES[language]
    out: list[str] = []
    for data in sources:
        if language == "php" and not data.lstrip().startswith(b"<?"):
            continue
        stack = [parser.parse(data).root_node]
        while stack:
            node = stack.pop()
            if node.type in types:
                text = data[node.start_byte : node.end_byte].decode("utf-8", "replace")
                if MIN_LINES <= text.count("\n") + 1 and len(text) <= MAX_CHARS:
                    out.append(text)
                    if len(out) >= want:
                        return out
                continue
            stack.extend(reversed(node.children))
    return out


def _read(paths: Iterator[Path]) -> Iterator[bytes]:
    for p in paths:
        try:
            yield p.read_bytes()
        except OSError:
            continue


def python_functions(want: int) -> list[str]:
    site = (
        Path(sys.prefix)
        / "lib"
        / f"python{sys.version_info.major}.{sys.version_info.minor}"
        / "site-packages"
    )
    out: list[str] = []
    for path in _files(
        [site / "apache_beam", site / "transformers", site / "pyarrow", site / "numpy", site],
        (".py",),
        5000,
    ):
        try:
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.col_offset == 0:
                seg = ast.get_source_segment(text, node)
                if seg and seg.count("\n") + 1 >= MIN_LINES and len(seg) <= MAX_CHARS:
                    out.append(seg + "\n")
                    if len(out) >= want:
                        return out
    return out


def java_functions(want: int) -> list[str]:
    zips = sorted(Path("/usr/lib/jvm").glob("*/lib/src.zip"))
    if not zips:
        return []

    def sources() -> Iterator[bytes]:
        with zipfile.ZipFile(zips[0]) as z:
            for name in sorted(z.namelist()):
                if name.startswith("java.base/java/util/") and name.endswith(".java"):
                    yield z.read(name)

    return _cut("java", sources(), want)


def rust_functions(python: list[str], want: int) -> list[str]:
    """py2many's Rust for real Python functions (the pipeline's own Rust output)."""
    from pipeline.translate.py2many import postprocess, py2many_executable

    exe = py2many_executable()

    def one(code: str) -> str | None:
        import subprocess

        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "f.py").write_text(code)
            subprocess.run(
                [exe, "--rust", "--outdir", f"{tmp}/o", f"{tmp}/f.py"],
                capture_output=True,
                timeout=60,
            )
            out = Path(tmp) / "o" / "f.rs"
            if not out.exists() or not out.read_text().strip():
                return None
            try:
                return postprocess("rust", out.read_text())
            except Exception:
                return None

    typed = [c for c in python if "->" in c.split("\n", 1)[0]][: max(want, 300)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        got = [r for r in pool.map(one, typed) if r and r.strip()]
    return got[:want]


def corpus(per_language: int) -> dict[str, list[str]]:
    py = python_functions(per_language)
    go_root = (
        Path("/usr/lib/go-1.19/src")
        if Path("/usr/lib/go-1.19/src").exists()
        else Path("/usr/share/go-1.19/src")
    )
    pyenv = Path.home() / ".pyenv"
    c_roots = [
        pyenv / "versions",
        pyenv / "src",
        Path("/usr/share/go-1.19/misc"),
        go_root / "runtime",
    ]
    return {
        "python": py,
        "go": _cut("go", _read(_files([go_root], (".go",), 3000)), per_language),
        "java": java_functions(per_language),
        "javascript": _cut(
            "javascript",
            _read(_files([Path("/usr/lib/node_modules")], (".js",), 3000)),
            per_language,
        ),
        "c": _cut("c", _read(_files(c_roots, (".c",), 2000)), per_language),
        "cpp": _cut(
            "cpp",
            _read(_files([Path("/usr/include/c++/12")], ("", ".h", ".tcc"), 3000)),
            per_language,
        ),
        "ruby": _cut(
            "ruby",
            _read(
                _files(
                    [Path("/usr/lib/ruby"), Path("/usr/share/rubygems-integration")], (".rb",), 3000
                )
            ),
            per_language,
        ),
        "php": _cut(
            "php",
            _read(
                _files([Path("/usr/lib/google-cloud-sdk"), Path("/usr/share/php")], (".php",), 3000)
            ),
            per_language,
        ),
        "rust": rust_functions(py, min(per_language, 200)),
    }


class _PerCallParserChecker(ParseChecker):
    """The baseline: the same check, but a new tree-sitter parser built for every function."""

    def _parser_for(self, language: str) -> Parser:
        return Parser(get_language(GRAMMARS[language]))


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median (CPU seconds, wall seconds) of ``repeats`` runs after a warm-up.

    CPU time of this single-threaded process is the per-core cost; wall time on a machine
    shared with other jobs is inflated by waiting for the core, so it is reported alongside.
    """
    fn()  # warm-up
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per_language", type=int, default=1500)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    funcs = corpus(args.per_language)
    checker = ParseChecker()
    print(
        "parse check throughput, functions per CPU-second on one core; ratio = candidate/baseline (>1 = faster)"
    )
    print(
        f"device: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible (shared), pinned to 1; "
        f"python {platform.python_version()}, tree-sitter {importlib.metadata.version('tree-sitter')}, "
        f"tree-sitter-language-pack {importlib.metadata.version('tree-sitter-language-pack')}"
    )
    print(
        f"{'case':<30} | {'baseline':>9} | {'candidate':>9} | {'ratio':>6} | {'n':>5} | parse_ok | cand wall/s"
    )
    total_n, total_cpu = 0, 0.0
    for lang, codes in funcs.items():
        if not codes:
            print(f"{lang + ': no corpus found':<30} | {'-':>9} | {'-':>9} | {'-':>6} | {0:>5} |")
            continue
        naive_checker = _PerCallParserChecker()

        def ours(codes=codes, lang=lang) -> int:
            return sum(checker.check(lang, c)[0] for c in codes)

        def naive(codes=codes, lang=lang, naive_checker=naive_checker) -> int:
            return sum(naive_checker.check(lang, c)[0] for c in codes)

        cand, cand_wall = timed(ours, args.repeats)
        base, _ = timed(naive, args.repeats)
        ok = ours()
        n = len(codes)
        total_n += n
        total_cpu += cand
        print(
            f"{lang + ': per-call parser':<30} | {n / base:>9,.0f} | {n / cand:>9,.0f} | {base / cand:>6.2f} | {n:>5} | "
            f"{ok / n:>8.0%} | {n / cand_wall:>11,.0f}"
        )
        if lang == "python":
            base_ast, _ = timed(lambda codes=codes: [ast.parse(c) for c in codes], args.repeats)
            print(
                f"{'python: ast.parse':<30} | {n / base_ast:>9,.0f} | {n / cand:>9,.0f} | {base_ast / cand:>6.2f} | {n:>5} |"
            )
    print(
        f"{'all languages (candidate)':<30} | {'':>9} | {total_n / total_cpu:>9,.0f} | {'':>6} | {total_n:>5} | "
        f"budget >= 5,000 functions/s per core"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
