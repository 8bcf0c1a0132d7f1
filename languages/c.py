"""C (GNU C11): a target and a mined source language (the C-family walker)."""

from languages.spec import Install, LanguageSpec, Mining, Prompt, Replies, Toolchain

LANGUAGE = LanguageSpec(
    name="c",
    display_name="C",
    extension=".c",
    tree_sitter_grammar="c",
    harness="pipeline.harness.c",
    toolchain=Toolchain(
        compile_argv=("gcc", "-std=gnu11", "-O1", "-pipe", "-o", "{exe}", "{src}", "-lm"),
        run_argv=("{exe}",),
        version_argv=("gcc", "--version"),
        smoke_ok='#include <stdio.h>\nint main(void) { puts("ok"); return 0; }\n',
        smoke_fail="#include <assert.h>\nint main(void) { assert(1 + 1 == 3); return 0; }\n",
    ),
    install=Install(debian=("gcc", "libc6-dev")),
    prompt=Prompt(
        notes="Write a C99 function with the #include lines it needs; no main().", static_types=True
    ),
    replies=Replies(
        tags=("h", "c99", "c11"),
        dialect_tags=("cpp", "c++", "cc", "h"),
        defines=r"\b(?:{name})[ \t]*\([^;{{}}]*\)[ \t\n]*\{{",
        header_line=r"(?:#\s*(?:include|define|pragma)\b.*)",
        prototypes=True,
    ),
    mining=Mining(
        # a .h header is C unless its text has C++-only lines (``cpp``'s ``header_text``)
        extensions=(".c", ".h"),
        test_file=r"^test_.*\.c$|.*_test\.c$|.*_unittest\.c$",
        definitions=("function_definition",),
        walker="c",
    ),
)
