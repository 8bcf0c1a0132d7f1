"""The one language table: file names, compile and run commands, images, limits.

Both backends (Docker and bubblewrap) and the self-test read only this table; adding a
language is adding one :class:`Language` entry (plus its fixtures under
``tests/sandboxes/fixtures/<name>/`` and, for users who can pull, a
``sandboxes/docker/Dockerfile.<name>``).

Commands are argv tuples run inside the sandbox with the work dir as the current directory.
Placeholders: ``{src}`` (the main file's name), ``{stem}`` (its name without extension, e.g. the
Java class), ``{exe}`` (the compiled program, ``./main``), ``{heap_mb}`` (3/4 of the memory limit:
the JVM, node and PHP then report their own out-of-memory error instead of being killed by
the cgroup). Commands are looked up on the entry's ``path`` inside the
sandbox, so the same table works with the host toolchains mounted read-only (offline image)
and with the production images of ``sandboxes/docker``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Directories searched for commands inside every sandbox, after the entry's own ``path``.
BASE_PATH: tuple[str, ...] = ("/usr/local/bin", "/usr/bin", "/bin")


@dataclass(frozen=True)
class Language:
    """One entry of the table.

    Attributes:
        name: canonical name (``cpp``, not ``c++``).
        aliases: other names accepted by :func:`resolve_language` (lower case).
        extension: the main file's extension, with the dot.
        file_name: main file name; ``{class}`` is replaced by the public class the source
            declares (``class_pattern``), or ``default_class``.
        tree_sitter_grammar: grammar name in ``tree-sitter-language-pack``.
        compile_argv: compiler command, ``None`` for interpreted languages.
        run_argv: command that runs the program.
        image: production image built from ``sandboxes/docker/Dockerfile.<name>``.
        timeout_s: default wall-clock limit of the run step, in seconds.
        compile_timeout_s: wall-clock limit of the compile step.
        time_factor: multiplies a caller's ``timeout_s`` (the JVM starts slowly).
        memory_mb: default memory limit (cgroup) for compile and run.
        nproc: process/thread limit (JVMs and Go start many threads).
        path: extra directories searched for commands, before ``BASE_PATH``.
        env: extra environment; ``{dir}`` is the run's work dir.
        mounts: (host glob, sandbox path) toolchains bound read-only in the offline image
            (e.g. rustup's toolchain, which lives under root's 0700 home).
        memory_markers: stderr text of the runtime's own out-of-memory error.
        version_argv: prints the toolchain version (verdict cache keys).
        batch_compiler: a compile server that compiles a whole batch in one process (argv,
            the batch's source paths appended; it writes ``.compile.rc``/``.compile.err`` into
            each program's dir). ``{agent_dir}`` is the agent's directory.
        batch_compile_env: environment shared by a batch's compiles (Go's build cache).
        batch_pch_argv: builds a precompiled header ``{out}`` for system header ``{header}``
            during a batch compile, for headers that two or more programs of the batch
            include first; the compiler finds it through ``batch_compile_env``'s include path
            and falls back to the real header whenever the PCH does not apply, so the
            compile's result is the same.
        batch_link_once: the agent's way to link a batch's programs into ONE binary that runs
            each of them by name (``"go"``: ``agent._go_link_once``); programs it can't take
            safely are compiled alone.
        batch_artifact_mb: memory headroom per program for what a batch compile leaves on
            the work tmpfs until the program runs.
        smoke_ok / smoke_fail: the self-test's passing and failing programs (MultiPL-E's
            ``--testing`` mode): the first must print ``ok`` and exit 0, the second must fail.
    """

    name: str
    extension: str
    tree_sitter_grammar: str
    run_argv: tuple[str, ...]
    image: str
    version_argv: tuple[str, ...]
    smoke_ok: str
    smoke_fail: str
    aliases: tuple[str, ...] = ()
    file_name: str = "main{ext}"
    class_pattern: str | None = None
    default_class: str = "Main"
    compile_argv: tuple[str, ...] | None = None
    timeout_s: float = 10.0
    compile_timeout_s: float = 30.0
    time_factor: float = 1.0
    memory_mb: int = 512
    nproc: int = 64
    path: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    mounts: tuple[tuple[str, str], ...] = ()
    memory_markers: tuple[str, ...] = ()
    batch_compiler: tuple[str, ...] | None = None
    batch_compile_env: tuple[tuple[str, str], ...] = ()
    batch_artifact_mb: int = 0
    batch_pch_argv: tuple[str, ...] | None = None
    batch_link_once: str | None = None
    _class_re: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.class_pattern is not None:
            object.__setattr__(self, "_class_re", re.compile(self.class_pattern, re.MULTILINE))

    @property
    def compiled(self) -> bool:
        return self.compile_argv is not None

    @property
    def batch_compiles(self) -> bool:
        return self.compiled and (self.batch_compiler is not None or bool(self.batch_compile_env)
                                  or self.batch_pch_argv is not None
                                  or self.batch_link_once is not None)

    def main_file(self, source: str) -> str:
        """The main file's name for ``source`` (Java: ``<public class>.java``)."""
        name = self.file_name.replace("{ext}", self.extension)
        if "{class}" in name:
            match = self._class_re.search(source) if self._class_re is not None else None
            name = name.replace("{class}", match.group(1) if match else self.default_class)
        return name

    def search_path(self) -> str:
        return ":".join(self.path + BASE_PATH)

    def heap_mb(self, memory_mb: int) -> int:
        return max(16, memory_mb * 3 // 4)


def _fill(argv: tuple[str, ...], values: dict[str, str]) -> list[str]:
    out = []
    for arg in argv:
        for key, value in values.items():
            arg = arg.replace("{" + key + "}", value)
        out.append(arg)
    return out


def expand(language: Language, argv: tuple[str, ...], source_file: str, memory_mb: int) -> list[str]:
    """``argv`` with the placeholders of the module docstring filled in."""
    stem = source_file.rsplit(".", 1)[0]
    values = {"src": source_file, "stem": stem, "exe": "./main",
              "heap_mb": str(language.heap_mb(memory_mb))}
    return _fill(argv, values)


_JVM = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-XX:-UsePerfData")

LANGUAGES: dict[str, Language] = {
    lang.name: lang
    for lang in (
        Language(
            name="python",
            aliases=("py", "python3"),
            extension=".py",
            tree_sitter_grammar="python",
            run_argv=("python3", "-I", "-S", "-B", "{src}"),
            image="codetrans-sandbox/python:1",
            version_argv=("python3", "--version"),
            memory_markers=("MemoryError",),
            smoke_ok="print('ok')\n",
            smoke_fail="assert 1 + 1 == 3, 'self-test failure'\n",
        ),
        Language(
            name="javascript",
            aliases=("js", "node", "nodejs"),
            extension=".js",
            tree_sitter_grammar="javascript",
            run_argv=("node", "--max-old-space-size={heap_mb}", "{src}"),
            image="codetrans-sandbox/javascript:1",
            version_argv=("node", "--version"),
            memory_mb=1024,
            nproc=64,
            memory_markers=("JavaScript heap out of memory",),
            smoke_ok="console.log('ok');\n",
            smoke_fail="throw new Error('self-test failure');\n",
        ),
        Language(
            name="java",
            extension=".java",
            file_name="{class}{ext}",
            class_pattern=r"^\s*public\s+(?:final\s+|abstract\s+)*class\s+([A-Za-z_$][\w$]*)",
            tree_sitter_grammar="java",
            compile_argv=("javac", *("-J" + flag for flag in _JVM), "-J-Xmx384m",
                          "-encoding", "UTF-8", "-nowarn", "-d", ".", "{src}"),
            run_argv=("java", *_JVM, "-Xmx{heap_mb}m", "-Xss16m", "-cp", ".", "{stem}"),
            image="codetrans-sandbox/java:1",
            version_argv=("java", "-version"),
            path=("/usr/lib/jvm/java-17-openjdk-amd64/bin", "/opt/java/openjdk/bin"),
            mounts=(("/etc/java-17-openjdk", "/etc/java-17-openjdk"),),  # Debian's conf links
            timeout_s=15.0,
            time_factor=1.5,
            memory_mb=1024,
            nproc=128,
            memory_markers=("java.lang.OutOfMemoryError",),
            batch_compiler=("java", *_JVM, "-Xmx384m", "{agent_dir}/BatchJavac.java",
                            "-encoding", "UTF-8", "-nowarn", "--"),
            batch_artifact_mb=1,
            smoke_ok='public class Main {\n  public static void main(String[] a) {\n'
                     '    System.out.println("ok");\n  }\n}\n',
            smoke_fail='public class Main {\n  public static void main(String[] a) {\n'
                       '    throw new RuntimeException("self-test failure");\n  }\n}\n',
        ),
        Language(
            name="cpp",
            aliases=("c++", "cxx", "cc"),
            extension=".cpp",
            tree_sitter_grammar="cpp",
            compile_argv=("g++", "-std=c++17", "-O1", "-pipe", "-o", "{exe}", "{src}", "-lm"),
            run_argv=("{exe}",),
            image="codetrans-sandbox/cpp:1",
            # same -std/-O as compile_argv, or GCC ignores the PCH (and uses the header)
            batch_pch_argv=("g++", "-std=c++17", "-O1", "-x", "c++-header", "-o", "{out}",
                            "{header}"),
            batch_compile_env=(("CPLUS_INCLUDE_PATH", "/work/.batch-pch"),),
            batch_artifact_mb=1,
            version_argv=("g++", "--version"),
            memory_markers=("std::bad_alloc",),
            smoke_ok='#include <iostream>\nint main() { std::cout << "ok" << std::endl; }\n',
            smoke_fail='#include <cassert>\nint main() { assert(1 + 1 == 3); }\n',
        ),
        Language(
            name="c",
            extension=".c",
            tree_sitter_grammar="c",
            compile_argv=("gcc", "-std=gnu11", "-O1", "-pipe", "-o", "{exe}", "{src}", "-lm"),
            run_argv=("{exe}",),
            image="codetrans-sandbox/c:1",
            version_argv=("gcc", "--version"),
            smoke_ok='#include <stdio.h>\nint main(void) { puts("ok"); return 0; }\n',
            smoke_fail='#include <assert.h>\nint main(void) { assert(1 + 1 == 3); return 0; }\n',
        ),
        Language(
            name="go",
            aliases=("golang",),
            extension=".go",
            tree_sitter_grammar="go",
            compile_argv=("go", "build", "-o", "{exe}", "{src}"),
            run_argv=("{exe}",),
            image="codetrans-sandbox/go:1",
            version_argv=("go", "version"),
            path=("/usr/lib/go-1.19/bin", "/usr/local/go/bin"),
            env=(("GOCACHE", "{dir}/.gocache"), ("GOPATH", "{dir}/.gopath"),
                 ("GO111MODULE", "off"), ("GOFLAGS", "-buildvcs=false"), ("CGO_ENABLED", "0"),
                 ("GOTOOLCHAIN", "local")),
            nproc=128,
            memory_markers=("runtime: out of memory",),
            batch_compile_env=(("GOCACHE", "/work/.batch-gocache"),),
            batch_link_once="go",
            batch_artifact_mb=4,
            smoke_ok='package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("ok") }\n',
            smoke_fail='package main\n\nfunc main() { panic("self-test failure") }\n',
        ),
        Language(
            name="rust",
            aliases=("rs",),
            extension=".rs",
            tree_sitter_grammar="rust",
            compile_argv=("rustc", "--edition", "2021", "-C", "opt-level=1", "-C",
                          "debuginfo=0", "-o", "{exe}", "{src}"),
            run_argv=("{exe}",),
            image="codetrans-sandbox/rust:1",
            version_argv=("rustc", "--version"),
            path=("/opt/rust/bin", "/usr/local/cargo/bin"),
            mounts=(("~/.rustup/toolchains/stable-*", "/opt/rust"),),
            env=(("RUSTUP_HOME", "/usr/local/rustup"),),  # for the production image's rustc
            batch_link_once="rust",
            batch_artifact_mb=6,
            memory_markers=("memory allocation of",),
            smoke_ok='fn main() {\n    println!("ok");\n}\n',
            smoke_fail='fn main() {\n    assert_eq!(1 + 1, 3, "self-test failure");\n}\n',
        ),
        Language(
            name="php",
            extension=".php",
            tree_sitter_grammar="php",
            run_argv=("php", "-n", "-d", "memory_limit={heap_mb}M", "-d", "display_errors=stderr",
                      "{src}"),
            image="codetrans-sandbox/php:1",
            version_argv=("php", "--version"),
            memory_markers=("Allowed memory size of",),
            smoke_ok="<?php\necho \"ok\\n\";\n",
            smoke_fail="<?php\nthrow new Exception('self-test failure');\n",
        ),
        Language(
            name="ruby",
            aliases=("rb",),
            extension=".rb",
            tree_sitter_grammar="ruby",
            run_argv=("ruby", "--disable-gems", "{src}"),
            image="codetrans-sandbox/ruby:1",
            version_argv=("ruby", "--version"),
            memory_markers=("NoMemoryError", "failed to allocate memory"),
            smoke_ok="puts 'ok'\n",
            smoke_fail="raise 'self-test failure'\n",
        ),
    )
}

_ALIASES: dict[str, str] = {
    key: lang.name for lang in LANGUAGES.values() for key in (lang.name, *lang.aliases)
}


def resolve_language(name: str) -> Language:
    """The entry for ``name`` or one of its aliases (case-insensitive); ValueError otherwise."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in _ALIASES:
        valid = ", ".join(sorted(LANGUAGES))
        raise ValueError(f"unknown language {name!r}; valid: {valid} (or their aliases)")
    return LANGUAGES[_ALIASES[key]]
