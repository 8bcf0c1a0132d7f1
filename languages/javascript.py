"""JavaScript (Node.js, CommonJS): a target and a mined source language."""

from languages.spec import Install, LanguageSpec, Mining, Parsing, Prompt, Replies, Toolchain

#: A class method (``async get name(...) {``) rather than a function at the start of the code.
METHOD = r"^\s*(static\s+)?(async\s+)?(\*\s*)?((get|set)\s+)?(?!function\b)[A-Za-z_$#][\w$]*\s*\("

LANGUAGE = LanguageSpec(
    name="javascript",
    aliases=("js", "node", "nodejs"),
    display_name="JavaScript",
    extension=".js",
    tree_sitter_grammar="javascript",
    harness="pipeline.harness.javascript",
    toolchain=Toolchain(
        run_argv=("node", "--max-old-space-size={heap_mb}", "{src}"),
        version_argv=("node", "--version"),
        memory_mb=1024,
        nproc=64,
        memory_markers=("JavaScript heap out of memory",),
        smoke_ok="console.log('ok');\n",
        smoke_fail="throw new Error('self-test failure');\n",
    ),
    install=Install(debian=("nodejs",)),
    prompt=Prompt(
        notes="Write a top-level JavaScript function declaration (no module exports, no classes).",
        static_types=False,
    ),
    replies=Replies(
        tags=("js", "node", "nodejs", "jsx", "mjs", "cjs", "ecmascript"),
        dialect_tags=("typescript", "ts", "tsx"),
        defines=r"(?:\bfunction\b[ \t]*\*?[ \t]*(?:{name})[ \t]*\(|\b(?:const|let|var)[ \t]+(?:{name})[ \t]*=|"
        r"^[ \t]*(?:static[ \t]+|async[ \t]+)*(?:{name})[ \t]*\([^)]*\)[ \t]*\{{)",
        header_line=r"(?:import\s.+|(?:const|let|var)\s+.+=\s*require\(.+\);?|['\"]use strict['\"];?)",
    ),
    parsing=Parsing(class_wrapper=("class __ParseCheck__ {\n", "\n}\n"), method_first=METHOD),
    mining=Mining(
        extensions=(".js", ".mjs", ".cjs"),
        test_file=r".*\.(test|spec)\.[cm]?js$",
        definitions=(
            "function_declaration",
            "generator_function_declaration",
            "method_definition",
            "variable_declarator",
        ),
        doc="block",
        excluded_names=("constructor", "toString", "valueOf", "toJSON"),
    ),
)
