"""Check that a worker (image or host) can validate translations: toolchains, then the sandbox.

    python docker/check_worker.py                 # every language's toolchain is found, versions
    python docker/check_worker.py --sandbox=bwrap # plus the sandbox self-test (a passing and a
                                                  # failing program per language)

Run at image build time (toolchains only: ``docker build`` gives no namespaces for
bubblewrap) and once on a real worker before a large run, where the sandbox needs user
namespaces or CAP_SYS_ADMIN (docs/scale-out.md). Exit status 0 when everything asked for
works, 1 otherwise; one line per language either way.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys

from sandboxes import LANGUAGES, open_sandbox


def toolchain_report(name: str) -> tuple[bool, str]:
    """Whether the language's commands resolve on its search path, and the version line."""
    language = LANGUAGES[name]
    path = language.search_path()
    for host_glob, target in language.mounts:  # toolchains the sandbox binds in (rustup)
        matches = sorted(glob.glob(os.path.expanduser(host_glob)))
        if matches:
            path = path.replace(target, matches[-1])
    commands = {language.version_argv[0], language.run_argv[0]}
    if language.compile_argv:
        commands.add(language.compile_argv[0])
    missing = sorted(
        c for c in commands if not c.startswith("{") and shutil.which(c, path=path) is None
    )
    if missing:
        return False, f"missing {', '.join(missing)} on {path}"
    argv = [shutil.which(language.version_argv[0], path=path), *language.version_argv[1:]]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={"PATH": path})
    lines = (done.stdout or done.stderr).strip().splitlines()
    return done.returncode == 0, lines[0] if lines else f"exit {done.returncode}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sandbox",
        choices=("none", "auto", "docker", "bwrap"),
        default="none",
        help="also run the sandbox self-test with this backend",
    )
    parser.add_argument("--languages", default=",".join(LANGUAGES), help="comma-separated subset")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.languages.split(",") if n.strip()]
    unknown = [n for n in names if n not in LANGUAGES]
    if unknown:
        parser.error(f"unknown language(s) {unknown}; valid: {list(LANGUAGES)}")
    ok = True
    for name in names:
        good, line = toolchain_report(name)
        ok &= good
        print(f"toolchain {name:<10} {'ok  ' if good else 'FAIL'} {line}")
    if args.sandbox != "none":
        try:
            with open_sandbox(args.sandbox) as sandbox:
                results = sandbox.self_test(names)
                backend = sandbox.name
        except Exception as exc:  # noqa: BLE001 - report why no sandbox runs here, in one line
            print(f"sandbox {args.sandbox}: FAIL {type(exc).__name__}: {exc}")
            return 1
        for name, (good, detail) in results.items():
            ok &= good
            print(f"sandbox {backend} {name:<10} {'ok  ' if good else 'FAIL'} {detail}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
