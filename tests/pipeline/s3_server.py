"""A real S3-compatible server for tests: ``moto``'s server, started on 127.0.0.1.

The pipeline reaches it the way it reaches AWS S3: through Beam's own S3 filesystem
(``apache_beam.io.aws``, boto3), configured by Beam's ``--s3_endpoint_url`` and credential
flags, on the launcher and on every worker process. Nothing is mocked inside our process:
the server runs as its own process and speaks S3's HTTP API on a port it picks itself.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import threading
import uuid

import boto3
from apache_beam.options.pipeline_options import PipelineOptions

#: Credentials the server accepts (moto accepts any); the region S3 clients sign for.
ACCESS_KEY, SECRET_KEY, REGION = "testing", "testing", "us-east-1"


@dataclasses.dataclass
class S3Server:
    """A running ``moto_server``: its endpoint, Beam flags to reach it, and bucket helpers."""

    process: subprocess.Popen
    endpoint: str

    @property
    def beam_flags(self) -> list[str]:
        """Beam's own S3 options, as given on a command line."""
        return [
            f"--s3_endpoint_url={self.endpoint}",
            f"--s3_access_key_id={ACCESS_KEY}",
            f"--s3_secret_access_key={SECRET_KEY}",
            f"--s3_region_name={REGION}",
        ]

    def options(self) -> PipelineOptions:
        return PipelineOptions(self.beam_flags)

    def client(self):
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def new_bucket(self, prefix: str = "codetrans") -> str:
        """Create a bucket with a fresh name (tests never share one) and return its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key under ``prefix`` (paginated listing)."""
        out = []
        for page in (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        ):
            out += [o["Key"] for o in page.get("Contents", [])]
        return sorted(out)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_s3_server(startup_timeout_s: float = 120.0) -> S3Server:
    """Start ``python -m moto.server`` on 127.0.0.1 with a port of its choosing and wait until
    it says where it listens (it prints ``Running on http://127.0.0.1:PORT``)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    found: dict[str, str] = {}
    seen: list[str] = []
    ready = threading.Event()

    def read_output() -> None:
        for line in process.stdout:  # keep draining, or the server blocks on a full pipe
            if not ready.is_set():
                seen.append(line.rstrip())
                m = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
                if m:
                    found["endpoint"] = m.group(1)
                    ready.set()
        ready.set()

    threading.Thread(target=read_output, daemon=True).start()
    if not ready.wait(startup_timeout_s) or "endpoint" not in found:
        process.kill()
        raise RuntimeError("moto_server did not start: " + " | ".join(seen[-10:]))
    return S3Server(process, found["endpoint"])
