"""A real Redis server for the tests: ``redis-server`` on a free loopback port in a temp dir.

:func:`redis_server` (session fixture) starts one server for the whole test session and stops it by pid;
:func:`redis_url` (function fixture) gives each test a database number of its own on it (flushed first), so
tests never see each other's keys. :func:`start_redis` starts a private server for a test that stops it (the
lost-Redis tests). The binary is Debian's (``apt-get install redis-server``: ``/usr/bin/redis-server``) or any
``redis-server`` on ``PATH``; without it the fixtures skip the test. Persistence is off (``--save ''
--appendonly no``): a test server's data need not survive it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flow2api.testing.postgres import free_port

_databases = itertools.count(1)
DATABASES = 16
"""Redis's default number of logical databases; test ``n`` uses database ``n % 16`` (flushed before use)."""


def find_redis_server() -> Path | None:
    """``redis-server``: ``/usr/bin/redis-server`` (Debian) or the one on ``PATH``; ``None`` when absent."""
    found = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").is_file() else None)
    return Path(found) if found else None


@dataclass
class RedisServer:
    """A running server on ``127.0.0.1:port`` (no password, loopback only), its ``directory`` and ``pid``."""

    directory: Path
    port: int
    pid: int
    process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        """``redis://127.0.0.1:<port>/<db>``."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def flush(self, db: int) -> None:
        """Empty database ``db`` (``FLUSHDB`` over a plain socket, before a test uses it)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            conn.sendall(f"SELECT {db}\r\nFLUSHDB\r\n".encode())
            replies = b""
            while replies.count(b"\r\n") < 2:
                replies += conn.recv(64)

    def stop(self) -> None:
        """SIGTERM by pid, waiting up to 10 s (then SIGKILL); the directory is removed."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_redis(binary: Path) -> RedisServer:
    """Start ``binary`` in a new temp dir on a free loopback port and wait until it accepts connections (10 s,
    else ``RuntimeError`` with its log)."""
    directory = Path(tempfile.mkdtemp(prefix="flow2api-redis-"))
    port = free_port()
    log = directory / "redis.log"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "", "--appendonly", "no",
         "--logfile", log, "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=directory,
    )
    server = RedisServer(directory, port, process.pid, process)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            server.flush(0)
            return server
        if process.poll() is not None:
            break
        time.sleep(0.05)
    text = log.read_text(errors="replace") if log.exists() else ""
    server.stop()
    raise RuntimeError(f"redis-server did not start on port {port}: {text[-2000:]}")


def _served_redis() -> Iterator[RedisServer]:
    """A started Redis server, stopped when the generator closes; skips the test when ``redis-server`` is absent."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("redis-server not found; .ci/run installs the redis-server package")
    server = start_redis(binary)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis server for the test session (skips when ``redis-server`` is absent)."""
    yield from _served_redis()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of an emptied database on the session's server, for this test."""
    db = next(_databases) % DATABASES
    redis_server.flush(db)
    return redis_server.url(db)


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A Redis server of this test's own, which the test may stop (skips when ``redis-server`` is absent)."""
    yield from _served_redis()
