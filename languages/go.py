"""Go 1.19: a target and a mined source language."""

from languages.spec import Install, LanguageSpec, Mining, Prompt, Replies, Toolchain

LANGUAGE = LanguageSpec(
    name="go",
    aliases=("golang",),
    display_name="Go",
    extension=".go",
    tree_sitter_grammar="go",
    harness="pipeline.harness.go",
    toolchain=Toolchain(
        compile_argv=("go", "build", "-o", "{exe}", "{src}"),
        run_argv=("{exe}",),
        version_argv=("go", "version"),
        path=("/usr/lib/go-1.19/bin", "/usr/local/go/bin"),
        env=(
            ("GOCACHE", "{dir}/.gocache"),
            ("GOPATH", "{dir}/.gopath"),
            ("GO111MODULE", "off"),
            ("GOFLAGS", "-buildvcs=false"),
            ("CGO_ENABLED", "0"),
            ("GOTOOLCHAIN", "local"),
        ),
        nproc=128,
        memory_markers=("runtime: out of memory",),
        batch_compile_env=(("GOCACHE", "/work/.batch-gocache"),),
        batch_link_once="go",
        batch_artifact_mb=4,
        smoke_ok='package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("ok") }\n',
        smoke_fail='package main\n\nfunc main() { panic("self-test failure") }\n',
    ),
    install=Install(debian=("golang-go",)),
    prompt=Prompt(
        notes="Write a Go function with the import block it needs; no package clause, no main().",
        static_types=True,
    ),
    replies=Replies(
        tags=("golang",),
        defines=r"\bfunc[ \t]+(?:\([^)]*\)[ \t]*)?(?:{name})[ \t]*[\[(]",
        header_line=r"(?:package\s+\w+|import\s+(?:\w+\s+)?\"[^\"]+\"|import\s*\(|(?:\w+\s+)?\"[^\"]+\"|\))",
    ),
    mining=Mining(
        extensions=(".go",),
        test_file=r".*_test\.go$",
        definitions=("function_declaration", "method_declaration"),
        doc="line",
        line_marker="//",
        excluded_names=("String", "Error", "GoString"),
        owner="receiver",
    ),
)
