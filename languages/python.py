"""Python: the source language of CodeSearchNet-style pairs with tests, and a target."""

from languages.spec import Install, LanguageSpec, Mining, Prompt, Replies, Toolchain

LANGUAGE = LanguageSpec(
    name="python",
    aliases=("py", "python3"),
    display_name="Python",
    extension=".py",
    tree_sitter_grammar="python",
    harness="pipeline.harness.python",
    toolchain=Toolchain(
        run_argv=("python3", "-I", "-S", "-B", "{src}"),
        version_argv=("python3", "--version"),
        memory_markers=("MemoryError",),
        smoke_ok="print('ok')\n",
        smoke_fail="assert 1 + 1 == 3, 'self-test failure'\n",
    ),
    install=Install(debian=("python3",)),
    prompt=Prompt(
        notes="Write a top-level Python 3 function with type hints; put imports above it.",
        static_types=False,
    ),
    replies=Replies(
        tags=("py", "python3", "py3"),
        dialect_tags=("python2",),
        defines=r"^[ \t]*(?:async[ \t]+)?def[ \t]+(?:{name})[ \t]*\(",
        header_line=r"(?:import\s+\S.*|from\s+\S+\s+import\s+.+)",
    ),
    mining=Mining(
        extensions=(".py",),
        test_file=r"^test_.*\.py$|.*_test\.py$|^conftest\.py$",
        definitions=("function_definition",),
        doc="docstring",
        override="decorator",
    ),
)
