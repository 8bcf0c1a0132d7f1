"""PHP 8: a target and a mined source language."""

from languages.spec import Install, LanguageSpec, Mining, Parsing, Prompt, Replies, Toolchain

LANGUAGE = LanguageSpec(
    name="php",
    display_name="PHP",
    extension=".php",
    tree_sitter_grammar="php",
    harness="pipeline.harness.php",
    toolchain=Toolchain(
        run_argv=(
            "php",
            "-n",
            "-d",
            "memory_limit={heap_mb}M",
            "-d",
            "display_errors=stderr",
            "{src}",
        ),
        version_argv=("php", "--version"),
        memory_markers=("Allowed memory size of",),
        smoke_ok='<?php\necho "ok\\n";\n',
        smoke_fail="<?php\nthrow new Exception('self-test failure');\n",
    ),
    install=Install(debian=("php-cli",)),
    prompt=Prompt(
        notes="Write a PHP function starting with `<?php`; no class unless the source is a method.",
        static_types=False,
    ),
    replies=Replies(
        tags=("php7", "php8"),
        defines=r"\bfunction[ \t]+&?[ \t]*(?:{name})[ \t]*\(",
        header_line=r"(?:<\?php|\?>|use\s+[\w\\]+(?:\s+as\s+\w+)?;|(?:require|include)(?:_once)?\s*\(?.+\)?;|declare\(.+\);)",
    ),
    # without ``<?php`` the grammar reads the code as inline HTML and accepts anything
    parsing=Parsing(
        open_tag=("<?", "<?php\n"), class_wrapper=("<?php class __ParseCheck__ {\n", "\n}\n")
    ),
    mining=Mining(
        extensions=(".php",),
        test_file="",
        definitions=("function_definition", "method_declaration"),
        doc="block",
        magic_prefix=True,
        override="attribute",
    ),
)
