"""A real S3 API for the tests: moto's server mode on a free loopback port, one per test session.

:func:`s3_server` (session fixture) starts ``moto.server.ThreadedMotoServer``
and stops it at the end; :func:`s3_cache` (function fixture) creates a fresh
bucket on it and gives the ``[cache]`` settings of the S3 backend pointing at it
(``fake.start(cache=s3_cache)``). moto keeps everything in memory and accepts
any credentials; nothing is mocked in flow2api — aiobotocore talks HTTP to it.
Without moto (the test extra) the fixtures skip the test.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from flow2api.testing.postgres import free_port

_buckets = itertools.count()
REGION = "us-east-1"
ACCESS_KEY_ID = "test-access-key-id"
SECRET_ACCESS_KEY = "test-secret-access-key-0123456789"


@dataclass
class S3Server:
    """A running moto server: ``endpoint_url`` (``http://127.0.0.1:<port>``)."""

    endpoint_url: str

    def client(self) -> Any:
        """A blocking boto3 S3 client on the server (for test set-up and inspection)."""
        import boto3  # moto[server]'s dependency, a test extra

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=REGION,
                            aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY)

    def create_bucket(self) -> str:
        """A new empty bucket; returns its name."""
        name = f"flow2api-test-{next(_buckets)}"
        self.client().create_bucket(Bucket=name)
        return name

    def cache_settings(self, bucket: str, **extra: Any) -> dict[str, Any]:
        """The ``[cache]`` keys of the S3 backend on ``bucket`` (plus ``extra``)."""
        return {"backend": "s3", "s3_endpoint_url": self.endpoint_url, "s3_bucket": bucket, "s3_region": REGION,
                "s3_access_key_id": ACCESS_KEY_ID, "s3_secret_access_key": SECRET_ACCESS_KEY, **extra}


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One moto S3 server for the session on 127.0.0.1, stopped at the end."""
    server_module = pytest.importorskip("moto.server", reason="moto[server] (a test extra) is not installed")
    port = free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_cache(s3_server: S3Server) -> dict[str, Any]:
    """``[cache]`` settings of the S3 backend on a bucket of this test's own."""
    return s3_server.cache_settings(s3_server.create_bucket())
