"""The SQLite database: one aiosqlite connection in WAL mode and the versioned schema.

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
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

Params = Sequence[Any] | Callable[[], Sequence[Any]]

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


class WriteBatcher:
    """Group commit for the hot path's writes: statements queued while the previous batch runs go together.

    Every aiosqlite call is one trip to its worker thread and back (two thread
    hand-offs and, under load, a GIL switch each way), and in autocommit mode
    every statement is a commit of its own: with seven statements per generated
    image that was a quarter of the gateway's CPU time (issue 8,
    docs/performance.md). Here everything queued by all coroutines meanwhile
    runs as one batch: **one trip and one transaction** (a savepoint, so it also
    nests in a transaction someone opened), the statements grouped by SQL text,
    each group one ``executemany``. A batch starts as soon as the first
    statement is queued and the next one takes everything queued meanwhile, so
    an idle server pays no delay and a busy one batches more.

    :meth:`write` waits until its statement has been committed (and raises its
    error); :meth:`write_later` does not wait (statistics, logs) and logs
    failures. A failing statement is undone alone (SQLite rolls back the
    statement, not the transaction), so the other groups of the batch commit.
    Within a group, the rows before the failing one are stored and the rest are
    not, and it is not known which: the group's callers all get the error —
    except for statements marked ``idempotent`` (re-running one changes nothing
    more, e.g. an ``UPDATE`` to absolute values), which are then run again one
    by one, so each caller gets its own statement's outcome. An error that ends
    the transaction itself (disk full, I/O) fails every caller of the batch.

    The batch runs through aiosqlite's ``Connection._execute`` (run a function
    in its worker thread), the one way to run several statements in one trip;
    ``tests/storage/test_write_batcher.py`` fails if a release drops it.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._queued: dict[str, list[tuple[Params, asyncio.Future[None] | None]]] = {}
        self._idempotent: set[str] = set()
        self._barriers: list[asyncio.Future[None]] = []  # resolved when the batch now being queued has run
        self._drainer: asyncio.Task[None] | None = None
        self._closed = False

    async def write(self, sql: str, params: Params, *, idempotent: bool = False) -> None:
        """Run ``sql`` with ``params`` in the next batch and wait for its commit; raises its ``sqlite3.Error``.

        ``params`` may be a function returning them, called when the batch runs
        (a write of in-memory state then stores its latest value).
        """
        future = asyncio.get_running_loop().create_future()
        self._queue(sql, params, future, idempotent)
        await asyncio.shield(future)  # a caller that gives up does not take its statement back

    def write_later(self, sql: str, params: Params, *, idempotent: bool = False) -> None:
        """Queue ``sql`` for the next batch without waiting; a failure is logged (the SQL, never the values)."""
        self._queue(sql, params, None, idempotent)

    async def flushed(self) -> None:
        """Return once every statement queued before the call has run (read-your-writes for readers).

        Statements queued after the call are not waited for, so a reader is not held up by a busy server.
        """
        if self._drainer is None or self._drainer.done():
            return  # nothing queued, nothing running
        barrier = asyncio.get_running_loop().create_future()
        self._barriers.append(barrier)  # joins the next batch, which runs after the one in flight
        await asyncio.shield(barrier)

    def _queue(self, sql: str, params: Params, future: asyncio.Future[None] | None, idempotent: bool) -> None:
        if self._closed:
            error = sqlite3.ProgrammingError("the database is closing: no new writes")
            if future is None:
                log.error("a database write after close was dropped (%s)", sql.split(" (")[0])
            else:
                future.set_exception(error)
            return
        self._queued.setdefault(sql, []).append((params, future))
        if idempotent:
            self._idempotent.add(sql)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain(), name="sqlite-write-batcher")

    async def _drain(self) -> None:
        while self._queued or self._barriers:
            batch, self._queued = self._queued, {}
            barriers, self._barriers = self._barriers, []
            try:
                await self._run(batch)
            finally:
                for barrier in barriers:
                    if not barrier.done():
                        barrier.set_result(None)

    async def _run(self, batch: dict[str, list[tuple[Params, asyncio.Future[None] | None]]]) -> None:
        groups: list[tuple[str, list[Sequence[Any]], bool]] = []
        running: list[tuple[str, list[tuple[Params, asyncio.Future[None] | None]]]] = []
        for sql, rows in batch.items():
            try:  # in-memory state is read here, on the event loop, not in the database's thread
                values = [params() if callable(params) else params for params, _ in rows]
            except Exception as exc:  # noqa: BLE001 - this group's callers' to know, not the batch's end
                _fail(rows, exc, sql)
                continue
            groups.append((sql, values, sql in self._idempotent))
            running.append((sql, rows))
        if not groups:
            return
        try:
            outcomes = await self._conn._execute(_write_batch, self._conn._conn, groups)  # noqa: SLF001 - see class
        except Exception as exc:  # noqa: BLE001 - the transaction failed: nothing of the batch is stored
            for sql, rows in running:
                _fail(rows, exc, sql)
            return
        except BaseException:  # cancelled (shutdown): answer everyone still waiting, here and queued
            stopped = sqlite3.OperationalError("the database writer was stopped")
            for sql, rows in [*running, *self._queued.items()]:
                _fail(rows, stopped, sql)
            self._queued = {}
            raise
        for (sql, rows), outcome in zip(running, outcomes, strict=True):
            if isinstance(outcome, Exception):
                _fail(rows, outcome, sql)
                continue
            for index, (_, future) in enumerate(rows):
                error = outcome[index] if outcome is not None else None
                if error is not None:
                    _fail([rows[index]], error, sql)
                elif future is not None and not future.done():
                    future.set_result(None)

    async def close(self) -> None:
        """Refuse new statements and wait until every queued one has run (the connection closes after)."""
        self._closed = True
        while self._drainer is not None and not self._drainer.done():
            await asyncio.shield(self._drainer)


