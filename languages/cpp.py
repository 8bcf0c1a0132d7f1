"""C++17: a target and a mined source language (the C-family walker)."""

from languages.spec import Install, LanguageSpec, Mining, Prompt, Replies, Toolchain

LANGUAGE = LanguageSpec(
    name="cpp",
    aliases=("c++", "cxx", "cc"),
    display_name="C++",
    extension=".cpp",
    tree_sitter_grammar="cpp",
    harness="pipeline.harness.cpp",
    toolchain=Toolchain(
        compile_argv=("g++", "-std=c++17", "-O1", "-pipe", "-o", "{exe}", "{src}", "-lm"),
        run_argv=("{exe}",),
        # same -std/-O as compile_argv, or GCC ignores the PCH (and uses the header)
        batch_pch_argv=("g++", "-std=c++17", "-O1", "-x", "c++-header", "-o", "{out}", "{header}"),
        batch_compile_env=(("CPLUS_INCLUDE_PATH", "/work/.batch-pch"),),
        batch_artifact_mb=1,
        version_argv=("g++", "--version"),
        memory_markers=("std::bad_alloc",),
        smoke_ok='#include <iostream>\nint main() { std::cout << "ok" << std::endl; }\n',
        smoke_fail="#include <cassert>\nint main() { assert(1 + 1 == 3); }\n",
    ),
    install=Install(debian=("g++",)),
    prompt=Prompt(
        notes="Write a free C++17 function with the #include lines it needs; no main().",
        static_types=True,
    ),
    replies=Replies(
        tags=("c++", "cc", "cxx", "hpp", "hxx"),
        dialect_tags=("c", "h"),
        defines=r"\b(?:{name})[ \t]*(?:<[^;{{}}]*>)?[ \t]*\([^;{{}}]*\)[^;{{}}]*\{{",
        header_line=r"(?:#\s*(?:include|define|pragma)\b.*|using\s+(?:namespace\s+)?[\w:]+\s*;)",
        prototypes=True,
    ),
    mining=Mining(
        extensions=(".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx"),
        test_file=r"^test_.*\.(cc|cpp)$|.*_test\.(cc|cpp)$|.*_unittest\.(cc|cpp)$",
        definitions=("function_definition",),
        walker="c",
        header_text=(
            r"^\s*(?:namespace\s+[\w:]*\s*\{|template\s*<|(?:class|struct)\s+\w+\s*(?:final\s*)?:\s*"
            r"(?:public|private|protected)\b|class\s+\w+\s*\{|(?:public|private|protected)\s*:|"
            r"using\s+namespace\b|#\s*include\s*<[a-z_]+>\s*$|extern\s+\"C\+\+\")"
        ),
    ),
)
