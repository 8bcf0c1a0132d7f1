"""Ruby 3: a target and a mined source language."""

from languages.spec import Install, LanguageSpec, Mining, Prompt, Replies, Toolchain

LANGUAGE = LanguageSpec(
    name="ruby",
    aliases=("rb",),
    display_name="Ruby",
    extension=".rb",
    tree_sitter_grammar="ruby",
    harness="pipeline.harness.ruby",
    toolchain=Toolchain(
        run_argv=("ruby", "--disable-gems", "{src}"),
        version_argv=("ruby", "--version"),
        memory_markers=("NoMemoryError", "failed to allocate memory"),
        smoke_ok="puts 'ok'\n",
        smoke_fail="raise 'self-test failure'\n",
    ),
    install=Install(debian=("ruby",)),
    prompt=Prompt(notes="Write a top-level Ruby method (def ... end).", static_types=False),
    replies=Replies(
        tags=("rb",),
        defines=r"^[ \t]*def[ \t]+(?:self\.)?(?:{name})\b",
        header_line=r"(?:require(?:_relative)?\s+.+)",
    ),
    mining=Mining(
        extensions=(".rb",),
        test_file=r".*_test\.rb$|.*_spec\.rb$",
        definitions=("method", "singleton_method"),
        doc="line",
        line_marker="#",
        excluded_names=("initialize", "to_s", "inspect", "hash", "eql?", "==", "<=>", "to_str"),
    ),
)
