"""The database: SQLite (the default file in the data dir) or PostgreSQL, one SQLAlchemy connection owned by one
worker thread, migrated by Alembic on open.

Every statement runs in the database's own thread (a single-worker executor)
on SQLAlchemy's *sync* engine, so the event loop never blocks on the database
and the connection is never shared between threads. Why not SQLAlchemy's
asyncio engine: the group commit (:class:`~flow2api.storage.batcher.WriteBatcher`)
already turns every write of a busy server into one trip per batch, so one
thread hand-off per batch is what the storage costs; aiosqlite would add its
own thread per connection, and asyncpg would need a second, differently-shaped
code path for the batch (docs/deployment.md, "Storage").

The public interface is small: :meth:`Database.fetch_all` / :meth:`Database.fetch_one`
read (SQLAlchemy statements, built from :mod:`flow2api.storage.schema`),
:meth:`Database.run` runs a function on the connection in that thread (one
trip), and :attr:`Database.writes` — the group commit — is the one path every
INSERT, UPDATE and DELETE of the repositories takes. Errors are SQLAlchemy's
(``sqlalchemy.exc.IntegrityError`` for a conflict, ``…OperationalError`` …).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Row, create_engine, event
from sqlalchemy.engine import URL, make_url

from flow2api.storage.batcher import Statement, WriteBatcher, execute
from flow2api.storage.changes import ChangeFeed
from flow2api.storage.compat import LegacyConnection
from flow2api.storage.migrate import upgrade

log = logging.getLogger(__name__)

T = TypeVar("T")
DATABASE_FILE = "flow2api.db"


def database_url(storage: Any) -> str:
    """The URL of ``[storage]``: its ``url``, else the SQLite file ``<data_dir>/flow2api.db``."""
    return storage.url or f"sqlite:///{Path(storage.data_dir).absolute() / DATABASE_FILE}"


def engine_url(target: str | Path) -> URL:
    """SQLAlchemy's URL for a path (a SQLite file) or a URL; ``postgresql://`` uses psycopg (3), the driver shipped."""
    url = make_url(f"sqlite:///{Path(target).absolute()}" if isinstance(target, Path) else target)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def _private_file(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for file in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        if file.exists():  # files of an older version were created 0644
            os.chmod(file, 0o600)


def make_engine(target: str | Path) -> Engine:
    """A sync engine for ``target`` with the settings every statement relies on.

    SQLite: WAL, ``synchronous=NORMAL``, foreign keys, a 5 s busy timeout, and
    SQLAlchemy's documented recipe for real ``BEGIN``/``SAVEPOINT`` with
    pysqlite (the driver's own transaction handling is turned off).
    """
    url = engine_url(target)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=1, max_overflow=1, hide_parameters=True)
    if url.database and url.database != ":memory:":
        _private_file(Path(url.database))
    engine = create_engine(url, hide_parameters=True)  # values (secrets) never in an error message

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000"):
            # With WAL, NORMAL syncs at checkpoints instead of every commit: a crash of flow2api loses nothing,
            # a power cut may lose the last few commits (SQLite docs, "PRAGMA synchronous").
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


