"""The rule-based backend: py2many (Python -> C++, Go, Rust) for CPU-only runs.

py2many is a trusted local transpiler; each function is written to its own file and
transpiled by one ``py2many --cpp|--go|--rust --outdir DIR file.py`` subprocess (~0.2 s;
one file per call so one failure cannot take down others). Its output is then cut down
mechanically to what ``func2`` should be, the function(s) plus the imports they need:

* Rust: the ``//!`` cargo manifest comment, crate-level ``#![allow(...)]`` attributes and the
  ``anyhow`` crate (which cannot be fetched offline) are removed; ``anyhow::Result<T>`` becomes
  ``Result<T, Box<dyn std::error::Error>>`` through a local type alias when still used.
* Go: the ``package main`` clause and any generated ``main`` are removed, and imports no
  longer used are dropped (Go refuses unused imports).
* C++: a generated ``main`` is removed and standard headers the code uses but py2many did not
  include (``<vector>`` for ``std::vector`` is a common one) are added.

py2many renames Go functions to exported CamelCase (``add_all`` -> ``AddAll``); that is kept,
as it is Go's convention for a public function. Failures are rejected with a reason:
``unsupported_source_language`` (not Python), ``unsupported_target_language``,
``translator_error`` (py2many reported an error, e.g. "Advanced Slicing not supported";
its message is the detail) and ``empty_output``.
"""

from __future__ import annotations

import concurrent.futures
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from pipeline.translate.base import (
    Reason,
    TranslateConfig,
    TranslationFailure,
    TranslationRequest,
    Translator,
)
from schemas import Translation

#: py2many's flag and output file extension per target language.
TARGETS: dict[str, tuple[str, str]] = {
    "cpp": ("--cpp", ".cpp"),
    "go": ("--go", ".go"),
    "rust": ("--rust", ".rs"),
}

# "file.py:5:11: py2many.exceptions.AstNotImplementedError: Advanced Slicing not supported"
_ERROR_LINE = re.compile(r"^\S+\.py:\d+:\d+: \S*(Error|Exception)\S*: .*$", re.MULTILINE)
_TRACEBACK = re.compile(r"^(\w+\.)*\w*(Error|Exception): .*$", re.MULTILINE)


def py2many_executable() -> str:
    """The py2many console script next to this interpreter, else the one on PATH."""
    local = Path(sys.executable).parent / "py2many"
    if local.exists():
        return str(local)
    found = shutil.which("py2many")
    if not found:
        raise RuntimeError("py2many is not installed (pip install py2many==0.9)")
    return found


def py2many_version() -> str:
    try:
        return importlib.metadata.version("py2many")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class Py2ManyTranslator(Translator):
    """Transpile Python functions with py2many; see the module docstring."""

    def __init__(
        self, config: TranslateConfig | None = None, max_workers: int | None = None
    ) -> None:
        self._timeout_s = config.py2many_timeout_s if config else 60.0
        self._exe = py2many_executable()
        self.name = f"py2many:{py2many_version()}"
        self._workers = max_workers or max(1, min(4, os.cpu_count() or 1))
        self._requests = 0
        self._latency_ms = 0.0

    def supports(self, source_language: str, target_language: str) -> bool:
        return source_language.lower() == "python" and target_language in TARGETS

    def translate(
        self, requests: list[TranslationRequest]
    ) -> list[Translation | TranslationFailure]:
        with concurrent.futures.ThreadPoolExecutor(self._workers) as pool:
            return list(pool.map(self._one, requests))

    def stats(self) -> dict[str, float]:
        return {"requests": self._requests, "latency_ms": self._latency_ms}

    def _fail(
        self, request: TranslationRequest, reason: str, detail: str, raw: str | None = None
    ) -> TranslationFailure:
        return TranslationFailure(request, reason, detail, raw, self.name, "none", "{}")

    def _one(self, request: TranslationRequest) -> Translation | TranslationFailure:
        source = request.pair.language.lower()
        if source != "python":
            return self._fail(
                request,
                Reason.UNSUPPORTED_SOURCE_LANGUAGE,
                f"py2many translates only Python, not {source}",
            )
        if request.target_language not in TARGETS:
            return self._fail(
                request,
                Reason.UNSUPPORTED_TARGET_LANGUAGE,
                f"py2many targets are {', '.join(TARGETS)}, not {request.target_language}",
            )
        flag, ext = TARGETS[request.target_language]
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="py2many-") as tmp:
            src = Path(tmp) / "func.py"
            src.write_text(textwrap.dedent(request.pair.code), encoding="utf-8")
            outdir = Path(tmp) / "out"
            try:
                proc = subprocess.run(
                    [self._exe, flag, "--outdir", str(outdir), str(src)],
                    capture_output=True,
                    text=True,
                    timeout=self._timeout_s,
                    cwd=tmp,
                    env={**os.environ, "PYTHONHASHSEED": "0"},
                )
            except subprocess.TimeoutExpired:
                return self._fail(
                    request, Reason.TRANSLATOR_ERROR, f"py2many ran over {self._timeout_s:.0f} s"
                )
            log = (proc.stdout + proc.stderr).replace(tmp + "/", "")
            out = outdir / f"func{ext}"
            raw = out.read_text(encoding="utf-8", errors="replace") if out.exists() else ""
        elapsed = time.monotonic() - started
        self._requests += 1
        self._latency_ms += elapsed * 1000
        error = _ERROR_LINE.search(log) or (
            _TRACEBACK.search(log) if proc.returncode and not raw.strip() else None
        )
        if error:
            return self._fail(
                request, Reason.TRANSLATOR_ERROR, error.group(0).strip()[:500], raw or None
            )
        code = postprocess(request.target_language, raw) if raw.strip() else ""
        if not code.strip():
            detail = (log.strip().splitlines() or ["py2many wrote nothing"])[-1][:500]
            return self._fail(request, Reason.EMPTY_OUTPUT, detail, raw or None)
        return Translation(
            pair_id=request.pair.pair_id,
            target_language=request.target_language,
            code=code,
            translator=self.name,
            prompt_version="none",
            sampling="{}",
            attempt=request.attempt,
            latency_s=round(elapsed, 4),
            raw_reply=raw,
        )


