"""The runner command lines in docs/scale-out.md parse into the options the user meant.

Nothing here reaches Dataflow, Spark or Flink (no cluster, no network): the check is that every
``python -m pipeline.run`` line of the guide is accepted by our CLI's option parsing (our flags
and Beam's), names the runner it claims, and carries the worker image / job endpoint flags the
guide says it needs. A typo in the guide, or a flag our options stop accepting, fails here.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import (
    DebugOptions,
    GoogleCloudOptions,
    PipelineOptions,
    PortableOptions,
    SetupOptions,
    StandardOptions,
    WorkerOptions,
)

from pipeline.options import run_config_from_options

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "scale-out.md"


def guide_commands() -> list[list[str]]:
    """Every ``python -m pipeline.run ...`` command of the guide's shell blocks, as argv."""
    text = GUIDE.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.strip()
            if "python -m pipeline.run" not in line:
                continue
            words = shlex.split(line.split("python -m pipeline.run", 1)[1])
            commands.append([re.sub(r"\$\{?(\w+)\}?", r"<\1>", w) for w in words])
    return commands


COMMANDS = guide_commands()


def _runner(argv: list[str]) -> str:
    return PipelineOptions(argv).view_as(StandardOptions).runner


def test_guide_has_a_command_per_runner():
    runners = {_runner(argv) for argv in COMMANDS}
    assert {
        "DataflowRunner",
        "SparkRunner",
        "FlinkRunner",
        "PortableRunner",
        "DirectRunner",
    } <= runners


@pytest.mark.parametrize("argv", COMMANDS, ids=[_runner(a) or "default" for a in COMMANDS])
def test_guide_command_parses(argv):
    options = PipelineOptions(argv)
    cfg = run_config_from_options(options)  # our flags: raises ValueError on a bad value
    assert cfg.num_shards >= 1
    runner = options.view_as(StandardOptions).runner
    if runner == "DataflowRunner":
        gcp = options.view_as(GoogleCloudOptions)
        assert gcp.project and gcp.region and gcp.temp_location
        assert "use_runner_v2" in (options.view_as(DebugOptions).experiments or [])
        image = options.view_as(WorkerOptions).sdk_container_image
        setup = options.view_as(SetupOptions).setup_file
        assert image or setup, "a Dataflow job needs our code on the workers"
    portable = options.view_as(PortableOptions)
    if runner == "PortableRunner":
        assert portable.job_endpoint
    if (
        runner in ("SparkRunner", "FlinkRunner", "PortableRunner")
        and portable.job_endpoint != "embed"
    ):
        assert portable.environment_type == "DOCKER"
        assert portable.environment_config, "the worker image"
        assert cfg.output.startswith("/mnt/shared/"), "clusters need a shared mount (docs)"
        assert "://" in cfg.cache_dir, (
            "SQLite must not sit on a shared mount: the caches go to a URL"
        )
    if (
        portable.job_endpoint == "embed"
    ):  # the local Runner API run of the guide (what was run here)
        assert portable.environment_type == "LOOPBACK"
    if options.view_as(GoogleCloudOptions).template_location:
        assert options.view_as(GoogleCloudOptions).dataflow_endpoint, (
            "local temp/staging need a non-service endpoint"
        )


def test_object_store_output_is_kept_as_a_url_and_so_are_its_caches():
    """gs:// outputs stay URLs (the sinks go through Beam's FileSystems), and the caches go
    with them (shards every worker reads: pipeline/cache_store.py)."""
    cfg = run_config_from_options(PipelineOptions(["--output=gs://bucket/codetrans/run1"]))
    assert str(cfg.output) == "gs://bucket/codetrans/run1"
    assert cfg.cache_dir == "gs://bucket/codetrans/run1/cache"
    local = run_config_from_options(
        PipelineOptions(["--output=/data/run1", "--cache_dir=s3://bucket/cache"])
    )
    assert local.cache_dir == "s3://bucket/cache"
    assert (
        run_config_from_options(PipelineOptions(["--output=/data/run1"])).cache_dir
        == "/data/run1/cache"
    )
