"""Every language of the table, on every backend: ok, runtime error and (compiled) compile error.

One parametrized test over ``LANGUAGES``: a language without fixtures fails here. The fixtures
of one backend run as one batch (the production path), so compile-heavy languages run once
per backend.
"""

from __future__ import annotations

import functools

import pytest

from sandboxes import LANGUAGES, Program, RunResult, RunStatus

from .conftest import BACKENDS, FIXTURES, get_sandbox, leftover_pids

STDIN = "1 2 3\n4 5\n"


def _kinds(name: str) -> list[str]:
    return ["ok", "fail"] + (["compile_error"] if LANGUAGES[name].compiled else [])


@functools.cache
def _results(backend: str) -> dict[tuple[str, str], RunResult]:
    sandbox = get_sandbox(backend)
    keys, programs = [], []
    for name, lang in LANGUAGES.items():
        for kind in _kinds(name):
            path = FIXTURES / name / f"{kind}{lang.extension}"
            if not path.is_file():
                continue  # test_every_language_has_fixtures names it
            keys.append((name, kind))
            programs.append(Program(name, path.read_text(), stdin=STDIN))
    results = dict(zip(keys, sandbox.run_batch(programs), strict=True))
    assert leftover_pids(sandbox.token) == []
    return results


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_language_fixtures(backend, name):
    results = _results(backend)
    ok = results[(name, "ok")]
    assert ok.status is RunStatus.OK, ok
    assert ok.stdout.strip() == "sum 15"
    fail = results[(name, "fail")]
    assert fail.status is RunStatus.RUNTIME_ERROR and fail.phase == "run", fail
    assert fail.exit_code != 0
    if LANGUAGES[name].compiled:
        bad = results[(name, "compile_error")]
        assert bad.status is RunStatus.COMPILE_ERROR and bad.phase == "compile", bad
        assert bad.stderr.strip()


@pytest.mark.parametrize("backend", BACKENDS)
def test_self_test_and_versions(backend):
    sandbox = get_sandbox(backend)
    report = sandbox.self_test(["python", "c"])
    assert report["python"][0] and report["c"][0], report
    assert sandbox.toolchain_version("python").startswith("Python 3")
    assert "gcc" in sandbox.toolchain_version("c")


@pytest.mark.bwrap
@pytest.mark.parametrize("name", ["cpp", "go", "java"])
def test_batch_compile_gives_the_verdicts_of_one_by_one(name):
    """The batch compile (PCH, shared Go cache, warm javac) changes no status and no diagnostic."""
    sandbox = get_sandbox("bwrap")
    lang = LANGUAGES[name]
    programs = [
        Program(name, (FIXTURES / name / f"{kind}{lang.extension}").read_text(), stdin=STDIN)
        for kind in ("ok", "compile_error", "fail", "ok")
    ]
    batched = sandbox.run_batch(programs)
    alone = [sandbox.run(program) for program in programs]
    assert [r.status for r in batched] == [r.status for r in alone]
    assert [r.stdout for r in batched] == [r.stdout for r in alone]
    assert batched[1].stderr == alone[1].stderr  # the compile error's diagnostics


_GO_TRICKY = {
    "init": 'package main\n\nimport "fmt"\n\nfunc init() { fmt.Println("init ran") }\n\n'
    'func main() { fmt.Println("main ran") }\n',
    "global": 'package main\n\nimport "fmt"\n\nvar counter = start()\n\n'
    'func start() int { fmt.Println("global ran"); return 3 }\n\n'
    'func main() { fmt.Println("counter", counter) }\n',
    "args": 'package main\n\nimport (\n\t"flag"\n\t"fmt"\n\t"os"\n)\n\n'
    'func main() {\n\tn := flag.Int("n", 5, "a number")\n\tflag.Parse()\n'
    "\tfmt.Println(len(os.Args), os.Args[0], *n, flag.NArg())\n}\n",
    "exit": 'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\n'
    'func main() {\n\tfmt.Println("before exit")\n\tos.Exit(3)\n}\n',
    "recursive_main": 'package main\n\nimport "fmt"\n\nvar n int\n\n'
    "func main() {\n\tif n < 2 {\n\t\tn++\n\t\tmain()\n\t\treturn\n\t}\n"
    '\tfmt.Println("depth", n)\n}\n',
    "calls_main_value": 'package main\n\nimport "fmt"\n\n'
    "func run(f func()) { f() }\n\n"
    'func main() {\n\tdefer fmt.Println("deferred")\n'
    '\tif false {\n\t\trun(main)\n\t}\n\tfmt.Println("main")\n}\n',
    "entry_clash": 'package main\n\nimport "fmt"\n\nfunc XSandboxBatchEntry() {}\n\n'
    'func main() { XSandboxBatchEntry(); fmt.Println("clash ok") }\n',
    "comment_package": '// package main is the entry point\npackage main\n\nimport "fmt"\n\n'
    'func main() { fmt.Println("comment ok") }\n',
    "unused_import": 'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\n'
    'func main() { fmt.Println("x") }\n',
}


