"""In-sandbox agent: runs a batch of jobs, one after another, each in a fresh work dir.

Started as ``python3 /opt/sandbox/agent.py /job/batch.json`` inside a Docker container or a
bubblewrap sandbox, as uid 65534 and as PID 1 of the sandbox's own PID namespace (so no program
can kill it: PID 1 ignores signals it has no handler for). Stdlib only; it imports nothing but
``runner.py`` from the same directory, because the sandbox holds only an interpreter.

Per job: a fresh ``0700`` work dir, the job's files written, each step (compile, then run)
spawned through :func:`runner.spawn` with fresh rlimits, a wall timer and output caps; after the
job every process left in the sandbox is killed (``kill(-1)``: everything this uid may signal
in this PID namespace, never the agent itself) and the work dir, ``/tmp`` and ``/dev/shm`` are
wiped, so nothing of one program reaches the next. The agent is made non-dumpable so a program
running as the same uid cannot ptrace it or open its stdout through ``/proc``.

It prints one JSON line of raw facts per job on its stdout (the only channel back to the host);
the host classifies them (``sandboxes.status.classify``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import stat
import sys
import time

if __package__:
    from .runner import Limits, spawn
else:  # run as a script inside the sandbox (python3 -I: the script's dir is not on sys.path)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from runner import Limits, spawn  # type: ignore[no-redef]

_PR_SET_DUMPABLE = 4


def _harden() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)  # PID 1 without a handler ignores them
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (ImportError, OSError, AttributeError):
        pass


def _oom_kills(path: str | None) -> int:
    if not path:
        return 0
    try:
        with open(path) as fh:
            for line in fh:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    except OSError:
        pass
    return 0


def _kill_everything() -> None:
    """Kill every process this uid may signal in the sandbox, then reap (only as PID 1)."""
    if os.getpid() != 1:
        return  # outside a PID namespace kill(-1) would reach the host's processes
    try:
        os.kill(-1, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.005)


def _wipe(path: str, keep_root: bool = True) -> None:
    if not os.path.isdir(path):
        return
    if not keep_root:
        shutil.rmtree(path, ignore_errors=True)
        return
    for name in os.listdir(path):
        full = os.path.join(path, name)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            try:
                os.unlink(full)
            except OSError:
                pass


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _digest(path: str) -> str:
    """Hash of a dir's names, modes and contents: did anything touch a compiled program?"""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(dirs + files):
            full = os.path.join(root, name)
            st = os.lstat(full)
            digest.update(f"{os.path.relpath(full, path)}\0{st.st_mode}\0".encode())
            if stat.S_ISLNK(st.st_mode):
                digest.update(os.readlink(full).encode())
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as fh:
                    digest.update(hashlib.sha256(fh.read()).digest())
    return digest.hexdigest()


def _new_result(job: dict, index: int) -> dict:
    return {"id": job.get("id", index), "phase": "setup", "exit_code": None,
            "timed_out": False, "oom_killed": False, "output_exceeded": False,
            "stdout": "", "stderr": "", "wall_s": 0.0, "error": None}


def _prepare(job: dict, work: str) -> str | None:
    """Create the fresh work dir and write the job's files; an error message or None."""
    try:
        os.mkdir(work, 0o700)
        for name, content in job["files"]:
            path = os.path.join(work, name)
            if os.path.dirname(name):
                os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(content)
    except (OSError, KeyError, ValueError) as exc:
        return f"could not prepare the work dir: {exc}"
    return None


def _env(job: dict, work: str, extra: dict | None = None) -> dict:
    env = {key: value.replace("{dir}", work)
           for key, value in {**job.get("env", {}), **(extra or {})}.items()}
    env.setdefault("HOME", work)
    env.setdefault("TMPDIR", work)
    return env


def _limits(job: dict, step: dict, wall_s: float | None = None) -> Limits:
    return Limits(
        wall_s=float(wall_s if wall_s is not None else step["timeout_s"]),
        output_bytes=int(job.get("output_bytes", 65536)),
        kill_on_output_cap=step["phase"] == "run",
        file_size_bytes=job.get("file_size_bytes"),
        nproc=job.get("nproc"),
        nofile=job.get("nofile"),
        address_space_mb=job.get("address_space_mb"),
        oom_score_adj=1000,
    )


