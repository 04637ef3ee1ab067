"""The SQLite database: one ``sqlite3`` connection owned by one worker thread, in WAL mode, and the versioned schema.

Every statement runs in the database's own thread (a single-worker executor),
so the event loop never blocks on SQLite and the connection is never shared
between threads. The public interface is small: :meth:`Database.fetch_all` /
:meth:`Database.fetch_one` read, :meth:`Database.run` runs a function on the
connection in that thread (one trip), and :attr:`Database.writes` — the group
commit (:class:`~flow2api.storage.batcher.WriteBatcher`) — is the one path
every INSERT, UPDATE and DELETE of the repositories takes.

Migrations are a list of SQL scripts; ``PRAGMA user_version`` records how many
have run. A migration only ever adds (tables, columns, indexes): stored data
is never dropped. Append new migrations to :data:`MIGRATIONS`; never edit one
that has shipped.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from flow2api.storage.batcher import WriteBatcher
from flow2api.storage.compat import LegacyConnection

log = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS: list[str] = [
    # 1: accounts, projects, tasks, request logs
    """
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        family TEXT NOT NULL,
        email TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        remark TEXT NOT NULL DEFAULT '',
        enabled INTEGER NOT NULL DEFAULT 1,
        image_enabled INTEGER NOT NULL DEFAULT 1,
        video_enabled INTEGER NOT NULL DEFAULT 1,
        image_concurrency INTEGER NOT NULL DEFAULT -1,
        video_concurrency INTEGER NOT NULL DEFAULT -1,
        proxy_url TEXT,
        credits INTEGER,
        tier TEXT,
        secrets BLOB,
        state TEXT NOT NULL DEFAULT '{}',
        consecutive_errors INTEGER NOT NULL DEFAULT 0,
        cooldown_until REAL,
        ban_reason TEXT,
        last_error TEXT,
        use_count INTEGER NOT NULL DEFAULT 0,
        last_used_at REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (family, email)
    );
    CREATE TABLE projects (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        project_id TEXT NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        UNIQUE (account_id, project_id)
    );
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt TEXT NOT NULL,
        status TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        account_id INTEGER,
        api_key TEXT,
        result TEXT,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        completed_at REAL
    );
    CREATE INDEX tasks_status ON tasks(status);
    CREATE TABLE request_logs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        model TEXT,
        status INTEGER NOT NULL,
        duration_ms REAL NOT NULL,
        account_id INTEGER,
        api_key TEXT,
        error TEXT,
        created_at REAL NOT NULL
    );
    CREATE INDEX request_logs_created ON request_logs(created_at);
    """,
    # 2: where an accepted upstream job can be resumed from (plugin Submitted.resume, JSON)
    """
    ALTER TABLE tasks ADD COLUMN resume TEXT;
    """,
    # 3: client API keys (SHA-256 of the key; the key itself is shown once at creation)
    """
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        rpm INTEGER NOT NULL DEFAULT 0,
        concurrency INTEGER NOT NULL DEFAULT 0,
        models TEXT NOT NULL DEFAULT '[]',
        expires_at REAL,
        enabled INTEGER NOT NULL DEFAULT 1,
        created_at REAL NOT NULL,
        last_used_at REAL
    );
    """,
    # admin site: the admin login (argon2 hash), admin API tokens (SHA-256), revoked sessions,
    # and settings changed in the admin site (values sealed with the secrets key)
    """
    CREATE TABLE admin_credentials (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        username TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        seed_hash TEXT NOT NULL,
        must_change INTEGER NOT NULL DEFAULT 1,
        changed_at REAL NOT NULL
    );
    CREATE TABLE admin_tokens (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_used_at REAL
    );
    CREATE TABLE admin_revoked_sessions (
        sid TEXT PRIMARY KEY,
        until REAL NOT NULL
    );
    CREATE TABLE settings_overrides (
        section TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (section, key)
    );
    """,
    # issue 6: task ownership, surface, what a queued Videos API job needs to be submitted again,
    # idempotency keys, soft delete; daily usage statistics per account, key and model
    """
    ALTER TABLE tasks ADD COLUMN surface TEXT;
    ALTER TABLE tasks ADD COLUMN owner TEXT;
    ALTER TABLE tasks ADD COLUMN api_key_id INTEGER;
    ALTER TABLE tasks ADD COLUMN request TEXT;
    ALTER TABLE tasks ADD COLUMN idempotency_key TEXT;
    ALTER TABLE tasks ADD COLUMN request_hash TEXT;
    ALTER TABLE tasks ADD COLUMN deleted_at REAL;
    CREATE UNIQUE INDEX tasks_idempotency ON tasks(owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE INDEX tasks_owner_surface ON tasks(owner, surface, created_at);
    CREATE TABLE usage_daily (
        day TEXT NOT NULL,
        account_id INTEGER NOT NULL,
        api_key_id INTEGER NOT NULL,
        api_key TEXT NOT NULL,
        model TEXT NOT NULL,
        kind TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        succeeded INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        outputs INTEGER NOT NULL DEFAULT 0,
        duration_ms REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (day, account_id, api_key_id, model)
    );
    """,
    # issue 20: documents of workflow plugins (flow2api.storage.workflows), e.g. storyboards; one JSON row each
    """
    CREATE TABLE workflow_documents (
        workflow TEXT NOT NULL,
        id TEXT NOT NULL,
        owner TEXT NOT NULL,
        status TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (workflow, id)
    );
    CREATE INDEX workflow_documents_owner ON workflow_documents(workflow, owner, created_at);
    """,
]


class Database:
    """One ``sqlite3`` connection to ``<data_dir>/flow2api.db``, used only from its own worker thread.

    Use :meth:`open` / :meth:`close` (the app does so in a ``cleanup_ctx``).
    The connection is in autocommit mode (``isolation_level=None``): a read
    needs no transaction, and the group commit opens its own savepoint per
    batch. Rows are :class:`sqlite3.Row` (index by position or name, ``dict(row)``).
    Every method raises ``RuntimeError`` before :meth:`open` and ``sqlite3.Error``
    for a failing statement.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._writes: WriteBatcher | None = None

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

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` in the database's thread and return its result: one trip, whatever it does.

        ``fn`` must not keep the connection. Writes belong in :attr:`writes`, which
        is built on this (one batch, one call); reads use :meth:`fetch_all`.
        """
        if self._thread is None or self._connection is None:
            raise RuntimeError("database is not open")
        connection = self._connection
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, connection)

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Every row of the query ``sql`` with positional ``params``, in one trip.

        Reads do not wait for queued writes: call ``await db.writes.flushed()``
        first to read your own ``write_later`` rows.
        """
        return await self.run(lambda connection: connection.execute(sql, params).fetchall())

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of the query ``sql`` with ``params``, or ``None``; as :meth:`fetch_all`."""
        return await self.run(lambda connection: connection.execute(sql, params).fetchone())

    async def open(self) -> None:
        """Open the file (creating its directory), enable WAL (synchronous=NORMAL) and foreign keys, apply pending migrations."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flow2api-db")
        loop = asyncio.get_running_loop()
        try:
            self._connection = await loop.run_in_executor(self._thread, _connect, self.path)
        except BaseException:
            self._thread.shutdown(wait=False)
            self._thread = None
            raise
        self._writes = WriteBatcher(self)
        await self.migrate()

    async def migrate(self) -> int:
        """Apply the migrations not yet applied; returns the schema version now in place."""
        version = (await self.fetch_one("PRAGMA user_version"))[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            sql = f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            await self.run(lambda connection, sql=sql: connection.executescript(sql))
            log.info("database %s migrated to schema version %d", self.path, number)
        return max(version, len(MIGRATIONS))

    async def close(self) -> None:
        """Run the queued writes, then close the connection and stop its thread (idempotent)."""
        if self._writes is not None:
            await self._writes.close()
        thread, connection = self._thread, self._connection
        self._thread = self._connection = self._writes = None
        if thread is not None:
            if connection is not None:
                await asyncio.get_running_loop().run_in_executor(thread, connection.close)
            thread.shutdown(wait=True)


def _connect(path: Path) -> sqlite3.Connection:
    """In the database's thread: the connection in autocommit mode with the pragmas every statement relies on."""
    connection = sqlite3.connect(path, isolation_level=None)  # used by this thread only
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL syncs at checkpoints instead of every commit: a crash of flow2api loses nothing,
    # a power cut may lose the last few commits (SQLite docs, "PRAGMA synchronous").
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA busy_timeout=5000")
    return connection