GroupOutcome = Exception | list[Exception | None] | None  # the group's error, each row's (idempotent), or success


def _write_batch(conn: sqlite3.Connection, groups: list[tuple[str, list[Sequence[Any]], bool]]) -> list[GroupOutcome]:
    """In aiosqlite's thread: every group of one batch in one savepoint, committed at its release.

    Returns one outcome per group. Raises when the transaction itself fails
    (then nothing of the batch is stored).
    """
    outcomes: list[GroupOutcome] = []
    conn.execute("SAVEPOINT write_batch")
    try:
        for sql, values, idempotent in groups:
            try:
                if len(values) == 1:
                    conn.execute(sql, values[0])
                else:
                    conn.executemany(sql, values)
                outcomes.append(None)
            except Exception as exc:  # noqa: BLE001 - reported to this group's callers
                if not conn.in_transaction:
                    raise  # SQLite rolled the whole transaction back (disk full, I/O): the batch failed
                if idempotent and len(values) > 1:
                    outcomes.append([_run_one(conn, sql, row) for row in values])
                else:
                    outcomes.append(exc)
        conn.execute("RELEASE write_batch")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK TO write_batch")
            conn.execute("RELEASE write_batch")
        raise
    return outcomes


def _run_one(conn: sqlite3.Connection, sql: str, row: Sequence[Any]) -> Exception | None:
    try:
        conn.execute(sql, row)
    except Exception as exc:  # noqa: BLE001 - this row's caller's to know
        if not conn.in_transaction:
            raise
        return exc
    return None


def _fail(rows: list[tuple[Params, asyncio.Future[None] | None]], exc: Exception, sql: str) -> None:
    """Give ``exc`` to the waiting callers of ``rows``; log it for the fire-and-forget ones (SQL only, no values)."""
    lost = 0
    for _, future in rows:
        if future is None:
            lost += 1
        elif not future.done():
            future.set_exception(exc)
    if lost:
        log.error("%d queued database write(s) failed (%s): %s", lost, sql.split(" (")[0], exc)


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
