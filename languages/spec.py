"""What one language entry of the registry holds: its toolchain, prompting, reply and mining rules.

Plain frozen dataclasses and small pure functions, nothing imported from the rest of the
project: the sandbox (which imports nothing else of ours) reads the toolchain part, the
pipeline reads the rest. Each field says which part of the project reads it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

#: Directories searched for commands inside every sandbox, after the toolchain's own ``path``.
BASE_PATH: tuple[str, ...] = ("/usr/local/bin", "/usr/bin", "/bin")


@dataclass(frozen=True)
class Toolchain:
    """How the sandbox compiles and runs a program of the language (``sandboxes/``).

    Commands are argv tuples run inside the sandbox with the work dir as the current
    directory. Placeholders: ``{src}`` (the main file's name), ``{stem}`` (its name without
    extension, e.g. the Java class), ``{exe}`` (the compiled program, ``./main``),
    ``{heap_mb}`` (3/4 of the memory limit: the JVM, node and PHP then report their own
    out-of-memory error instead of being killed by the cgroup). Commands are looked up on
    ``path`` inside the sandbox, so one entry works with the host toolchains mounted
    read-only (offline image, bubblewrap) and with the production images of
    ``sandboxes/docker``.

    ``name``, ``aliases``, ``extension`` and ``tree_sitter_grammar`` are the language's own
    (:class:`LanguageSpec` fills them in); the sandbox reads them from here.

    Attributes:
        run_argv: command that runs the program.
        version_argv: prints the toolchain version (verdict cache keys).
        smoke_ok / smoke_fail: the self-test's passing and failing programs (MultiPL-E's
            ``--testing`` mode): the first must print ``ok`` and exit 0, the second must fail.
        image: production image built from ``sandboxes/docker/Dockerfile.<name>``
            (default ``codetrans-sandbox/<name>:1``).
        file_name: main file name; ``{class}`` is replaced by the public class the source
            declares (``class_pattern``), or ``default_class``.
        compile_argv: compiler command, ``None`` for interpreted languages.
        timeout_s: default wall-clock limit of the run step, in seconds.
        compile_timeout_s: wall-clock limit of the compile step.
        time_factor: multiplies a caller's ``timeout_s`` (the JVM starts slowly).
        memory_mb: default memory limit (cgroup) for compile and run.
        nproc: process/thread limit (JVMs and Go start many threads).
        path: extra directories searched for commands, before ``BASE_PATH``.
        env: extra environment; ``{dir}`` is the run's work dir.
        mounts: (host glob, sandbox path) toolchains bound read-only where the host's
            toolchains are used (e.g. rustup's toolchain, which lives under root's 0700 home;
            tsc, installed by ``scripts/install_system_deps.sh`` outside ``/usr``).
        memory_markers: stderr text of the runtime's own out-of-memory error.
        batch_compiler: a compile server that compiles a whole batch in one process (argv,
            the batch's source paths appended; it writes ``.compile.rc``/``.compile.err`` into
            each program's dir). ``{agent_dir}`` is the agent's directory.
        batch_compile_env: environment shared by a batch's compiles (Go's build cache).
        batch_pch_argv: builds a precompiled header ``{out}`` for system header ``{header}``
            during a batch compile, for headers that two or more programs of the batch
            include first; the compiler finds it through ``batch_compile_env``'s include path
            and falls back to the real header whenever the PCH does not apply.
        batch_link_once: the agent's way to link a batch's programs into ONE binary that runs
            each of them by name (``"go"``, ``"rust"``); programs it can't take safely are
            compiled alone.
        batch_artifact_mb: memory headroom per program for what a batch compile leaves on
            the work tmpfs until the program runs.
    """

    run_argv: tuple[str, ...]
    version_argv: tuple[str, ...]
    smoke_ok: str
    smoke_fail: str
    name: str = ""
    extension: str = ""
    tree_sitter_grammar: str = ""
    image: str = ""
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
        return self.compiled and (
            self.batch_compiler is not None
            or bool(self.batch_compile_env)
            or self.batch_pch_argv is not None
            or self.batch_link_once is not None
        )

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


def expand(
    toolchain: Toolchain, argv: tuple[str, ...], source_file: str, memory_mb: int
) -> list[str]:
    """``argv`` with the placeholders of :class:`Toolchain` filled in."""
    stem = source_file.rsplit(".", 1)[0]
    values = {
        "src": source_file,
        "stem": stem,
        "exe": "./main",
        "heap_mb": str(toolchain.heap_mb(memory_mb)),
    }
    out = []
    for arg in argv:
        for key, value in values.items():
            arg = arg.replace("{" + key + "}", value)
        out.append(arg)
    return out


@dataclass(frozen=True)
class Install:
    """How the toolchain gets onto a machine; checked against the install scripts and images.

    Attributes:
        debian: Debian packages that provide it (``docker/Dockerfile.worker`` installs them;
            ``scripts/install_system_deps.sh`` installs those it names when missing).
        npm: pinned npm packages (``name@version``), installed with ``npm install --prefix
            npm_prefix`` by ``scripts/install_system_deps.sh``, the worker image and the
            language's production image.
        npm_prefix: where the host's copy lives (the toolchain's ``mounts`` bind it).
        image_prefix: where the production image and the sandbox see it.
    """

    debian: tuple[str, ...] = ()
    npm: tuple[str, ...] = ()
    npm_prefix: str | None = None
    image_prefix: str | None = None


@dataclass(frozen=True)
class Prompt:
    """How a model is asked for the language (``pipeline/translate/prompts.py``).

    Attributes:
        notes: what a translation into the language should look like (only the function(s)
            and the imports they need, no main, no tests), so the harness can call it.
        static_types: a statically typed language: leaving a dynamically typed one for it,
            the model is asked to infer precise static types.
        fence_tag: the tag of the code block the model is asked to answer with
            (default: the language's name).
    """

    notes: str
    static_types: bool
    fence_tag: str = ""


@dataclass(frozen=True)
class Replies:
    """How code in the language is found in a model's reply (``pipeline/translate/extract.py``).

    Attributes:
        tags: fence tags models use for it (lower case; the name and ``fence_tag`` are added).
        dialect_tags: tags of a neighbouring dialect that models use for its code
            (``typescript`` on JavaScript code); such a block counts as the language's.
        defines: a regex that matches a definition of the function ``{name}`` (a regex of
            the name variants the harness accepts; literal braces doubled).
        header_line: a regex of one line a header-only block may hold (imports, includes,
            package clauses): such blocks before the kept one are joined in front of it.
        prototypes: C-style prototypes (``int f(int);``) count as header lines and are kept
            when the code calls the function before defining it.
    """

    tags: tuple[str, ...] = ()
    dialect_tags: tuple[str, ...] = ()
    defines: str | None = None
    header_line: str | None = None
    prototypes: bool = False


@dataclass(frozen=True)
class Parsing:
    """Parse-check rules for function-level snippets (``pipeline/parse_check.py``).

    Attributes:
        open_tag: (marker, text): ``text`` is prepended when the code does not start with
            ``marker`` (PHP's ``<?php``: without it the grammar reads the code as inline HTML
            and accepts anything).
        class_wrapper: (prefix, suffix) tried when the bare code does not parse: a method
            outside its class.
        method_first: a regex of a method (not a function) at the start of the code: it is
            parsed inside ``class_wrapper`` first.
    """

    open_tag: tuple[str, str] | None = None
    class_wrapper: tuple[str, str] | None = None
    method_first: str | None = None


@dataclass(frozen=True)
class Mining:
    """How documented functions are mined from source files (``pipeline/sources/``).

    Attributes:
        extensions: file extensions of the language in a repository (``repo:``).
        test_file: regex of test file names (the file's base name), never mined.
        definitions: tree-sitter node types that define a function or method.
        walker: ``generic`` (a query for definitions and comments), or the C-family walkers
            ``c`` (C, C++) and ``rust`` of ``pipeline/sources/functions.py``.
        doc: where the documentation is: ``docstring`` (Python), ``block`` (the ``/** */``
            comment right before the definition: Javadoc, JSDoc, TSDoc, PHPDoc), ``line``
            (the run of ``line_marker`` comment lines right before it); the C-family walkers
            read their own.
        line_marker: the comment marker of ``line`` documentation (``//``, ``#``).
        excluded_names: constructors and standard extension methods (CodeSearchNet's rule).
        magic_prefix: names starting with ``__`` are magic methods (PHP); otherwise only
            ``__name__`` is.
        override: how an override is marked: ``annotation`` (Java ``@Override``),
            ``decorator`` (Python ``@override``), ``attribute`` (PHP ``#[\\Override]``),
            ``modifier`` (TypeScript ``override``), or None.
        owner: ``receiver`` (Go: a method's owner is its receiver type) or ``class``.
        header_text: a regex of lines only this language has: a file with another
            language's header extension (``.h``) whose text matches it is this language's.
    """

    extensions: tuple[str, ...]
    test_file: str
    definitions: tuple[str, ...]
    walker: str = "generic"
    doc: str = "block"
    line_marker: str = ""
    excluded_names: tuple[str, ...] = ()
    magic_prefix: bool = False
    override: str | None = None
    owner: str = "class"
    header_text: str | None = None


@dataclass(frozen=True)
class LanguageSpec:
    """Everything the project knows of one language: one module per language under ``languages/``.

    Attributes:
        name: canonical name (``cpp``, not ``c++``): the value of ``language1_CSN`` /
            ``language2`` and of every ``--target_languages`` entry.
        display_name: how prompts, the dataset card and the encoder's instructions write it.
        extension: the main file's extension, with the dot.
        tree_sitter_grammar: grammar name in ``tree-sitter-language-pack``.
        harness: the module that renders test programs (``pipeline.harness.<name>``), named
            here and imported by ``pipeline.harness.harness_for`` (this package imports
            nothing of the project's).
        toolchain: the sandbox's entry.
        install: how the toolchain is installed (checked against the scripts and images).
        prompt, replies, parsing, mining: see their classes.
        aliases: other names accepted for it (lower case).
    """

    name: str
    display_name: str
    extension: str
    tree_sitter_grammar: str
    harness: str
    toolchain: Toolchain
    install: Install
    prompt: Prompt
    replies: Replies
    mining: Mining
    parsing: Parsing = Parsing()
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        identity = {
            "name": self.name,
            "aliases": self.aliases,
            "extension": self.extension,
            "tree_sitter_grammar": self.tree_sitter_grammar,
            "image": self.toolchain.image or f"codetrans-sandbox/{self.name}:1",
        }
        object.__setattr__(self, "toolchain", dataclasses.replace(self.toolchain, **identity))
        if not self.prompt.fence_tag:
            object.__setattr__(
                self, "prompt", dataclasses.replace(self.prompt, fence_tag=self.name)
            )
        tags = tuple(dict.fromkeys((self.name, self.prompt.fence_tag, *self.replies.tags)))
        object.__setattr__(self, "replies", dataclasses.replace(self.replies, tags=tags))

    @property
    def fence_tag(self) -> str:
        return self.prompt.fence_tag
