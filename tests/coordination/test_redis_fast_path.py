"""The fast paths of slot acquisition on a real redis-server: one script per acquire that also skips cool-downs,
pipelined commands that still never over-admit, a script the server lost, waiters that ask Redis nothing while
this process's own leases fill the account, and slots handed from a release to a waiter here (never past a
lowered limit, never lost with a cancelled waiter) — docs/performance.md, "Slot acquire on Redis"."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis

from flow2api.catalog import CATALOG
from flow2api.coordination import Coordinator, create_coordinator
from flow2api.discovery import PROVIDERS
from flow2api.settings import CoordinationSection
from flow2api.testing import FAKE_IMAGE_MODEL, FakeWorld


@pytest.fixture
async def instances(redis_url: str) -> AsyncIterator[Any]:
    """``await instances()`` → a started Redis coordinator (an 'instance'), closed after the test."""
    made: list[Coordinator] = []

    async def make() -> Coordinator:
        coordinator = create_coordinator(CoordinationSection.model_validate({"redis_url": redis_url}))
        await coordinator.start()
        made.append(coordinator)
        return coordinator

    yield make
    for coordinator in made:
        await coordinator.close()


async def evalsha_calls(url: str) -> int:
    """``EVALSHA`` commands the server ran since it started (``INFO commandstats``)."""
    client = redis.Redis.from_url(url)
    try:
        return int((await client.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0))
    finally:
        await client.aclose()


async def test_a_take_skips_an_account_another_instance_cooled_down_and_reports_it(instances: Any) -> None:
    one, two = await instances(), await instances()
    until = time.time() + 30
    await one.cool_down(5, until)
    taken = await two.take([5, 6], "image", [1, 1])  # 5 is first in order and has room, but it cools down
    assert taken.index == 1 and taken.hold is not None
    assert taken.survey.cooling == {5: pytest.approx(until)} and taken.survey.in_flight == {6: 1}
    assert (await two.take([5], "image", [1])).hold is None


async def test_concurrent_takes_pipelined_on_two_instances_never_pass_the_limit(instances: Any) -> None:
    one, two = await instances(), await instances()
    results = await asyncio.gather(*((one if i % 2 else two).take([1, 2], "video", [3, 4]) for i in range(60)))
    held = [r.index for r in results if r.hold is not None]
    assert sorted(held) == [0] * 3 + [1] * 4  # 7 slots in all, each account's limit exactly
    assert (await one.survey([1, 2], "video")).in_flight == {1: 3, 2: 4}


async def test_a_script_the_server_lost_is_sent_again_with_its_text(instances: Any, redis_url: str) -> None:
    coordinator = await instances()
    assert (await coordinator.take([1], "image", [2])).hold is not None
    client = redis.Redis.from_url(redis_url)
    await client.script_flush()  # as after a restart of Redis: EVALSHA answers NOSCRIPT
    await client.aclose()
    taken = await asyncio.gather(*(coordinator.take([1], "image", [2]) for _ in range(3)))
    assert [t.hold is not None for t in taken] == [True, False, False]


async def one_slot_gateway(fake: FakeWorld, redis_url: str, limit: int = 1) -> tuple[Any, Any, Any]:
    """A gateway on Redis with one account of ``limit`` image slots: its pool, the fake image entry, providers."""
    gw = await fake.start(accounts=1, coordination={"redis_url": redis_url})
    await gw.pool.update(gw.pool.records()[0].id, image_concurrency=limit)
    return gw.pool, gw.app[CATALOG].current.resolve(FAKE_IMAGE_MODEL), gw.app[PROVIDERS]


async def given_back(pool: Any) -> None:
    """Wait (up to 1 s) until no holder of the pool's one account is left in Redis (a release's ZREM is sent in
    the background)."""
    account = pool.records()[0].id
    for _ in range(50):
        if not (await pool.coordination.survey([account], "image")).in_flight:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the slot was never given back to Redis")


async def test_waiters_for_an_account_this_process_fills_make_no_trip_and_get_the_slot_handed_over(
    fake: FakeWorld, redis_url: str,
) -> None:
    pool, entry, providers = await one_slot_gateway(fake, redis_url)
    first = await pool.acquire(entry, providers, timeout=5)
    before = await evalsha_calls(redis_url)
    waiters = [asyncio.create_task(pool.acquire(entry, providers, timeout=10)) for _ in range(20)]
    await asyncio.sleep(0.5)  # ten poll intervals: before, the head of the queue surveyed Redis every 50 ms
    assert await evalsha_calls(redis_url) == before
    assert not any(w.done() for w in waiters)
    pool.release(first)
    while waiters:  # each release hands the one slot to the next waiter, in arrival order
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED, timeout=5)
        assert done == {waiters[0]}
        pool.release(waiters.pop(0).result())
    assert await evalsha_calls(redis_url) == before  # 20 turnovers, not one script call
    await given_back(pool)  # the last release found no waiter: the slot went back to Redis


async def test_a_slot_is_not_handed_over_past_a_lowered_limit(fake: FakeWorld, redis_url: str) -> None:
    pool, entry, providers = await one_slot_gateway(fake, redis_url, limit=2)
    leases = [await pool.acquire(entry, providers, timeout=5) for _ in range(2)]
    waiter = asyncio.create_task(pool.acquire(entry, providers, timeout=10))
    await asyncio.sleep(0.1)
    await pool.update(pool.records()[0].id, image_concurrency=1)
    pool.release(leases[0])  # 2 → 1 held: the new limit, so the waiter must go on waiting
    await asyncio.sleep(0.4)
    assert not waiter.done()
    pool.release(leases[1])
    pool.release(await asyncio.wait_for(waiter, 5))


async def test_a_handed_slot_whose_waiter_was_cancelled_goes_back_to_redis(fake: FakeWorld, redis_url: str) -> None:
    pool, entry, providers = await one_slot_gateway(fake, redis_url)
    first = await pool.acquire(entry, providers, timeout=5)
    waiter = asyncio.create_task(pool.acquire(entry, providers, timeout=10))
    await asyncio.sleep(0.1)
    waiter.cancel()  # the waiter is cancelled (its task not yet run again: the cancellation is thrown first)...
    pool.release(first)  # ...and the slot handed to it meanwhile
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await given_back(pool)
    pool.release(await pool.acquire(entry, providers, timeout=1))
