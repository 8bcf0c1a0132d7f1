"""Run one program in a sandbox and print one JSON object (DESIGN.md section 4).

    python -m sandboxes.run --language=LANG FILE [--stdin=FILE] [--timeout=S] [--memory_mb=M]
                            [--backend=auto|docker|bwrap]

Prints ``{"status", "exit_code", "stdout", "stderr", "wall_s", "phase"}`` (stdout and stderr
truncated to ``--max_chars``). Exit status: 0 when the program ran (whatever its verdict),
2 for bad arguments, 3 when no sandbox backend can run here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sandboxes.languages import LANGUAGES, resolve_language
from sandboxes.program import Program
from sandboxes.sandbox import BACKENDS, SandboxUnavailable, open_sandbox


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandboxes.run", description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path, help="the program's main source file")
    parser.add_argument("--language", required=True,
                        help=f"one of {', '.join(LANGUAGES)} (or an alias)")
    parser.add_argument("--stdin", type=Path, default=None, help="file fed to the program's stdin")
    parser.add_argument("--timeout", type=float, default=None,
                        help="run wall-clock limit in seconds (scaled by the language's factor)")
    parser.add_argument("--memory_mb", type=int, default=None, help="memory limit in MiB")
    parser.add_argument("--backend", choices=BACKENDS, default="auto")
    parser.add_argument("--max_chars", type=int, default=4000,
                        help="keep at most this many characters of stdout and of stderr")
    return parser


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n...[{len(text) - limit} chars truncated]"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        language = resolve_language(args.language)
        source = args.file.read_text(encoding="utf-8")
        stdin = args.stdin.read_text(encoding="utf-8") if args.stdin else ""
        program = Program(language.name, source, stdin=stdin, timeout_s=args.timeout,
                          memory_mb=args.memory_mb)
    except (ValueError, OSError) as exc:
        parser.print_usage(sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with open_sandbox(args.backend) as sandbox:
            result = sandbox.run(program)
    except SandboxUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    out = result.to_dict()
    out["stdout"] = _truncate(out["stdout"], args.max_chars)
    out["stderr"] = _truncate(out["stderr"], args.max_chars)
    out["backend"] = sandbox.name
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