def _run_step(job: dict, step: dict, work: str, env: dict, oom_path: str | None) -> tuple[dict, bool]:
    """Spawn one step; (its raw facts, whether the job stops here)."""
    before = _oom_kills(oom_path)
    outcome = spawn(step["argv"], limits=_limits(job, step), cwd=work, env=env,
                    stdin=step.get("stdin", "").encode("utf-8"))
    _kill_everything()
    oom = _oom_kills(oom_path) > before
    facts = {"phase": step["phase"], "exit_code": outcome.exit_code,
             "timed_out": outcome.timed_out, "oom_killed": oom,
             "output_exceeded": outcome.output_exceeded, "stdout": _text(outcome.stdout),
             "stderr": _text(outcome.stderr), "error": outcome.spawn_error}
    if outcome.spawn_error is not None:
        facts["phase"] = "setup"
        return facts, True
    stop = (outcome.exit_code != 0 or outcome.timed_out or oom
            or (outcome.output_exceeded and step["phase"] == "run"))
    return facts, stop


_FIRST_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]', re.MULTILINE)


def _build_pchs(jobs: list[dict], batch: dict, root: str, oom_path: str | None) -> None:
    """Precompile the system headers that two or more programs of the batch include first.

    The PCH dir is the first entry of the batch's include path (e.g. ``CPLUS_INCLUDE_PATH``);
    GCC uses ``<dir>/<header>.gch`` only when it is valid for that compile and otherwise keeps
    searching for the real header, so results match a compile without it.
    """
    counts: dict[str, int] = {}
    for job in jobs:
        match = _FIRST_INCLUDE.search(job["files"][0][1])
        if match and match.group(1) == "<" and ".." not in match.group(2):
            counts[match.group(2)] = counts.get(match.group(2), 0) + 1
    pch_dir = next((value.split(":")[0] for value in batch.get("env", {}).values()
                    if value.startswith(root + "/")), None)
    if pch_dir is None:
        return
    for header, uses in sorted(counts.items()):
        if uses < 2:
            continue
        out = os.path.join(pch_dir, header + ".gch")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        source = os.path.join(pch_dir, ".src-" + header.replace("/", "_") + ".h")
        with open(source, "w") as fh:
            fh.write(f"#include <{header}>\n")
        argv = [arg.replace("{out}", out).replace("{header}", source) for arg in batch["pch_argv"]]
        step = {"phase": "compile", "timeout_s": 60.0}
        outcome = spawn(argv, limits=_limits(jobs[0], step), cwd=pch_dir,
                        env=_env(jobs[0], pch_dir))
        _kill_everything()
        os.unlink(source)
        if outcome.exit_code != 0 and os.path.exists(out):
            os.unlink(out)


_GO_ENTRY = "XSandboxBatchEntry"


def _go_top_level(source: str) -> str:
    """The text of ``source`` at brace depth 0, without comments, strings and runes."""
    out, depth, i, n = [], 0, 0, len(source)
    while i < n:
        ch = source[i]
        if source.startswith("//", i):
            end = source.find("\n", i)
            i = n if end < 0 else end
            continue
        if source.startswith("/*", i):
            end = source.find("*/", i + 2)
            i = n if end < 0 else end + 2
            out.append(" ")
            continue
        if ch in "\"'`":
            j = i + 1
            while j < n and source[j] != ch:
                if source[j] == "\\" and ch != "`":
                    j += 1
                j += 1
            i = j + 1
            out.append(" ")
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0:
            out.append(ch)
        i += 1
    return "".join(out)


_GO_MAIN = re.compile(r"\bfunc\s+main\s*\(\s*\)\s*$", re.MULTILINE)


