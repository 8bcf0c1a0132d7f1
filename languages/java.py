"""Java 17: a target (a method of ``public class Solution``) and a mined source language."""

from languages.spec import Install, LanguageSpec, Mining, Parsing, Prompt, Replies, Toolchain

#: JVM flags for short programs: one GC thread, no JIT tiers beyond C1, class data sharing.
_JVM = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-XX:-UsePerfData")

LANGUAGE = LanguageSpec(
    name="java",
    display_name="Java",
    extension=".java",
    tree_sitter_grammar="java",
    harness="pipeline.harness.java",
    toolchain=Toolchain(
        file_name="{class}{ext}",
        class_pattern=r"^\s*public\s+(?:final\s+|abstract\s+)*class\s+([A-Za-z_$][\w$]*)",
        compile_argv=(
            "javac",
            *("-J" + flag for flag in _JVM),
            "-J-Xmx384m",
            "-encoding",
            "UTF-8",
            "-nowarn",
            "-d",
            ".",
            "{src}",
        ),
        run_argv=("java", *_JVM, "-Xmx{heap_mb}m", "-Xss16m", "-cp", ".", "{stem}"),
        version_argv=("java", "-version"),
        path=("/usr/lib/jvm/java-17-openjdk-amd64/bin", "/opt/java/openjdk/bin"),
        mounts=(("/etc/java-17-openjdk", "/etc/java-17-openjdk"),),  # Debian's conf links
        timeout_s=15.0,
        time_factor=1.5,
        memory_mb=1024,
        nproc=128,
        memory_markers=("java.lang.OutOfMemoryError",),
        batch_compiler=(
            "java",
            *_JVM,
            "-Xmx384m",
            "{agent_dir}/BatchJavac.java",
            "-encoding",
            "UTF-8",
            "-nowarn",
            "--",
        ),
        batch_artifact_mb=1,
        smoke_ok="public class Main {\n  public static void main(String[] a) {\n"
        '    System.out.println("ok");\n  }\n}\n',
        smoke_fail="public class Main {\n  public static void main(String[] a) {\n"
        '    throw new RuntimeException("self-test failure");\n  }\n}\n',
    ),
    install=Install(debian=("default-jdk-headless",)),
    prompt=Prompt(
        notes="Write a public static method inside `public class Solution`, with the imports it needs.",
        static_types=True,
    ),
    replies=Replies(
        dialect_tags=("kotlin",),
        defines=r"\b(?:{name})[ \t]*\([^;{{}}]*\)[ \t\n]*(?:throws[^{{;]*)?\{{",
        header_line=r"(?:import\s+[\w.*]+\s*;|package\s+[\w.]+\s*;)",
    ),
    parsing=Parsing(class_wrapper=("class __ParseCheck__ {\n", "\n}\n")),
    mining=Mining(
        extensions=(".java",),
        test_file=r".*Tests?\.java$",
        definitions=("method_declaration", "constructor_declaration"),
        doc="block",
        excluded_names=("toString", "hashCode", "equals", "compareTo", "clone", "finalize"),
        override="annotation",
    ),
)
