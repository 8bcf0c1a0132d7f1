"""Every flag of the data-side CLIs is run through its CLI by some test (issue 21, item 4);
``python -m pipeline.run``'s --help lists each flag once, by stage, docs/flags.md is that list,
and a flag nobody knows stops the run.

A tripwire, not the proof: the flags are read from each parser's source, and a flag counts as
tested when a test module that imports that CLI passes it (``"--flag"`` or ``--flag=``). What
each flag changes is asserted by the tests the table in docs/testing.md names. A new flag
without a test fails here; so does a flag dropped from a parser while still listed as pending.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: CLI module -> "module:function" returning the parser that declares its flags. The pipeline's
#: flags are declared on the stage configs (pipeline/settings.py) and assembled by
#: pipeline/options.py; the release CLI builds and parses in one function, read from its source.
PARSERS = {
    "pipeline.run": "pipeline.options:help_parser",
    "pipeline.dedup": "pipeline.dedup:parser",
    "pipeline.release": "pipeline/release.py",
    "sandboxes.run": "sandboxes.run:_parser",
}
#: Flags whose CLI test is still to be written, per CLI (none today: every flag has one).
PENDING: dict[str, set[str]] = {}


def declared_flags(cli: str) -> list[str]:
    where = PARSERS[cli]
    if ":" in where:
        module, function = where.split(":")
        parser = getattr(importlib.import_module(module), function)()
        return [
            s
            for action in parser._actions
            for s in action.option_strings
            if s.startswith("--") and s != "--help"
        ]
    text = (ROOT / where).read_text(encoding="utf-8")
    return re.findall(r'add(?:_argument)?\(\s*"(--\w+)"', text)


def flags_passed_by_tests(cli: str) -> set[str]:
    flags: set[str] = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        text = path.read_text(encoding="utf-8")
        if path.resolve() != Path(__file__).resolve() and re.search(rf"\b{re.escape(cli)}\b", text):
            flags.update(re.findall(r"""["'](--\w+)(?=[="'])""", text))
    return flags


@pytest.mark.parametrize("cli", sorted(PARSERS))
def test_every_flag_runs_through_its_cli(cli):
    declared = declared_flags(cli)
    assert declared, f"no flags found in {PARSERS[cli]}: the pattern no longer matches"
    pending = PENDING.get(cli, set())
    assert pending <= set(declared), f"pending flags no longer in {cli}: {pending - set(declared)}"
    untested = [
        flag for flag in declared if flag not in flags_passed_by_tests(cli) and flag not in pending
    ]
    assert untested == [], f"{cli} flags no test passes to its CLI: {untested}"


def test_pipeline_help_lists_every_flag_once_grouped_by_stage():
    from pipeline.options import GROUPS, help_parser
    from pipeline.settings import flags_of

    out = subprocess.run(
        [sys.executable, "-m", "pipeline.run", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    flags = declared_flags("pipeline.run")
    assert len(flags) == len(set(flags))
    for flag in flags:  # once in the option list (the usage line names it too)
        assert len(re.findall(rf"^\s+{flag}\b", out, flags=re.M)) == 1, flag
    titles = [group.title for group in help_parser()._action_groups]
    for title, config in GROUPS:
        assert f"\n{title}:\n" in out
        group = help_parser()._action_groups[titles.index(title)]
        assert [a.option_strings[0] for a in group._group_actions] == [
            f"--{f.name}" for _, f in flags_of(config)
        ]


def test_docs_flag_list_is_the_help():
    from pipeline.options import flags_markdown

    assert (ROOT / "docs" / "flags.md").read_text(encoding="utf-8") == flags_markdown(), (
        "docs/flags.md is stale: python -m pipeline.options > docs/flags.md"
    )
    documented = re.findall(r"^\| `(--\w+)`", flags_markdown(), flags=re.M)
    assert documented == declared_flags("pipeline.run")


def test_a_misspelled_flag_stops_the_run_with_a_did_you_mean(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.run",
            "--target_langauges=go",
            "--runner=DirectRunner",
            f"--output={tmp_path / 'out'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == (
        "error: unrecognized flag --target_langauges; did you mean --target_languages?"
    )
    assert "Traceback" not in run.stderr and not (tmp_path / "out").exists()


def test_beam_runner_flags_are_not_unknown():
    from pipeline.options import unknown_flags

    assert (
        unknown_flags(
            [
                "--runner=DataflowRunner",
                "--project=p",
                "--region",
                "r",
                "--flink_master=h:1",
                "--spark_master_url=spark://h",
                "--direct_num_workers=2",
                "--experiments=a",
                "--experiments=b",
                "--target_languages=go",
                "--emit_repo_corpus",
            ]
        )
        is None
    )
    assert (
        unknown_flags(["--num_shard=2"])
        == "unrecognized flag --num_shard; did you mean --num_shards?"
    )


def test_one_default_per_setting():
    """The dedup CLI and the pipeline read the same MinHash defaults and seed."""
    from pipeline.dedup import parser as dedup_parser
    from pipeline.minhash import MinHashConfig
    from pipeline.options import help_parser
    from pipeline.settings import DEFAULT_SEED
    from pipeline.splits import SplitConfig
    from pipeline.translate.base import TranslateConfig

    dedup = vars(dedup_parser().parse_args(["--input=x", "--output=y"]))
    run = vars(help_parser().parse_args([]))
    assert (dedup["threshold"], dedup["num_perm"], dedup["ngram"], dedup["seed"]) == (
        run["dedup_threshold"],
        run["num_perm"],
        run["ngram"],
        run["seed"],
    )
    m = MinHashConfig()
    assert (m.threshold, m.num_perm, m.ngram, m.seed) == (0.7, 256, 5, DEFAULT_SEED)
    assert SplitConfig().seed == TranslateConfig().seed == run["seed"] == DEFAULT_SEED


def test_a_misspelled_dedup_flag_stops_the_dedup_cli(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.dedup",
            "--input=x.jsonl",
            f"--output={tmp_path / 'o'}",
            "--thresold=0.5",
            "--direct_num_workers=1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (run.returncode, run.stderr.strip()) == (
        2,
        "error: unrecognized flag --thresold; did you mean --threshold?",
    )


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--dedup_threshold=1.5", "error: --dedup_threshold must be in (0, 1), got 1.5"),
        ("--num_samples=0", "error: --num_samples must be >= 1, got 0"),
        (
            "--split_fractions=1,1",
            "error: --split_fractions must be three non-negative numbers summing to 1, got '1,1'",
        ),
    ],
)
def test_a_bad_value_is_named_by_its_flag(flag, message, tmp_path):
    from pipeline.run import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main([flag, "--sandbox=none", f"--output={tmp_path / 'out'}"]) == 2
    assert err.getvalue().strip() == message
