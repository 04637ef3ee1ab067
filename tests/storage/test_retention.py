"""Retention statements (issue 18, finding 6): ``prune_before`` of tasks, request logs and usage deletes old rows
in bounded batches and keeps fresh, unfinished and still-servable ones, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

from sqlalchemy import select, update

from flow2api.storage import Database
from flow2api.storage.schema import request_logs, tasks, usage_daily
from flow2api.storage.tasks import FAILED, RUNNING, SUCCEEDED, RequestLogRepository, TaskRepository
from flow2api.storage.usage import UsageRepository, utc_day

DAY = 86400.0


async def _age_task(db: Database, task_id: str, ended: float | None, *, legacy: bool = False) -> None:
    """Move a task's times back to ``ended`` (a legacy row: no surface, no ``completed_at``)."""
    values = {"created_at": (ended or time.time()) - 60, "updated_at": ended or time.time()}
    if ended is not None:
        values["completed_at"] = None if legacy else ended
    if legacy:
        values["surface"] = None
    await db.writes.write_one(update(tasks).where(tasks.c.id == task_id).values(values), {})


async def _ids(db: Database, table=tasks) -> set:  # noqa: ANN001 - a Table
    return {row[0] for row in await db.fetch_all(select(table.c[list(table.primary_key.columns)[0].name]))}


async def _drain(prune, limit: int) -> list[int]:  # noqa: ANN001 - a bound prune_before
    counts = [await prune(limit)]
    while counts[-1] == limit:
        counts.append(await prune(limit))
    return counts


async def test_tasks_prune_in_batches_and_keep_unfinished_fresh_and_servable(db: Database) -> None:
    repo = TaskRepository(db)
    now, old = time.time(), time.time() - 40 * DAY
    rows = {
        **{f"old-{i}": ("images", SUCCEEDED if i % 2 else FAILED) for i in range(7)},
        "old-queued": ("videos", None), "old-running": ("chat", RUNNING), "fresh": ("chat", SUCCEEDED),
        "video-served": ("videos", SUCCEEDED), "video-deleted": ("videos", SUCCEEDED),
        "video-failed": ("videos", FAILED), "legacy": ("chat", SUCCEEDED),
    }
    for task_id, (surface, status) in rows.items():
        await repo.create(task_id, kind="image", model="m", prompt="p", api_key="global", surface=surface)
        if status is not None:
            await repo.update(task_id, status=status)
        if task_id != "fresh":
            await _age_task(db, task_id, old, legacy=task_id == "legacy")
    await repo.mark_deleted("video-deleted")
    cutoff = now - 30 * DAY

    # A media cache that keeps files forever (servable_since 0): the completed, not deleted video stays.
    counts = await _drain(lambda n: repo.prune_before(cutoff, n), 3)
    assert counts == [3, 3, 3, 1] and sum(counts) == 10
    assert await _ids(db) == {"old-queued", "old-running", "fresh", "video-served"}
    # Its file has expired from a cache with a TTL (it ended before now - ttl): now it goes too.
    assert await repo.prune_before(cutoff, 500, servable_since=now - 7200) == 1
    assert await _ids(db) == {"old-queued", "old-running", "fresh"}
    # A TTL longer than the retention: a video that ended before the cutoff but within the TTL is kept.
    await repo.create("video-long-ttl", kind="video", model="m", prompt="p", api_key="global", surface="videos")
    await repo.update("video-long-ttl", status=SUCCEEDED)
    await _age_task(db, "video-long-ttl", old)
    assert await repo.prune_before(cutoff, 500, servable_since=now - 60 * DAY) == 0
    assert await repo.get("video-long-ttl") is not None


async def test_request_logs_prune_by_age_and_row_count_in_batches(db: Database) -> None:
    logs = RequestLogRepository(db)
    for i in range(12):
        logs.add(request_id=f"r{i}", method="GET", path="/v1/models", status=200, duration_ms=1.0)
    await logs.flushed()
    ids = sorted(await _ids(db, request_logs))
    await db.writes.write_one(update(request_logs).where(request_logs.c.id.in_(ids[:7])).values(
        created_at=time.time() - 40 * DAY), {})
    assert await _drain(lambda n: logs.prune_before(time.time() - 30 * DAY, n), 3) == [3, 3, 1]
    assert sorted(await _ids(db, request_logs)) == ids[7:]
    assert await _drain(lambda n: logs.prune_beyond(2, n), 2) == [2, 1]
    assert sorted(await _ids(db, request_logs)) == ids[-2:]  # the newest two
    assert await logs.prune_beyond(5, 2) == 0  # fewer rows than kept


async def test_usage_prunes_whole_days_before_the_cutoff(db: Database) -> None:
    usage = UsageRepository(db)
    now = time.time()
    for days_ago in (45, 31, 30, 0):
        for model in ("a", "b"):
            usage.record(account_id=1, api_key_id=None, api_key=None, model=model, kind="image", ok=True,
                         at=now - days_ago * DAY)
    await db.writes.flushed()
    cutoff = now - 30 * DAY
    assert await _drain(lambda n: usage.prune_before(cutoff, n), 3) == [3, 1]
    days = {row[0] for row in await db.fetch_all(select(usage_daily.c.day))}
    assert days == {utc_day(cutoff), utc_day(now)}  # the cutoff's own day is kept whole
