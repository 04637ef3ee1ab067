"""A real PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` on a free loopback port in a temp dir.

:func:`postgres_server` (session fixture) starts one server for the whole
test session and stops it by its postmaster's pid; :func:`postgres_url`
(function fixture) gives each test a database of its own on it. The
binaries are Debian's (``apt-get install postgresql``: ``/usr/lib/postgresql/<v>/bin``)
or any ``initdb``/``pg_ctl`` in ``/usr/local/bin`` or on ``PATH``; without
them the fixtures skip the test. PostgreSQL refuses to run as root, so as
root the server runs as the ``postgres`` user (or ``nobody``). Durability is
off (``fsync=off``): a test server's data need not survive a power cut.
"""

from __future__ import annotations

import contextlib
import getpass
import itertools
import os
import pwd
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

_counter = itertools.count()


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: Debian's newest ``/usr/lib/postgresql/*/bin``,
    ``/usr/local/bin``, or the one on ``PATH``; ``None`` when absent."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if
                        p.parent.name.isdigit() else 0, reverse=True)
    candidates.append(Path("/usr/local/bin"))
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(Path(found).parent)
    return next((d for d in candidates if (d / "initdb").is_file() and (d / "pg_ctl").is_file()), None)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    """A running server: ``url`` of its ``postgres`` database (user ``postgres``, no password, loopback only)."""

    directory: Path
    port: int
    pid: int

    @property
    def url(self) -> str:
        """The URL of the server's ``postgres`` database (for ``CREATE DATABASE``)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        """The URL of database ``name`` on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        """Create an empty database ``name``; returns its URL."""
        import psycopg  # the driver the storage uses

        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster, by pid), waiting up to 30 s; the directory is removed."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGINT)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                os.kill(self.pid, 0)  # raises ProcessLookupError once it has exited
                time.sleep(0.05)
        shutil.rmtree(self.directory, ignore_errors=True)


def _run_as() -> str | None:
    """The user to run the server as: ``None`` (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


def start_postgres(bin_dir: Path, *, durable: bool = False, options: str = "") -> PostgresServer:
    """Start a new server in a temp dir on a free loopback port; raises ``subprocess.CalledProcessError`` when
    ``initdb`` or ``pg_ctl`` fails (its log is in the error's output). ``durable=False`` turns fsync off;
    ``options`` adds server options (``-c name=value …``)."""
    user = _run_as()
    directory = Path(tempfile.mkdtemp(prefix="flow2api-pg-"))
    data = directory / "data"
    if user is not None:
        os.chown(directory, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    run = dict(user=user, check=True, capture_output=True, cwd=directory)
    subprocess.run([bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--no-instructions"], **run)
    port = free_port()
    settings = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        settings += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run([bin_dir / "pg_ctl", "-D", data, "-o", f"{settings} {options}".strip(), "-l",
                    directory / "server.log", "-w", "start"], **run)
    pid = int((data / "postmaster.pid").read_text().split()[0])
    return PostgresServer(directory, port, pid)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the test session (skips when the binaries are absent)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found; .ci/run installs the postgresql package")
    server = start_postgres(bin_dir)
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database on the session's server, for this test alone."""
    return postgres_server.create_database(f"t{os.getpid()}_{next(_counter)}_{getpass.getuser()}")
