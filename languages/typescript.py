"""TypeScript: compiled by ``tsc`` (strict) to CommonJS and run on Node.js.

Node 20 cannot run TypeScript itself, so the compile step is ``tsc`` (npm's ``typescript``,
with ``@types/node`` for Node's globals), installed outside ``/usr`` at ``/opt/codetrans/typescript``
on hosts (``scripts/install_system_deps.sh``), in the worker image and in the production
image, and bound read-only into sandboxes at the same path. Programs are compiled with
``--strict --noEmitOnError``: a translation that does not type-check is a ``compile_error``,
as it would be in any TypeScript project. Every harness program ends with ``export {}``, so
its top-level names are the module's own and never clash with Node's or ES globals.
"""

from languages.spec import Install, LanguageSpec, Mining, Parsing, Prompt, Replies, Toolchain

#: Where tsc and Node's type declarations live (host, worker and production image alike).
PREFIX = "/opt/codetrans/typescript"
_MODULES = f"{PREFIX}/node_modules"
_TSC = f"{_MODULES}/typescript/lib/tsc.js"
#: ``node -e`` program: tsc's command line (``process.argv`` after ``--``), stdout sent to stderr.
_TSC_ON_STDERR = (
    "process.stdout.write = process.stderr.write.bind(process.stderr); "
    f"process.argv.splice(1, 0, 'tsc'); require('{_TSC}')"
)

#: A class method (``public static async name(...) {``) at the start of the code.
METHOD = (
    r"^\s*((public|private|protected|static|readonly|override|abstract|async)\s+)*(\*\s*)?"
    r"((get|set)\s+)?(?!function\b)[A-Za-z_$#][\w$]*\s*(<[^>(]*>)?\s*\("
)

LANGUAGE = LanguageSpec(
    name="typescript",
    aliases=("ts",),
    display_name="TypeScript",
    extension=".ts",
    tree_sitter_grammar="typescript",
    harness="pipeline.harness.typescript",
    toolchain=Toolchain(
        # tsc prints its diagnostics on stdout: this runs it with them on stderr, where every
        # compiler's go (the verdict's detail).
        compile_argv=(
            "node",
            "-e",
            _TSC_ON_STDERR,
            "--",
            "--strict",
            "--noEmitOnError",
            "--skipLibCheck",
            "--target",
            "es2022",
            "--module",
            "commonjs",
            "--lib",
            "es2022",
            "--types",
            "node",
            "--typeRoots",
            f"{_MODULES}/@types",
            "{src}",
        ),
        run_argv=("node", "--max-old-space-size={heap_mb}", "{stem}.js"),
        version_argv=(
            "node",
            "-p",
            f"'node ' + process.version + ', tsc ' + "
            f"require('{_MODULES}/typescript/package.json').version",
        ),
        mounts=((PREFIX, PREFIX),),
        compile_timeout_s=60.0,
        memory_mb=1024,
        memory_markers=("JavaScript heap out of memory",),
        smoke_ok="console.log('ok');\nexport {};\n",
        smoke_fail="throw new Error('self-test failure');\nexport {};\n",
    ),
    install=Install(
        debian=("nodejs", "npm"),
        npm=("typescript@5.9.3", "@types/node@20.19.43"),
        npm_prefix=PREFIX,
    ),
    prompt=Prompt(
        notes="Write a top-level TypeScript function declaration with types on every parameter "
        "and on the result (it must compile with `tsc --strict`); no module exports, no classes.",
        static_types=True,
    ),
    replies=Replies(
        tags=("ts", "mts", "cts", "tsx"),
        dialect_tags=("javascript", "js"),
        defines=r"(?:\bfunction\b[ \t]*\*?[ \t]*(?:{name})[ \t]*(?:<[^>(]*>)?[ \t]*\(|"
        r"\b(?:const|let|var)[ \t]+(?:{name})[ \t]*[=:]|"
        r"^[ \t]*(?:(?:public|private|protected|static|async|readonly|override)[ \t]+)*(?:{name})"
        r"[ \t]*(?:<[^>(]*>)?[ \t]*\([^)]*\)[ \t]*(?::[^{{;]*)?\{{)",
        header_line=r"(?:import\s.+|(?:const|let|var)\s+.+=\s*require\(.+\);?|['\"]use strict['\"];?)",
    ),
    parsing=Parsing(class_wrapper=("class __ParseCheck__ {\n", "\n}\n"), method_first=METHOD),
    mining=Mining(
        extensions=(".ts", ".mts", ".cts"),
        test_file=r".*\.(test|spec)\.[cm]?ts$",
        definitions=(
            "function_declaration",
            "generator_function_declaration",
            "method_definition",
            "variable_declarator",
        ),
        doc="block",
        excluded_names=("constructor", "toString", "valueOf", "toJSON"),
        override="modifier",
    ),
)
