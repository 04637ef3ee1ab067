"""The leases of background jobs (:mod:`flow2api.storage.leases`): claim only what nobody holds, each job by one
claimant, renew what is held, release on a graceful stop — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time

from flow2api.storage import Database
from flow2api.storage.leases import JobLeases
from flow2api.storage.tasks import FAILED, TaskRepository


async def jobs(db: Database, count: int, lease: tuple[str, float] | None = None, prefix: str = "v") -> list[str]:
    """``count`` queued Videos API rows (held under ``lease`` when given); returns their ids."""
    tasks = TaskRepository(db)
    ids = [f"{prefix}{i}" for i in range(count)]
    for task_id in ids:
        await tasks.create(task_id, kind="video", model="m", prompt="p", api_key="global", surface="videos",
                           lease=lease)
    return ids


async def test_a_held_job_is_never_claimed_and_an_expired_one_is(db: Database) -> None:
    leases, now = JobLeases(db, "videos"), time.time()
    held = await jobs(db, 2, lease=("A", now + 30), prefix="held")
    expired = await jobs(db, 2, lease=("A", now - 1), prefix="expired")
    free = await jobs(db, 1, prefix="free")
    await TaskRepository(db).create("chat", kind="image", model="m", prompt="p", api_key="g", surface="chat")
    await TaskRepository(db).update("free0", status=FAILED)  # finished: nothing to take
    claimed = await leases.claim("B", now=now, until=now + 30, limit=10)
    assert sorted(claimed) == expired and not set(claimed) & {*held, *free}
    assert await leases.claim("C", now=now, until=now + 30, limit=10) == []  # B holds them now
    assert (await TaskRepository(db).get("expired0")).lease_owner == "B"


async def test_two_claimants_at_once_take_each_job_once(db: Database, database_url: str) -> None:
    ids = await jobs(db, 40)
    other = Database(database_url)
    await other.open()
    try:
        now = time.time()
        claims = [JobLeases(d, "videos").claim(name, now=now, until=now + 30, limit=3)
                  for _ in range(10) for name, d in (("A", db), ("B", other))]
        taken = [task_id for claimed in await asyncio.gather(*claims) for task_id in claimed]
    finally:
        await other.close()
    assert len(taken) == len(set(taken)) == len(ids)


async def test_renew_answers_what_is_still_held_and_release_frees_it(db: Database) -> None:
    leases, now = JobLeases(db, "videos"), time.time()
    ids = await jobs(db, 3, lease=("A", now + 1))
    await TaskRepository(db).update(ids[0], status=FAILED)
    assert await leases.renew("A", until=now + 60) == set(ids[1:])
    assert await leases.claim("B", now=now + 2, until=now + 60, limit=10) == []  # renewed past now + 2
    assert await leases.release("A") == 2
    assert sorted(await leases.claim("B", now=now, until=now + 60, limit=10)) == ids[1:]
    assert await leases.renew("A", until=now + 60) == set()