def _go_linkable(job: dict) -> bool:
    """May this Go program be linked into the batch's one binary without changing its verdict?

    Only a single-file ``package main`` with a plain ``func main()`` and nothing that runs
    before ``main``: no ``func init``, no package-level ``var`` (its initializer would run, and
    its storage would be reserved, in every other program of the batch), no ``//go:``
    directives or build constraints. Anything else is compiled alone as before.
    """
    if len(job["files"]) != 1 or not job["files"][0][0].endswith(".go"):
        return False
    source = job["files"][0][1]
    if "//go:" in source or "+build" in source or _GO_ENTRY in source:
        return False
    top = _go_top_level(source)
    return (len(re.findall(r"\bpackage\s+main\b", top)) == 1
            and len(re.findall(r"\bpackage\b", top)) == 1
            and not re.search(r"\bvar\b|\bfunc\s+init\b", top)
            and len(_GO_MAIN.findall(top)) == 1)


def _go_link_once(jobs: list[dict], ready: list[int], root: str,
                  oom_path: str | None, batch_env: dict) -> dict[int, dict]:
    """Go: compile each eligible program as its own package, then link them all ONCE.

    Each program's ``package main`` becomes package ``p<i>`` (its ``main`` stays, an added
    file exports it); a generated dispatcher imports them all and calls the one named by its
    first argument, which it removes from ``os.Args`` before the program starts. A package
    that does not compile is named by ``go build`` (``# gobatch/p<i>``) and dropped from the
    link: that program is then compiled alone, so its diagnostics are exactly its own. Every
    program still runs as its own process, in its own dir, with its own limits.
    Returns ``{index: {"facts": ..., "run_args": [...]}}`` for the programs linked here.
    """
    gopath = os.path.join(root, ".gobatch")
    chosen = [i for i in ready if _go_linkable(jobs[i])]
    if len(chosen) < 2:
        return {}
    try:
        for i in chosen:
            pkg = os.path.join(gopath, "src", "gobatch", f"p{i}")
            os.makedirs(pkg)
            name, source = jobs[i]["files"][0]
            top_start = re.search(r"\bpackage\s+main\b", source)
            with open(os.path.join(pkg, name), "w", encoding="utf-8") as fh:
                fh.write(source[: top_start.start()] + f"package p{i}"
                         + source[top_start.end():])
            with open(os.path.join(pkg, "zz_sandbox_entry.go"), "w") as fh:
                fh.write(f"package p{i}\n\nfunc {_GO_ENTRY}() {{ main() }}\n")
        os.makedirs(os.path.join(gopath, "src", "gobatch", "cmd"))
        os.makedirs(os.path.join(gopath, "bin"))
    except (OSError, AttributeError):
        shutil.rmtree(gopath, ignore_errors=True)
        return {}
    exe = os.path.join(gopath, "bin", "main")
    first = jobs[chosen[0]]
    env = _env(first, gopath, {**batch_env, "GOPATH": gopath})
    linked = list(chosen)
    ok = False
    for _ in range(4):
        if len(linked) < 2:
            break
        imports = "".join(f'\tp{i} "gobatch/p{i}"\n' for i in linked)
        cases = "".join(f'\tcase "p{i}":\n\t\tp{i}.{_GO_ENTRY}()\n' for i in linked)
        with open(os.path.join(gopath, "src", "gobatch", "cmd", "main.go"), "w") as fh:
            fh.write(f'package main\n\nimport (\n\t"os"\n{imports})\n\nfunc main() {{\n'
                     "\tif len(os.Args) < 2 {\n\t\tos.Exit(125)\n\t}\n\twhich := os.Args[1]\n"
                     "\tos.Args = append(os.Args[:1:1], os.Args[2:]...)\n"
                     f"\tswitch which {{\n{cases}\tdefault:\n\t\tos.Exit(125)\n\t}}\n}}\n")
        step = {"phase": "compile", "timeout_s": sum(jobs[i]["steps"][0]["timeout_s"]
                                                     for i in linked)}
        before = _oom_kills(oom_path)
        outcome = spawn(["go", "build", "-o", exe, "gobatch/cmd"],
                        limits=_limits(first, step), cwd=gopath, env=env)
        _kill_everything()
        if (outcome.spawn_error is not None or outcome.timed_out
                or _oom_kills(oom_path) > before):
            break
        if outcome.exit_code == 0:
            ok = os.path.isfile(exe)
            break
        failed = set(re.findall(r"^# gobatch/p(\d+)\s*$", _text(outcome.stderr), re.MULTILINE))
        if not failed:
            break
        linked = [i for i in linked if str(i) not in failed]
    done: dict[int, dict] = {}
    if ok:
        for i in linked:
            target = os.path.join(root, f"j{i}", "main")
            try:  # a copy, not a link: a program may write to another's binary, as alone
                shutil.copy2(exe, target)
            except OSError:
                continue
            done[i] = {"facts": {"phase": "compile", "exit_code": 0, "timed_out": False,
                                 "oom_killed": False, "output_exceeded": False, "stdout": "",
                                 "stderr": "", "error": None},
                       "run_args": [f"p{i}"]}
    shutil.rmtree(gopath, ignore_errors=True)
    return done


