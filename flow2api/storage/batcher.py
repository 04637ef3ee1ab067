"""The database's group commit: every write, queued by every coroutine, runs in batches of one trip each.

See :class:`WriteBatcher`; :class:`~flow2api.storage.database.Database` owns
one (``Database.writes``): it is the one path of every INSERT, UPDATE and
DELETE of the repositories.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, CursorResult, Executable, Row

log = logging.getLogger(__name__)

T = TypeVar("T")
#: A SQLAlchemy statement (parameters by name, a mapping), or driver SQL text (positional parameters).
Statement = Executable | str
Values = Mapping[str, Any] | Sequence[Any]
Params = Values | Callable[[], Values]
Queued = list[tuple[Params, "asyncio.Future[Any] | None"]]


class Runner(Protocol):
    """What the batcher runs a batch on: :meth:`Database.run <flow2api.storage.database.Database.run>`."""

    def run(self, fn: Callable[[Connection], T]) -> Awaitable[T]: ...


def execute(connection: Connection, statement: Statement, params: Values | list[Values]) -> CursorResult[Any]:
    """Run one statement (a list of parameter sets: ``executemany``); driver SQL text goes to the driver as is."""
    if isinstance(statement, str):
        if isinstance(params, list):
            return connection.exec_driver_sql(statement, [tuple(p) for p in params])
        return connection.exec_driver_sql(statement, tuple(params))
    return connection.execute(statement, params or None)  # type: ignore[arg-type]


class WriteBatcher:
    """Group commit: statements queued while the previous batch runs go together, in one trip and one transaction.

    Every trip to the database's thread costs two thread hand-offs (and, under
    load, a GIL switch each way), and in autocommit mode every statement is a
    commit of its own: with seven statements per generated image that was a
    quarter of the gateway's CPU time (issue 8, docs/performance.md). Here
    everything queued by all coroutines meanwhile runs as one batch: **one
    trip and one transaction**, the statements grouped by statement (the
    repositories' statements are module or repository constants, so equal
    writes share one), each group one ``executemany`` in a savepoint of its own. A batch starts as soon as the first statement is queued
    and the next one takes everything queued meanwhile, so an idle server pays
    no delay and a busy one batches more.

    :meth:`write` waits until its statement has been committed (and raises its
    error); :meth:`write_later` does not wait (statistics, logs) and logs
    failures; :meth:`write_one` runs its statement on its own within the batch
    and returns the rows of its ``RETURNING`` clause (new ids, whether a row
    matched). A failing statement is undone alone (its savepoint is rolled
    back: PostgreSQL would otherwise abort the whole transaction), so the other
    groups of the batch commit.
    Within a group, the rows before the failing one are stored and the rest are
    not, and it is not known which: the group's callers all get the error —
    except for statements marked ``idempotent`` (re-running one changes nothing
    more, e.g. an ``UPDATE`` to absolute values), which are then run again one
    by one, so each caller gets its own statement's outcome. An error that ends
    the transaction itself (disk full, I/O) fails every caller of the batch.

    A batch is one call of ``db.run`` (:meth:`Database.run
    <flow2api.storage.database.Database.run>`), which runs a function on the
    connection in the database's thread.
    """

    def __init__(self, db: Runner) -> None:
        self._db = db
        self._queued: dict[tuple[Statement, bool], Queued] = {}  # (statement, alone) -> rows and their callers
        self._idempotent: set[Statement] = set()
        self._barriers: list[asyncio.Future[None]] = []  # resolved when the batch now being queued has run
        self._drainer: asyncio.Task[None] | None = None
        self._closed = False

    async def write(self, sql: Statement, params: Params, *, idempotent: bool = False) -> None:
        """Run ``sql`` with ``params`` in the next batch and wait for its commit; raises its
        ``sqlalchemy.exc.SQLAlchemyError``.

        ``params`` may be a function returning them, called when the batch runs
        (a write of in-memory state then stores its latest value).
        """
        await self._wait(sql, params, idempotent=idempotent, alone=False)

    async def write_one(self, sql: Statement, params: Values) -> list[Row]:
        """Run ``sql`` on its own in the next batch (not in an ``executemany``) and wait for its commit.

        Returns the rows of its ``RETURNING`` clause (``[]`` without one): the
        id of a new row, or whether an ``UPDATE``/``DELETE`` matched. Its error
        (a conflict, say) is its caller's alone. Raises ``sqlalchemy.exc.SQLAlchemyError``.
        """
        return await self._wait(sql, params, idempotent=False, alone=True)

    def write_later(self, sql: Statement, params: Params, *, idempotent: bool = False) -> None:
        """Queue ``sql`` for the next batch without waiting; a failure is logged (the SQL, never the values)."""
        self._queue(sql, params, None, idempotent=idempotent, alone=False)

    async def flushed(self) -> None:
        """Return once every statement queued before the call has run (read-your-writes for readers).

        Statements queued after the call are not waited for, so a reader is not held up by a busy server.
        """
        if self._drainer is None or self._drainer.done():
            return  # nothing queued, nothing running
        barrier = asyncio.get_running_loop().create_future()
        self._barriers.append(barrier)  # joins the next batch, which runs after the one in flight
        await asyncio.shield(barrier)

    async def _wait(self, sql: Statement, params: Params, *, idempotent: bool, alone: bool) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._queue(sql, params, future, idempotent=idempotent, alone=alone)
        return await asyncio.shield(future)  # a caller that gives up does not take its statement back

    def _queue(self, sql: Statement, params: Params, future: asyncio.Future[Any] | None, *, idempotent: bool,
               alone: bool) -> None:
        if self._closed:
            error = RuntimeError("the database is closing: no new writes")
            if future is None:
                log.error("a database write after close was dropped (%s)", _name(sql))
            else:
                future.set_exception(error)
            return
        self._queued.setdefault((sql, alone), []).append((params, future))
        if idempotent:
            self._idempotent.add(sql)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain(), name="database-write-batcher")

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

    async def _run(self, batch: dict[tuple[Statement, bool], Queued]) -> None:
        groups: list[Group] = []
        running: list[tuple[Statement, Queued]] = []
        for (sql, alone), rows in batch.items():
            try:  # in-memory state is read here, on the event loop, not in the database's thread
                values = [params() if callable(params) else params for params, _ in rows]
            except Exception as exc:  # noqa: BLE001 - this group's callers' to know, not the batch's end
                _fail(rows, exc, sql)
                continue
            groups.append((sql, values, sql in self._idempotent, alone))
            running.append((sql, rows))
        if not groups:
            return
        try:
            outcomes = await self._db.run(functools.partial(_write_batch, groups))
        except Exception as exc:  # noqa: BLE001 - the transaction failed: nothing of the batch is stored
            for sql, rows in running:
                _fail(rows, exc, sql)
            return
        except BaseException:  # cancelled (shutdown): answer everyone still waiting, here and queued
            stopped = RuntimeError("the database writer was stopped")
            for sql, rows in [*running, *((sql, rows) for (sql, _), rows in self._queued.items())]:
                _fail(rows, stopped, sql)
            self._queued = {}
            raise
        for (sql, rows), outcome in zip(running, outcomes, strict=True):
            if isinstance(outcome, Exception):
                _fail(rows, outcome, sql)
                continue
            for index, (_, future) in enumerate(rows):
                result = outcome[index] if outcome is not None else None
                if isinstance(result, Exception):
                    _fail([rows[index]], result, sql)
                elif future is not None and not future.done():
                    future.set_result(result)

    async def close(self) -> None:
        """Refuse new statements and wait until every queued one has run (the connection closes after)."""
        self._closed = True
        while self._drainer is not None and not self._drainer.done():
            await asyncio.shield(self._drainer)


Group = tuple[Statement, list[Values], bool, bool]  # statement, each caller's params, idempotent, alone
# The group's error, each row's error or returned rows (idempotent re-run, or run alone), or success
GroupOutcome = Exception | list[Exception | list[Row]] | None


def _write_batch(groups: list[Group], connection: Connection) -> list[GroupOutcome]:
    """In the database's thread: every group of one batch in one transaction, each group in a savepoint.

    Returns one outcome per group. Raises when the transaction itself fails
    (then nothing of the batch is stored).
    """
    if len(groups) == 1 and len(groups[0][1]) == 1 and not connection.in_transaction():
        return [_single(connection, *groups[0])]
    outcomes: list[GroupOutcome] = []
    with connection.begin_nested() if connection.in_transaction() else connection.begin():
        for sql, values, idempotent, alone in groups:
            if alone:
                outcomes.append([_in_savepoint(connection, sql, row, rows=True) for row in values])
                continue
            outcome = _in_savepoint(connection, sql, values[0] if len(values) == 1 else values, rows=False)
            if isinstance(outcome, Exception) and idempotent and len(values) > 1:
                outcomes.append([_in_savepoint(connection, sql, row, rows=True) for row in values])
            else:
                outcomes.append(outcome if isinstance(outcome, Exception) else None)
    return outcomes


def _single(connection: Connection, sql: Statement, values: list[Values], _idempotent: bool,
            alone: bool) -> GroupOutcome:
    """A batch of one statement (an idle server's usual batch): its own transaction and no savepoint — its
    error rolls back nothing but itself. Saves two statements per write against the general path."""
    try:
        with connection.begin():
            result = execute(connection, sql, values[0])
            returned = result.all() if alone and result.returns_rows else []
    except Exception as exc:  # noqa: BLE001 - this statement's caller's to know
        return [exc] if alone else exc
    return [returned] if alone else None


def _in_savepoint(connection: Connection, sql: Statement, params: Values | list[Values], *,
                  rows: bool) -> Exception | list[Row]:
    """Run one statement (or ``executemany``) in a savepoint; its error is returned, not raised, and undone alone.

    A failure to roll the savepoint back (the transaction itself is gone: disk full, connection lost) raises.
    """
    savepoint = connection.begin_nested()
    try:
        result = execute(connection, sql, params)
        returned = result.all() if rows and result.returns_rows else []
    except Exception as exc:  # noqa: BLE001 - this statement's callers' to know
        savepoint.rollback()
        return exc
    savepoint.commit()
    return returned


def _name(sql: Statement) -> str:
    """What a log line may say of a statement: its first words (never parameter values)."""
    return str(sql).split(" (")[0][:80]


def _fail(rows: Queued, exc: Exception, sql: Statement) -> None:
    """Give ``exc`` to the waiting callers of ``rows``; log it for the fire-and-forget ones (SQL only, no values)."""
    lost = 0
    for _, future in rows:
        if future is None:
            lost += 1
        elif not future.done():
            future.set_exception(exc)
    if lost:
        log.error("%d queued database write(s) failed (%s): %s", lost, _name(sql), describe(exc))


def describe(exc: BaseException) -> str:
    """A database error for a log line: the driver's error class and the first line of its message — PostgreSQL's
    ``DETAIL`` line (``Key (key_hash)=(…)``, ``Failing row contains (…)``) would put stored values in the log."""
    original = getattr(exc, "orig", None) or exc
    return f"{type(original).__name__}: {str(original).splitlines()[0] if str(original) else ''}"
