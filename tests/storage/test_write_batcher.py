"""The database's group commit (``Database.writes``): batching, errors reaching the right caller, read-your-writes."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import CheckConstraint, Column, Connection, Integer, MetaData, Table, insert, select, text
from sqlalchemy.exc import IntegrityError

from flow2api.storage.batcher import _write_batch
from flow2api.storage.database import Database

_metadata = MetaData()
_t = Table("t", _metadata, Column("id", Integer, primary_key=True, autoincrement=False),
           Column("v", Integer, nullable=False), CheckConstraint("v >= 0"))
SET = text("UPDATE t SET v = :v WHERE id = :id")
ADD = text("UPDATE t SET v = v + :v WHERE id = :id")  # not idempotent: running a row twice would count it twice
INSERT = insert(_t)


def row(v: int, id: int) -> dict[str, int]:  # noqa: A002 - the column's name
    return {"v": v, "id": id}


def _create(connection: Connection, rows: int) -> None:
    with connection.begin():
        _metadata.create_all(connection)
        if rows:
            connection.execute(insert(_t), [row(0, i) for i in range(rows)])


async def open_with_table(url: str, rows: int = 100) -> Database:
    database = Database(url)
    await database.open()
    await database.run(functools.partial(_create, rows=rows))
    return database


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await open_with_table(database_url)
    yield database
    await database.close()


async def values(db: Database) -> dict[int, int]:
    return {r[0]: r[1] for r in await db.fetch_all(select(_t.c.id, _t.c.v))}


def count_trips(db: Database) -> list[int]:
    """Rows per batch trip to the database's thread, counted on ``Database.run`` (one trip runs a whole batch)."""
    trips: list[int] = []
    run = db.run

    async def counted(fn):  # noqa: ANN001, ANN202
        if isinstance(fn, functools.partial) and fn.func is _write_batch:  # (groups: [(sql, rows, ...), ...])
            trips.append(sum(len(group[1]) for group in fn.args[0]))
        return await run(fn)

    db.run = counted  # the batcher calls db.run for every batch
    return trips


async def test_concurrent_writes_share_trips_and_all_land(db: Database) -> None:
    trips = count_trips(db)
    await asyncio.gather(*(db.writes.write(SET, row(i + 1, i)) for i in range(100)))
    assert sum(trips) == 100 and len(trips) <= 2, trips  # queued in one loop turn: one or two trips
    assert await values(db) == {i: i + 1 for i in range(100)}


async def test_a_lone_write_runs_at_once_without_waiting_for_company(db: Database) -> None:
    trips = count_trips(db)
    await asyncio.wait_for(db.writes.write(SET, row(7, 1)), 5)
    assert trips == [1]
    assert (await values(db))[1] == 7


async def test_different_statements_queued_together_share_one_trip(db: Database) -> None:
    trips = count_trips(db)
    await asyncio.gather(db.writes.write(SET, row(4, 1)), db.writes.write(ADD, row(2, 2)),
                         db.writes.write(INSERT, row(6, 500)))
    assert trips == [3]
    stored = await values(db)
    assert (stored[1], stored[2], stored[500]) == (4, 2, 6)


async def test_a_failing_statement_leaves_the_rest_of_its_batch_committed(database_url: str, db: Database) -> None:
    trips = count_trips(db)
    outcomes = await asyncio.gather(db.writes.write(SET, row(8, 1)), db.writes.write(SET, row(9, 2)),
                                    db.writes.write(INSERT, row(1, 3)),  # id 3 exists
                                    return_exceptions=True)
    assert trips == [3] and outcomes[:2] == [None, None] and isinstance(outcomes[2], IntegrityError)
    await db.close()  # committed: visible on a fresh connection
    reopened = Database(database_url)
    await reopened.open()
    try:
        stored = await values(reopened)
        assert (stored[1], stored[2], stored[3]) == (8, 9, 0)
    finally:
        await reopened.close()