_RS_MAIN = re.compile(r"^fn\s+main\s*\(\s*\)", re.MULTILINE)
_RS_UNSAFE = ("#!", "crate::", "super::", "static", "macro_rules", "extern", "mod ", "#[path",
              "include", "file!", "module_path!", "line!", "column!", "env!", "no_mangle",
              "export_name", "#[link", "SANDBOX_BATCH_ENTRY", "mod\t")
_RS_ERROR_FILE = re.compile(r"^error(?:\[E\d+\])?:.*\n\s*--> /work/j(\d+)/", re.MULTILINE)


def _rust_linkable(job: dict) -> bool:
    """May this Rust program become a module of the batch's one crate without changing its
    verdict? A single file with one column-0 ``fn main()`` and none of the items whose meaning
    depends on being the crate root (inner attributes, ``crate::``/``super::`` paths, macros,
    modules, statics, symbol names, file/line macros); anything else is compiled alone."""
    if len(job["files"]) != 1 or not job["files"][0][0].endswith(".rs"):
        return False
    source = job["files"][0][1]
    return not any(token in source for token in _RS_UNSAFE) and len(_RS_MAIN.findall(source)) == 1


def _rust_link_once(jobs: list[dict], ready: list[int], root: str,
                    oom_path: str | None) -> dict[int, dict]:
    """Rust: one crate whose modules are the batch's programs, compiled and linked ONCE.

    Module ``p<i>`` is program i's own file (``#[path]``, its ``fn main`` made ``pub``); the
    crate's ``main`` runs the one named by ``SANDBOX_BATCH_ENTRY``, removed from the
    environment first, and returns its result through ``Termination`` as a root ``main``
    would. An error located in a program's file drops that program (compiled alone later) and
    the crate is rebuilt. Returns ``{index: {"facts": ..., "run_env": {...}}}``.
    """
    chosen = [i for i in ready if _rust_linkable(jobs[i])]
    if len(chosen) < 2:
        return {}
    build = os.path.join(root, ".rsbatch")
    try:
        os.mkdir(build, 0o700)
        for i in chosen:
            name, source = jobs[i]["files"][0]
            with open(os.path.join(root, f"j{i}", name), "w", encoding="utf-8") as fh:
                fh.write(_RS_MAIN.sub("pub fn main()", source, count=1))
    except OSError:
        shutil.rmtree(build, ignore_errors=True)
        return {}
    exe = os.path.join(build, "main")
    first = jobs[chosen[0]]
    compile_argv = [arg for arg in first["steps"][0]["argv"]]
    linked, ok = list(chosen), False
    for _ in range(4):
        if len(linked) < 2:
            break
        mods = "".join(f'#[path = "{root}/j{i}/{jobs[i]["files"][0][0]}"]\nmod p{i};\n'
                       for i in linked)
        arms = "".join(f'        "p{i}" => p{i}::main().report(),\n' for i in linked)
        with open(os.path.join(build, "batch.rs"), "w") as fh:
            fh.write(f"use std::process::Termination;\n{mods}\n"
                     "fn main() -> std::process::ExitCode {\n"
                     '    let which = std::env::var("SANDBOX_BATCH_ENTRY").unwrap_or_default();\n'
                     '    std::env::remove_var("SANDBOX_BATCH_ENTRY");\n'
                     f"    match which.as_str() {{\n{arms}"
                     "        _ => std::process::ExitCode::from(125),\n    }\n}\n")
        argv = [exe if arg == "./main" else "batch.rs" if arg == jobs[chosen[0]]["files"][0][0]
                else arg for arg in compile_argv]
        step = {"phase": "compile", "timeout_s": sum(jobs[i]["steps"][0]["timeout_s"]
                                                     for i in linked)}
        before = _oom_kills(oom_path)
        outcome = spawn(argv, limits=_limits(first, step), cwd=build, env=_env(first, build))
        _kill_everything()
        if (outcome.spawn_error is not None or outcome.timed_out
                or _oom_kills(oom_path) > before):
            break
        if outcome.exit_code == 0:
            ok = os.path.isfile(exe)
            break
        failed = set(_RS_ERROR_FILE.findall(_text(outcome.stderr)))
        if not failed:
            break
        linked = [i for i in linked if str(i) not in failed]
    for i in chosen:  # the program's own file again, as it was written
        name, source = jobs[i]["files"][0]
        with open(os.path.join(root, f"j{i}", name), "w", encoding="utf-8") as fh:
            fh.write(source)
    done: dict[int, dict] = {}
    if ok:
        for i in linked:
            try:
                shutil.copy2(exe, os.path.join(root, f"j{i}", "main"))
            except OSError:
                continue
            done[i] = {"facts": {"phase": "compile", "exit_code": 0, "timed_out": False,
                                 "oom_killed": False, "output_exceeded": False, "stdout": "",
                                 "stderr": "", "error": None},
                       "run_env": {"SANDBOX_BATCH_ENTRY": f"p{i}"}}
    shutil.rmtree(build, ignore_errors=True)
    return done


