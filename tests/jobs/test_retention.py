"""The retention service (issue 18, finding 6): a gateway with ``[storage] retention_days`` set deletes old
finished tasks, usage rows and request-log rows on its own, and keeps unfinished and fresh ones."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select, update

from flow2api.storage import DATABASE
from flow2api.storage.schema import request_logs, tasks, usage_daily
from flow2api.storage.tasks import RUNNING, TASKS
from flow2api.storage.usage import utc_day
from flow2api.testing import FAKE_IMAGE_MODEL, FakeWorld

OLD = time.time() - 3 * 86400


async def _count(db, table, *where) -> int:  # noqa: ANN001 - Database, Table
    await db.writes.flushed()
    return (await db.fetch_one(select(func.count()).select_from(table).where(*where)))[0]


async def test_a_gateway_prunes_old_finished_rows_on_its_own(fake: FakeWorld, sdk) -> None:  # noqa: ANN001
    # request_log_days = 0 (no log-only limit): the request log then follows retention_days alone.
    gw = await fake.start(storage={"retention_days": 1, "retention_interval": 0.1}, logging={"request_log_days": 0})
    db, repo = gw.app[DATABASE], gw.app[TASKS]
    await sdk(gw).chat.completions.create(model=FAKE_IMAGE_MODEL, messages=[{"role": "user", "content": "old"}])
    await repo.create("still-running", kind="image", model=FAKE_IMAGE_MODEL, prompt="p", api_key="global",
                      surface="chat", status=RUNNING)
    await db.writes.flushed()
    # Three days back in time: the finished task, its usage row and the request-log rows so far.
    await db.writes.write_one(update(tasks).values(created_at=OLD, updated_at=OLD, completed_at=OLD), {})
    await db.writes.write_one(update(usage_daily).values(day=utc_day(OLD)), {})
    await db.writes.write_one(update(request_logs).values(created_at=OLD), {})
    await sdk(gw).chat.completions.create(model=FAKE_IMAGE_MODEL, messages=[{"role": "user", "content": "new"}])

    deadline = time.monotonic() + 10
    while await _count(db, tasks) > 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert {row.prompt for row in await db.fetch_all(select(tasks.c.prompt))} == {"p", "new"}
    assert (await repo.get("still-running")).status == RUNNING  # unfinished: never pruned, however old
    assert await _count(db, usage_daily, usage_daily.c.day == utc_day(OLD)) == 0
    assert await _count(db, usage_daily) == 1  # today's row of the new request
    assert await _count(db, request_logs, request_logs.c.created_at < time.time() - 86400) == 0
    assert await _count(db, request_logs) >= 1


async def test_retention_days_zero_keeps_everything(fake: FakeWorld, sdk) -> None:  # noqa: ANN001
    gw = await fake.start(storage={"retention_days": 0, "retention_interval": 0.05}, logging={"request_log_days": 0})
    db = gw.app[DATABASE]
    await sdk(gw).chat.completions.create(model=FAKE_IMAGE_MODEL, messages=[{"role": "user", "content": "old"}])
    await db.writes.flushed()
    await db.writes.write_one(update(tasks).values(created_at=0, updated_at=0, completed_at=0), {})
    await asyncio.sleep(0.5)  # several sweeps
    assert await _count(db, tasks) == 1