async def test_a_failing_idempotent_row_fails_only_its_own_caller(db: Database) -> None:
    outcomes = await asyncio.gather(*(db.writes.write(SET, row(-1 if i == 50 else 5, i), idempotent=True)
                                      for i in range(100)), return_exceptions=True)
    failed = [i for i, o in enumerate(outcomes) if isinstance(o, Exception)]
    assert failed == [50] and isinstance(outcomes[50], IntegrityError)
    stored = await values(db)
    assert stored[50] == 0 and all(v == 5 for i, v in stored.items() if i != 50)


async def test_a_failing_row_of_other_statements_fails_every_caller_of_its_batch(db: Database) -> None:
    await db.writes.write(ADD, row(1, 0))
    outcomes = await asyncio.gather(*(db.writes.write(ADD, row(-5 if i == 3 else 1, i)) for i in range(10)),
                                    return_exceptions=True)
    assert isinstance(outcomes[3], IntegrityError)
    stored = await values(db)
    # No row ran twice: each is 0 or 1 more than before, whatever its caller was told.
    assert stored[0] in (1, 2) and all(stored[i] in (0, 1) for i in range(1, 10))
    assert all(isinstance(o, IntegrityError) or stored[i] == (2 if i == 0 else 1)
               for i, o in enumerate(outcomes))


async def test_write_later_is_readable_after_flushed_and_its_failure_is_logged(
    db: Database, caplog: pytest.LogCaptureFixture,
) -> None:
    for i in range(20):
        db.writes.write_later(SET, row(3, i))
    await db.writes.flushed()
    stored = await values(db)
    assert all(stored[i] == 3 for i in range(20))
    with caplog.at_level(logging.ERROR, logger="flow2api.storage.batcher"):
        db.writes.write_later(SET, row(-424242, 1))
        await db.writes.flushed()
    assert "queued database write(s) failed" in caplog.text and "424242" not in caplog.text
    assert (await values(db))[1] == 3


async def test_params_from_a_function_are_read_when_the_batch_runs(db: Database) -> None:
    state = {"v": 1}
    db.writes.write_later(SET, lambda: row(state["v"], 9))
    state["v"] = 42  # changed after queueing, before the batch ran
    await db.writes.flushed()
    assert (await values(db))[9] == 42


async def test_close_runs_what_is_queued(database_url: str) -> None:
    db = await open_with_table(database_url, rows=0)
    for i in range(50):
        db.writes.write_later(INSERT, row(i, i))
    await db.close()
    reopened = Database(database_url)
    await reopened.open()
    try:
        assert len(await values(reopened)) == 50
    finally:
        await reopened.close()


async def test_flushed_waits_for_earlier_writes_only(db: Database) -> None:
    """A reader is not held up by writes queued after it started waiting (a busy server never idles)."""
    db.writes.write_later(SET, row(1, 0))
    stop = asyncio.Event()

    async def busy() -> None:
        i = 0
        while not stop.is_set():
            db.writes.write_later(SET, row(i % 50, 1 + i % 50))
            i += 1
            await asyncio.sleep(0)

    writer = asyncio.create_task(busy())
    try:
        await asyncio.wait_for(db.writes.flushed(), 5)
        assert (await values(db))[0] == 1
    finally:
        stop.set()
        await writer
    await db.writes.flushed()


async def test_a_failure_outside_the_database_fails_its_group_and_the_batch_goes_on(db: Database) -> None:
    def broken() -> dict[str, int]:
        raise OverflowError("not a value the database can store")

    other = text("UPDATE t SET v = v WHERE id = :id")
    outcomes = await asyncio.gather(db.writes.write(SET, broken), db.writes.write(SET, row(2, 3)),
                                    asyncio.wait_for(db.writes.write(other, {"id": 1}), 5), return_exceptions=True)
    assert isinstance(outcomes[0], OverflowError) and isinstance(outcomes[1], OverflowError)  # one group
    assert outcomes[2] is None, "the next group of the batch still ran"
    await asyncio.wait_for(db.writes.write(SET, row(4, 4)), 5)  # and the batcher is alive
    assert (await values(db))[4] == 4


async def test_after_close_new_writes_are_refused(db: Database) -> None:
    writes = db.writes
    await db.close()
    with pytest.raises(RuntimeError, match="closing"):
        await writes.write(SET, row(1, 1))
