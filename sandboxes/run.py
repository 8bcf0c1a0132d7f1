"""Run programs in a sandbox and print one JSON object per program.

    python -m sandboxes.run FILE [FILE ...] [--language=LANG ...] [--stdin=FILE ...]
                            [--timeout=S] [--memory_mb=M] [--backend=auto|docker|bwrap]

Several FILEs run as one warm batch (``Sandbox.run_batch``: one sandbox per language, each
program isolated from the others as in production), so a batch can be inspected from the
shell. ``--language`` and ``--stdin`` are given once (for every FILE) or once per FILE, in
order; without ``--language`` each FILE's language comes from its extension.

Prints one line per FILE, in order: ``{"file", "status", "exit_code", "stdout", "stderr",
"wall_s", "phase", "backend"}`` (stdout and stderr truncated to ``--max_chars``). Exit status:
0 when the programs ran (whatever their verdicts), 2 for bad arguments, 3 when no sandbox
backend can run here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sandboxes.languages import LANGUAGES, resolve_language
from sandboxes.program import Program
from sandboxes.sandbox import BACKENDS, SandboxUnavailable, open_sandbox

_BY_EXTENSION = {lang.extension: name for name, lang in LANGUAGES.items()}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandboxes.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "files",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="a program's main source file; several run as one batch",
    )
    parser.add_argument(
        "--language",
        action="append",
        default=[],
        help=f"one of {', '.join(LANGUAGES)} (or an alias); once for every "
        "FILE or once per FILE (default: from each FILE's extension)",
    )
    parser.add_argument(
        "--stdin",
        type=Path,
        action="append",
        default=[],
        help="file fed to the program's stdin; once for every FILE or once per FILE",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="run wall-clock limit in seconds (scaled by the language's factor)",
    )
    parser.add_argument("--memory_mb", type=int, default=None, help="memory limit in MiB")
    parser.add_argument("--backend", choices=BACKENDS, default="auto")
    parser.add_argument(
        "--max_chars",
        type=int,
        default=4000,
        help="keep at most this many characters of stdout and of stderr",
    )
    return parser


def _truncate(text: str, limit: int) -> str:
    return (
        text if len(text) <= limit else text[:limit] + f"\n...[{len(text) - limit} chars truncated]"
    )


def _per_file(values: list, count: int, flag: str) -> list:
    """``values`` spread over ``count`` files: none, one for all, or exactly one per file."""
    if len(values) in (0, 1):
        return values * count if values else [None] * count
    if len(values) != count:
        raise ValueError(
            f"{flag} given {len(values)} times for {count} files: give it once or once per file"
        )
    return values


def _language_of(path: Path, name: str | None) -> str:
    if name is not None:
        return resolve_language(name).name
    if path.suffix not in _BY_EXTENSION:
        raise ValueError(
            f"cannot tell the language of {path} from its extension; "
            f"pass --language (extensions: {', '.join(sorted(_BY_EXTENSION))})"
        )
    return _BY_EXTENSION[path.suffix]


def programs_from_args(args: argparse.Namespace) -> list[Program]:
    """One :class:`Program` per FILE; ValueError or OSError for unusable arguments."""
    count = len(args.files)
    languages = _per_file(args.language, count, "--language")
    stdins = _per_file(args.stdin, count, "--stdin")
    programs = []
    for path, language, stdin in zip(args.files, languages, stdins, strict=True):
        programs.append(
            Program(
                _language_of(path, language),
                path.read_text(encoding="utf-8"),
                stdin=stdin.read_text(encoding="utf-8") if stdin else "",
                timeout_s=args.timeout,
                memory_mb=args.memory_mb,
            )
        )
    return programs


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_intermixed_args(argv)  # FILE --stdin=A FILE --stdin=B ...
    try:
        programs = programs_from_args(args)
    except (ValueError, OSError) as exc:
        parser.print_usage(sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with open_sandbox(args.backend) as sandbox:
            results = sandbox.run_batch(programs)
    except SandboxUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    for path, result in zip(args.files, results, strict=True):
        out = {"file": str(path), **result.to_dict(), "backend": sandbox.name}
        out["stdout"] = _truncate(out["stdout"], args.max_chars)
        out["stderr"] = _truncate(out["stderr"], args.max_chars)
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
