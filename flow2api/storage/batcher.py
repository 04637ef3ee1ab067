"""The database's group commit: the hot path's writes, queued by every coroutine, run together in one trip.

See :class:`WriteBatcher`; :class:`~flow2api.storage.database.Database` owns
one (``Database.writes``) for its connection.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

Params = Sequence[Any] | Callable[[], Sequence[Any]]


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