# ---------------------------------------------------------------- post-processing


def _parse(language: str, code: str):
    from tree_sitter_language_pack import get_parser

    return get_parser(language).parse(code.encode("utf-8"))


def _remove_spans(code: str, spans: list[tuple[int, int]]) -> str:
    data = code.encode("utf-8")
    for start, end in sorted(spans, reverse=True):
        data = data[:start] + data[end:]
    return data.decode("utf-8")


def _tidy(code: str) -> str:
    """Drop blank edge lines and trailing spaces; at most one empty line in a row."""
    code = "\n".join(line.rstrip() for line in code.splitlines())
    code = re.sub(r"\n{3,}", "\n\n", code)
    return code.strip("\n") + "\n" if code.strip() else ""


def _top_level_main(tree, function_types: tuple[str, ...]) -> list[tuple[int, int]]:
    spans = []
    for node in tree.root_node.children:
        if node.type not in function_types:
            continue
        name = node.child_by_field_name("name")
        if name is None and node.type == "function_definition":  # C/C++: the declarator holds it
            declarator = node.child_by_field_name("declarator")
            while (
                declarator is not None and declarator.child_by_field_name("declarator") is not None
            ):
                declarator = declarator.child_by_field_name("declarator")
            name = declarator
        if name is not None and name.text == b"main":
            spans.append((node.start_byte, node.end_byte))
    return spans


def postprocess_rust(code: str) -> str:
    uses_anyhow = "anyhow" in code
    lines = [
        line
        for line in code.splitlines()
        if not line.lstrip().startswith(("//!", "#![", "extern crate anyhow", "use anyhow"))
    ]
    code = "\n".join(lines)
    code = _remove_spans(code, _top_level_main(_parse("rust", code), ("function_item",)))
    code = code.replace("anyhow::Result", "Result")
    if uses_anyhow and re.search(r"\bResult<[^,<>]*(<[^<>]*>)?[^,<>]*>", code):
        code = "type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;\n\n" + code
    return _tidy(code)


def postprocess_go(code: str) -> str:
    tree = _parse("go", code)
    spans = [
        (n.start_byte, n.end_byte) for n in tree.root_node.children if n.type == "package_clause"
    ]
    spans += _top_level_main(tree, ("function_declaration",))
    code = _remove_spans(code, spans)
    # Drop imports the remaining code no longer uses (go build rejects unused imports).
    tree = _parse("go", code)
    import_spans: list[tuple[int, int]] = []
    body = _remove_spans(
        code,
        [
            (n.start_byte, n.end_byte)
            for n in tree.root_node.children
            if n.type == "import_declaration"
        ],
    )
    for decl in (n for n in tree.root_node.children if n.type == "import_declaration"):
        specs = [s for s in _descendants(decl) if s.type == "import_spec"]
        unused = []
        for spec in specs:
            path = spec.child_by_field_name("path")
            alias = spec.child_by_field_name("name")
            pkg = (
                alias.text if alias is not None else path.text.strip(b'"').split(b"/")[-1]
            ).decode()
            if pkg not in ("_", ".") and not re.search(rf"\b{re.escape(pkg)}\.", body):
                unused.append(spec)
        if unused and len(unused) == len(specs):
            import_spans.append((decl.start_byte, decl.end_byte))
        else:
            import_spans += [(s.start_byte, s.end_byte) for s in unused]
    return _tidy(_remove_spans(code, import_spans))


#: Standard headers for names py2many's C++ uses without always including them.
_CPP_HEADERS: tuple[tuple[str, str], ...] = (
    ("std::vector", "vector"),
    ("std::string", "string"),
    ("std::map", "map"),
    ("std::unordered_map", "unordered_map"),
    ("std::set", "set"),
    ("std::unordered_set", "unordered_set"),
    ("std::tuple", "tuple"),
    ("std::optional", "optional"),
    ("std::max", "algorithm"),
    ("std::min", "algorithm"),
    ("std::sort", "algorithm"),
    ("std::cout", "iostream"),
    ("std::pow", "cmath"),
    ("std::sqrt", "cmath"),
    ("std::abs", "cstdlib"),
)


def postprocess_cpp(code: str) -> str:
    code = _remove_spans(code, _top_level_main(_parse("cpp", code), ("function_definition",)))
    included = set(re.findall(r"#include\s*<([^>]+)>", code))
    missing = sorted(
        {
            h
            for name, h in _CPP_HEADERS
            if re.search(rf"{re.escape(name)}\b", code) and h not in included
        }
    )
    if missing:
        code = "".join(f"#include <{h}>\n" for h in missing) + code
    return _tidy(code)


def _descendants(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


_POSTPROCESS = {"rust": postprocess_rust, "go": postprocess_go, "cpp": postprocess_cpp}


def postprocess(target_language: str, code: str) -> str:
    """Cut py2many's file for ``target_language`` down to the function(s) and their imports."""
    return _POSTPROCESS[target_language](code)