def compile_all(jobs: list[dict], spec: dict) -> dict[int, dict]:
    """Batch compile: every compiled job of the batch, before any program runs.

    Because no untrusted code runs during this phase, the compiles may share state that a
    program must never reach: one warm compile server (javac in one JVM) or a shared build
    cache (Go's ``GOCACHE``), deleted before the first program runs. Each job's dir is then
    hashed; a job whose dir changed before its turn (an earlier program tampered with it) is
    recompiled alone, so every verdict is what a fresh sandbox would give.
    Returns ``{index: {"facts": compile facts, "digest": dir hash}}`` for jobs compiled here.
    """
    batch = spec["batch_compile"]
    root = spec.get("work_root", "/work")
    oom_path = spec.get("oom_control")
    ready = []
    for i, job in enumerate(jobs):
        work = os.path.join(root, f"j{i}")
        if job["steps"][0]["phase"] == "compile" and _prepare(job, work) is None:
            ready.append(i)
    if not ready:
        return {}
    if batch.get("pch_argv"):
        _build_pchs([jobs[i] for i in ready], batch, root, oom_path)
    done: dict[int, dict] = {}
    linked: dict[int, dict] = {}
    if batch.get("link_once") == "go":
        linked = _go_link_once(jobs, ready, root, oom_path, batch.get("env", {}))
    elif batch.get("link_once") == "rust":
        linked = _rust_link_once(jobs, ready, root, oom_path)
    if linked:
        done.update({i: entry["facts"] for i, entry in linked.items()})
    server = batch.get("server_argv")
    if server:
        agent_dir = os.path.dirname(os.path.abspath(__file__))
        argv = [arg.replace("{agent_dir}", agent_dir) for arg in server]
        argv += [f"j{i}/{jobs[i]['files'][0][0]}" for i in ready]
        first = jobs[ready[0]]
        step = {"phase": "compile", "timeout_s": batch["timeout_s"]}
        before = _oom_kills(oom_path)
        outcome = spawn(argv, limits=_limits(first, step), cwd=root, env=_env(first, root))
        _kill_everything()
        if outcome.spawn_error is None and not outcome.timed_out and _oom_kills(oom_path) == before:
            for i in ready:
                work = os.path.join(root, f"j{i}")
                try:
                    with open(os.path.join(work, ".compile.rc")) as fh:
                        code = int(fh.read().strip())
                    with open(os.path.join(work, ".compile.err"), "rb") as fh:
                        err = _text(fh.read()[: int(first.get("output_bytes", 65536))])
                    os.unlink(os.path.join(work, ".compile.rc"))
                    os.unlink(os.path.join(work, ".compile.err"))
                except (OSError, ValueError):
                    continue  # not compiled here: the job compiles alone in its turn
                done[i] = {"phase": "compile", "exit_code": code, "timed_out": False,
                           "oom_killed": False, "output_exceeded": False, "stdout": "",
                           "stderr": err.replace(f"j{i}/", ""), "error": None}
    else:
        for i in ready:
            if i in done:
                continue
            job, work = jobs[i], os.path.join(root, f"j{i}")
            facts, _ = _run_step(job, job["steps"][0], work, _env(job, work, batch.get("env")),
                                 oom_path)
            if facts["error"] is None and not facts["timed_out"] and not facts["oom_killed"]:
                done[i] = facts
    for value in batch.get("env", {}).values():  # shared caches never meet a program
        if value.startswith(root + "/"):
            shutil.rmtree(value.split(":")[0], ignore_errors=True)
    out = {}
    for i in ready:
        if i in done:
            out[i] = {"facts": done[i], "digest": _digest(os.path.join(root, f"j{i}"))}
            if i in linked:
                out[i].update({key: value for key, value in linked[i].items() if key != "facts"})
        else:
            shutil.rmtree(os.path.join(root, f"j{i}"), ignore_errors=True)
    return out