class Database:
    """The database at ``target`` — a SQLite file path, or a URL (``sqlite:///…``, ``postgresql://user:pw@host/db``)
    — used only from its own worker thread.

    Use :meth:`open` / :meth:`close` (the app does so in a ``cleanup_ctx``).
    Reads run in a transaction of their own (so PostgreSQL never sits idle in
    one); the group commit opens one transaction per batch. Rows are
    SQLAlchemy ``Row`` objects (by position, attribute, or ``row._mapping``).
    Every method raises ``RuntimeError`` before :meth:`open`.
    """

    def __init__(self, target: str | Path) -> None:
        self.url = engine_url(target)
        self.dialect = "postgresql" if self.url.get_backend_name() == "postgresql" else "sqlite"
        self.path = Path(self.url.database) if self.dialect == "sqlite" and self.url.database else None
        self._engine: Engine | None = None
        self._connection: Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._writes: WriteBatcher | None = None
        self.changes = ChangeFeed(self)
        """The revisions of live state (:class:`~flow2api.storage.changes.ChangeFeed`), shared by the repositories."""

    @property
    def writes(self) -> WriteBatcher:
        """The group commit of the open database (:class:`WriteBatcher`): the one write path."""
        if self._writes is None:
            raise RuntimeError("database is not open")
        return self._writes

    @property
    def conn(self) -> LegacyConnection:
        """Deprecated: the aiosqlite-shaped facade kept for tests and benchmarks outside the package
        (:class:`~flow2api.storage.compat.LegacyConnection`); code uses :meth:`fetch_all` and :attr:`writes`."""
        self.writes  # noqa: B018 - raises before open
        return LegacyConnection(self)

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(connection)`` in the database's thread and return its result: one trip, whatever it does.

        ``fn`` must not keep the connection and must end any transaction it opens. Writes belong in
        :attr:`writes`, which is built on this (one batch, one call); reads use :meth:`fetch_all`.
        """
        if self._thread is None:
            raise RuntimeError("database is not open")
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._call, fn)

    def _call(self, fn: Callable[[Connection], T]) -> T:
        """In the database's thread: ``fn`` on the connection, reconnecting first after a lost connection."""
        if self._connection is None or self._connection.invalidated or self._connection.closed:
            if self._connection is not None:
                self._connection.close()
            self._connection = self._engine.connect()  # type: ignore[union-attr]
        return fn(self._connection)

    async def fetch_all(self, statement: Statement, params: Mapping[str, Any] | Sequence[Any] = ()) -> list[Row]:
        """Every row of ``statement`` (a SQLAlchemy statement with ``params`` by name, or driver SQL text with
        positional ones), in one trip.

        Reads do not wait for queued writes: call ``await db.writes.flushed()``
        first to read your own ``write_later`` rows.
        """
        return await self.run(lambda connection: _read(connection, statement, params))

    async def fetch_one(self, statement: Statement, params: Mapping[str, Any] | Sequence[Any] = ()) -> Row | None:
        """The first row of ``statement`` with ``params``, or ``None``; as :meth:`fetch_all`."""
        rows = await self.fetch_all(statement, params)
        return rows[0] if rows else None

    async def open(self) -> None:
        """Connect (creating a SQLite file's directory, 0700, and the file, 0600) and apply pending migrations
        (:mod:`.migrate`).

        A SQLite file, its WAL and shared-memory files are ``0600`` (they hold prompts and hashes); SQLite creates
        ``-wal``/``-shm`` with the database file's mode, so creating that one ``0600`` first covers them.
        """
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flow2api-db")
        try:
            self._engine = await asyncio.get_running_loop().run_in_executor(self._thread, make_engine, self.url)
            await self.run(upgrade)
        except BaseException:
            await self._shutdown()
            raise
        self._writes = WriteBatcher(self)

    async def migrate(self) -> str:
        """Apply the migrations not yet applied; returns the revision now in place."""
        return await self.run(upgrade)

    async def close(self) -> None:
        """Run the queued writes, then close the connection and stop its thread (idempotent)."""
        if self._writes is not None:
            await self._writes.close()
        self._writes = None
        await self._shutdown()

    async def _shutdown(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return

        def dispose() -> None:
            if self._connection is not None:
                self._connection.close()
            if self._engine is not None:
                self._engine.dispose()
            self._connection = self._engine = None

        await asyncio.get_running_loop().run_in_executor(thread, dispose)
        thread.shutdown(wait=True)


def _read(connection: Connection, statement: Statement, params: Mapping[str, Any] | Sequence[Any]) -> list[Row]:
    """In the database's thread: one read in a transaction of its own."""
    with connection.begin():
        return execute(connection, statement, params).all()
