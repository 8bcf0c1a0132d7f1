"""Shared fixtures of the pipeline tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.pipeline.s3_server import S3Server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One real S3-compatible server (moto's) on 127.0.0.1 for the whole session; each test
    makes its own bucket with ``s3_server.new_bucket()``."""
    import boto3  # noqa: F401 - Beam's S3 filesystem needs it (apache-beam[aws], a dependency)
    import moto.server  # noqa: F401 - the test S3 server (the dev extra: moto[s3] flask flask-cors)

    from tests.pipeline.s3_server import start_s3_server

    server = start_s3_server()
    yield server
    server.stop()


@pytest.fixture()
def s3(s3_server: S3Server) -> Iterator[S3Server]:
    """The S3 server, with Beam's ``FileSystems`` set to reach it from this process (the
    launcher's side; pipelines carry the same flags to their workers)."""
    from apache_beam.io.filesystems import FileSystems

    previous = FileSystems._pipeline_options
    FileSystems.set_options(s3_server.options())
    yield s3_server
    FileSystems.set_options(previous)