def run_job(job: dict, index: int, spec: dict, compiled: dict | None = None) -> dict:
    """Run one job's steps in a fresh dir; return its raw facts (see module docstring).

    ``compiled``: this job's entry from :func:`compile_all`, if the batch compiled it.
    """
    work = os.path.join(spec.get("work_root", "/work"), f"j{index}")
    result = _new_result(job, index)
    start = time.monotonic()
    steps = job["steps"]
    if compiled is not None and os.path.isdir(work) and _digest(work) == compiled["digest"]:
        result.update(compiled["facts"])
        if compiled["facts"]["exit_code"] != 0:
            result["wall_s"] = round(time.monotonic() - start, 4)
            return result
        steps = steps[1:]
        if compiled.get("run_args"):  # linked into the batch's binary: name the program
            steps = [{**step, "argv": list(step["argv"]) + compiled["run_args"]}
                     if step["phase"] == "run" else step for step in steps]
    else:
        if compiled is not None:  # tampered with since the batch compile: start afresh
            shutil.rmtree(work, ignore_errors=True)
        error = _prepare(job, work)
        if error is not None:
            result["error"] = error
            return result
    env = _env(job, work)
    if compiled is not None and steps is not job["steps"] and compiled.get("run_env"):
        env.update(compiled["run_env"])  # linked into the batch's binary: name the program
    for step in steps:
        facts, stop = _run_step(job, step, work, env, spec.get("oom_control"))
        result.update(facts)
        if stop:
            break
    result["wall_s"] = round(time.monotonic() - start, 4)
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: agent.py BATCH.json", file=sys.stderr)
        return 2
    _harden()
    with open(args[0], encoding="utf-8") as fh:
        spec = json.load(fh)
    jobs = spec["jobs"]
    compiled = compile_all(jobs, spec) if spec.get("batch_compile") else {}
    for index, job in enumerate(jobs):
        result = run_job(job, index, spec, compiled.get(index))
        _kill_everything()
        _wipe(os.path.join(spec.get("work_root", "/work"), f"j{index}"), keep_root=False)
        for path in spec.get("wipe", ("/tmp", "/dev/shm")):
            _wipe(path)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