def _batch_matches_alone(language: str, ext: str, tricky: dict[str, str]) -> dict:
    """Run the language's fixtures plus ``tricky`` programs batched and one by one (bwrap);
    assert the same status, stdout, exit code and compile diagnostics; return the batched
    results by name (fixtures: ok, compile_error, fail, ok2)."""
    sandbox = get_sandbox("bwrap")
    fixtures = [
        (FIXTURES / language / f"{kind}.{ext}").read_text()
        for kind in ("ok", "compile_error", "fail", "ok")
    ]
    programs = [Program(language, source, stdin=STDIN) for source in [*fixtures, *tricky.values()]]
    batched = sandbox.run_batch(programs)
    alone = [sandbox.run(program) for program in programs]
    assert [r.status for r in batched] == [r.status for r in alone]
    assert [r.stdout for r in batched] == [r.stdout for r in alone]
    assert [r.exit_code for r in batched] == [r.exit_code for r in alone]
    for i, (b, a) in enumerate(zip(batched, alone, strict=True)):
        if a.status is RunStatus.COMPILE_ERROR:
            assert b.stderr == a.stderr, i
    return dict(zip(["ok", "compile_error", "fail", "ok2", *tricky], batched, strict=True))


@pytest.mark.bwrap
def test_go_batch_link_gives_the_verdicts_of_one_by_one():
    """Go programs linked into the batch's one binary (init, globals, os.Args, flag, os.Exit,
    stdin, a second compile error) give the status, stdout and diagnostics of alone."""
    named = _batch_matches_alone("go", "go", _GO_TRICKY)
    assert named["ok"].stdout.strip() == "sum 15"
    assert named["args"].stdout.split() == ["1", "./main", "5", "0"]
    assert named["init"].stdout.split("\n")[:2] == ["init ran", "main ran"]
    assert named["exit"].exit_code == 3
    assert named["unused_import"].status is RunStatus.COMPILE_ERROR
    assert "main.go" in named["unused_import"].stderr


@pytest.mark.parametrize(
    ("source", "linkable"),
    [
        (LANGUAGES["go"].smoke_ok, True),
        (_GO_TRICKY["args"], True),
        (_GO_TRICKY["init"], False),
        (_GO_TRICKY["global"], False),
        (_GO_TRICKY["entry_clash"], False),
        ("package main\n\n//go:noinline\nfunc f() {}\n\nfunc main() { f() }\n", False),
        ("package main\n\nfunc main() int { return 0 }\n", False),
        ('package main\n\nfunc main() {\n\tvar x = "}"\n\t_ = x\n}\n', True),
    ],
)
def test_go_link_once_takes_only_programs_it_can_run_unchanged(source, linkable):
    """Only code with nothing running before ``main`` (no init, no package-level var) is linked
    into the shared binary; everything else is compiled alone."""
    from sandboxes.agent import _go_linkable

    assert _go_linkable({"files": [["main.go", source]]}) is linkable


_RUST_TRICKY = {
    "args_env": "fn main() {\n    let n = std::env::args().count();\n"
    '    let batch = std::env::vars().any(|(k, _)| k.starts_with("SANDBOX_BATCH"));\n'
    '    println!("{} {}", n, batch);\n}\n',
    "result_err": 'fn main() -> Result<(), String> {\n    println!("before");\n'
    '    Err("bad".to_string())\n}\n',
    "result_ok": 'fn main() -> Result<(), String> {\n    println!("fine");\n    Ok(())\n}\n',
    "exit": 'fn main() {\n    println!("before exit");\n    std::process::exit(3);\n}\n',
    "static": 'static GREETING: &str = "static ok";\n\nfn main() {\n    println!("{}", GREETING);\n}\n',
    "crate_path": 'fn helper() -> i32 { 7 }\n\nfn main() {\n    println!("{}", crate::helper());\n}\n',
    "inner_attr": '#![allow(dead_code)]\nfn unused() {}\n\nfn main() {\n    println!("attr ok");\n}\n',
    "type_error": 'fn main() {\n    let x: i32 = "nope";\n    println!("{}", x);\n}\n',
}


@pytest.mark.bwrap
def test_rust_batch_link_gives_the_verdicts_of_one_by_one():
    """Rust programs built as modules of the batch's one crate (args, env, main returning a
    Result, process::exit, stdin, compile errors) give the status, stdout and diagnostics of
    alone."""
    named = _batch_matches_alone("rust", "rs", _RUST_TRICKY)
    assert named["ok"].stdout.strip() == "sum 15"
    assert named["args_env"].stdout.split() == ["1", "false"]
    assert named["result_err"].exit_code == 1 and "Error" in named["result_err"].stderr
    assert named["exit"].exit_code == 3
    assert named["type_error"].status is RunStatus.COMPILE_ERROR


@pytest.mark.parametrize(
    ("name", "linkable"),
    [
        ("args_env", True),
        ("result_err", True),
        ("static", False),
        ("crate_path", False),
        ("inner_attr", False),
    ],
)
def test_rust_link_once_takes_only_programs_it_can_run_unchanged(name, linkable):
    from sandboxes.agent import _rust_linkable

    assert _rust_linkable({"files": [["main.rs", _RUST_TRICKY[name]]]}) is linkable


def test_a_cpu_limit_stops_a_spinning_program_and_lets_a_waiting_one_finish(sandbox):
    """``Program.cpu_s``: RLIMIT_CPU decides, ``timeout_s`` is only the wall backstop."""
    spins = Program("python", "while True:\n    pass\n", timeout_s=20.0, cpu_s=1.0)
    waits = Program(
        "python", "import time\ntime.sleep(2)\nprint('done')\n", timeout_s=20.0, cpu_s=1.0
    )
    spun, waited = sandbox.run_batch([spins, waits])
    assert spun.status is RunStatus.TIMEOUT and spun.wall_s < 10.0, spun
    assert waited.status is RunStatus.OK and waited.stdout == "done\n", waited
    with pytest.raises(ValueError, match="cpu_s"):
        Program("python", "pass", cpu_s=0.5)
