"""The graph through Beam's Runner API: the portable runner (the path Spark and Flink take) gives
the DirectRunner's rows, and Beam's Dataflow runner writes a job spec (``--template_location``)
for it, which proves the graph builds, pickles and translates for Dataflow. Neither needs a
cluster: the portable runner uses Beam's embedded job service with a loopback SDK worker; the
template is written by Beam's own Dataflow client, which submits nothing when it writes one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.run import main
from pipeline.sources import SAMPLE_PATH

# Deterministic stages only (no sandbox: run verdicts depend on the machine's load), so any
# difference between the two runs is the runner's.
BASE = ["--target_languages=go", "--sandbox=none", "--decontaminate=humaneval"]


def _input(tmp_path: Path) -> str:
    """24 rows of the bundled sample: Python (py2many translates it) and some it cannot."""
    lines = SAMPLE_PATH.read_text(encoding="utf-8").splitlines()
    picked = [line for line in lines if json.loads(line)["language"] == "python"][:20]
    picked += [line for line in lines if json.loads(line)["language"] != "python"][:4]
    path = tmp_path / "input.jsonl"
    path.write_text("\n".join(picked) + "\n", encoding="utf-8")
    return f"csn:{path}"


#: Measured durations, which differ between any two runs (kept in rejected rows' records).
TIMINGS = frozenset({"wall_s", "latency_s"})


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _rows(directory: Path) -> list[str]:
    """Every row of the parquet files in ``directory`` as canonical JSON, timings left out."""
    rows = []
    for path in sorted(directory.glob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            if isinstance(row.get("record"), str) and row["record"].startswith("{"):
                row["record"] = _untimed(json.loads(row["record"]))
            rows.append(json.dumps(_untimed(row), sort_keys=True, default=str))
    return sorted(rows)


@pytest.mark.slow
def test_the_portable_runner_gives_the_direct_runners_rows(tmp_path):
    source = _input(tmp_path)
    direct, portable = tmp_path / "direct", tmp_path / "portable"
    assert main(["--runner=DirectRunner", *BASE, f"--source={source}", f"--output={direct}"]) == 0
    assert (
        main(
            [
                "--runner=PortableRunner",
                "--job_endpoint=embed",
                "--environment_type=LOOPBACK",
                *BASE,
                f"--source={source}",
                f"--output={portable}",
            ]
        )
        == 0
    )
    released = _rows(direct / "data")
    assert released and _rows(portable / "data") == released
    assert _rows(portable / "rejected") == _rows(direct / "rejected")
    stats = {
        name: json.loads((d / "stats.json").read_text())
        for name, d in (("d", direct), ("p", portable))
    }
    assert stats["p"]["runner"] == "PortableRunner" and stats["p"]["accounting"]["balanced"]
    assert stats["p"]["stages"] == stats["d"]["stages"], (
        "the same counts per stage, from the runner's metrics"
    )


def test_a_dataflow_job_spec_is_written_locally(tmp_path):
    # Beam's Dataflow runner needs apache-beam[gcp] (the dev extra installs it; else '.[dataflow]')
    import apache_beam.runners.dataflow.internal.apiclient  # noqa: F401

    for sub in ("tmp", "staging"):
        (tmp_path / sub).mkdir()
    template = tmp_path / "codetrans-template.json"
    image = "us-central1-docker.pkg.dev/PROJECT/REPO/codetrans-worker:0.1.0"
    argv = [
        "--runner=DataflowRunner",
        "--project=codetrans-test",
        "--region=us-central1",
        # A local endpoint makes Beam accept local temp/staging folders; writing a template
        # submits nothing, so the endpoint is never contacted.
        "--dataflow_endpoint=http://localhost:1",
        "--no_auth",
        f"--temp_location={tmp_path / 'tmp'}",
        f"--staging_location={tmp_path / 'staging'}",
        f"--template_location={template}",
        "--experiments=use_runner_v2",
        f"--sdk_container_image={image}",
        "--sdk_location=container",
        "--sandbox=bwrap",
        "--target_languages=go,rust",
        "--output=gs://codetrans-bucket/run1",
    ]
    assert main(argv) == 0
    spec = json.loads(template.read_text())
    assert spec["type"] == "JOB_TYPE_BATCH"
    (pool,) = spec["environment"]["workerPools"]
    assert {c["containerImage"] for c in pool["sdkHarnessContainerImages"]} == {image}
    options = spec["environment"]["sdkPipelineOptions"]["options"]
    assert options["output"] == "gs://codetrans-bucket/run1" and options["sandbox"] == "bwrap"

    # The graph Dataflow would run (Runner API proto, staged beside the spec): every stage is
    # there, and each pickled DoFn unpickles in a fresh interpreter, as on a worker.
    check = subprocess.run(
        [sys.executable, "-c", _UNPICKLE, str(tmp_path / "staging" / "pipeline.pb")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert check.returncode == 0, check.stderr[-3000:]
    found = json.loads(check.stdout.strip().splitlines()[-1])
    assert {
        "ReadSource",
        "Translate",
        "ParseCheck",
        "Execute",
        "SelectBest",
        "DedupAndSplit",
        "WriteRelease",
        "WriteRejected",
    } <= set(found["top"])
    assert found["dofns"] >= 30


_UNPICKLE = """
import json, sys
from apache_beam.internal import pickler
from apache_beam.portability import common_urns, python_urns
from apache_beam.portability.api import beam_runner_api_pb2
p = beam_runner_api_pb2.Pipeline()
p.ParseFromString(open(sys.argv[1], "rb").read())
n = 0
for t in p.components.transforms.values():
    if t.spec.urn == common_urns.primitives.PAR_DO.urn:
        payload = beam_runner_api_pb2.ParDoPayload.FromString(t.spec.payload)
        if payload.do_fn.urn == python_urns.PICKLED_DOFN_INFO:
            pickler.loads(payload.do_fn.payload)
            n += 1
top = sorted({t.unique_name for t in p.components.transforms.values() if "/" not in t.unique_name})
print(json.dumps({"top": top, "dofns": n}))
"""
