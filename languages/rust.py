"""Rust (edition 2021, standard library only): a target and a mined source language."""

from languages.spec import Install, LanguageSpec, Mining, Prompt, Replies, Toolchain

LANGUAGE = LanguageSpec(
    name="rust",
    aliases=("rs",),
    display_name="Rust",
    extension=".rs",
    tree_sitter_grammar="rust",
    harness="pipeline.harness.rust",
    toolchain=Toolchain(
        compile_argv=(
            "rustc",
            "--edition",
            "2021",
            "-C",
            "opt-level=1",
            "-C",
            "debuginfo=0",
            "-o",
            "{exe}",
            "{src}",
        ),
        run_argv=("{exe}",),
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
    # rustup's pinned toolchain (docker/Dockerfile.worker), or Debian's rustc with
    # RUST_SOURCE=debian; development machines bring their own.
    install=Install(),
    prompt=Prompt(
        notes="Write a Rust `fn` using only the standard library (no crates); no main().",
        static_types=True,
    ),
    replies=Replies(
        tags=("rs",),
        defines=r"\bfn[ \t]+(?:{name})[ \t]*[<(]",
        header_line=r"(?:use\s+[\w:{}, *]+;|extern\s+crate\s+\w+;)",
    ),
    mining=Mining(
        extensions=(".rs",),
        test_file=r".*_test\.rs$|^tests?\.rs$",  # tests.rs: `mod tests;` out of line
        definitions=("function_item",),
        walker="rust",
    ),
)
