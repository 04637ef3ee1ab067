"""The SQLite database: one aiosqlite connection in WAL mode and the versioned schema.

Migrations are a list of SQL scripts; ``PRAGMA user_version`` records how many
have run. A migration only ever adds (tables, columns, indexes): stored data
is never dropped. Append new migrations to :data:`MIGRATIONS`; never edit one
that has shipped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import aiosqlite

from flow2api.storage.batcher import WriteBatcher

log = logging.getLogger(__name__)

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
]


class Connection:
    """The aiosqlite connection in autocommit mode: each statement is committed in the hop that runs it.

    Every aiosqlite call is queued to one worker thread and costs two thread
    hand-offs (queue the call, wake the event loop with the result). With
    Python's default deferred transactions each write was ``execute`` *and*
    ``commit``, two hand-offs; in autocommit mode (``isolation_level=None``)
    SQLite commits the statement itself, so :meth:`commit` has nothing to do
    and returns without a hop — unless a transaction was opened explicitly
    (``BEGIN``), which it then commits. Under load this halves the database
    hand-offs of a generation (issue 8, docs/performance.md). Atomicity is as
    before: the connection is shared by every coroutine, so a deferred
    transaction never grouped one caller's statements anyway.
    Everything else is the aiosqlite connection's own (attribute delegation).
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def commit(self) -> None:
        """Commit the explicit transaction in progress, if any (statements outside one are committed already)."""
        if self._conn.in_transaction:
            await self._conn.commit()

    async def close(self) -> None:
        """Close the aiosqlite connection (queued statements run first)."""
        await self._conn.close()


class Database:
    """One aiosqlite connection to ``<data_dir>/flow2api.db``.

    Use :meth:`open` / :meth:`close` (the app does so in a ``cleanup_ctx``);
    ``conn`` is the live connection with ``row_factory = aiosqlite.Row``, in
    autocommit mode (:class:`Connection`).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: Connection | None = None
        self._writes: WriteBatcher | None = None

    @property
    def conn(self) -> Connection:
        """The open connection; raises ``RuntimeError`` before :meth:`open`."""
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    @property
    def writes(self) -> WriteBatcher:
        """The group-commit queue of the open connection (:class:`WriteBatcher`); ``RuntimeError`` before :meth:`open`."""
        if self._writes is None:
            raise RuntimeError("database is not open")
        return self._writes

    async def open(self) -> None:
        """Open the file (creating its directory), enable WAL (synchronous=NORMAL) and foreign keys, apply pending migrations."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        raw = await aiosqlite.connect(self.path, isolation_level=None)  # autocommit: see Connection
        raw.row_factory = aiosqlite.Row
        self._conn = Connection(raw)
        self._writes = WriteBatcher(raw)
        await raw.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL syncs at checkpoints instead of every commit: a crash of flow2api loses nothing,
        # a power cut may lose the last few commits (SQLite docs, "PRAGMA synchronous").
        await raw.execute("PRAGMA synchronous=NORMAL")
        await raw.execute("PRAGMA foreign_keys=ON")
        await raw.execute("PRAGMA busy_timeout=5000")
        await self.migrate()

    async def migrate(self) -> int:
        """Apply the migrations not yet applied; returns the schema version now in place."""
        async with self.conn.execute("PRAGMA user_version") as cur:
            (version,) = await cur.fetchone()
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await self.conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
            log.info("database %s migrated to schema version %d", self.path, number)
        return max(version, len(MIGRATIONS))

    async def close(self) -> None:
        """Run the queued writes, then close the connection (idempotent)."""
        if self._writes is not None:
            await self._writes.close()
        if self._conn is not None:
            conn, self._conn, self._writes = self._conn, None, None
            await conn.close()
