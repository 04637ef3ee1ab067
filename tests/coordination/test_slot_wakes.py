"""The two wake-ups no release notice carries, on a real redis-server (issue 17, item 2): the holder of a dead
instance expires (nothing is published), and a notice published while this instance's subscription was
down is lost. ``slot_poll_interval`` is 30 s and the slot wait 20 s here, so a waiter served within a few
seconds was woken by the fix, not by its poll (the old code looks again only as the 20 s wait ends).
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import redis.asyncio as redis

from flow2api.coordination import slot_key
from flow2api.coordination.shared import RedisCoordinator
from flow2api.settings import CoordinationSection
from flow2api.testing import FakeWorld, Gateway, RedisServer, image_plan
from tests.coordination.test_instances import Gauge, post_image
from tests.coordination.test_redis_fast_path import evalsha_calls

POLL = 30.0
"""The waiters' ``slot_poll_interval``: far beyond every bound asserted below."""

#: A dead instance: holds the one image slot of account ``argv[2]`` on the Redis at ``argv[1]`` with a 3 s
#: holder TTL, renewing it, says "held", and runs until killed (SIGKILL: nothing released, renewal stops).
DEAD_INSTANCE = """
import asyncio, sys
from flow2api.coordination.shared import RedisCoordinator
from flow2api.settings import CoordinationSection

async def main():
    url, account = sys.argv[1], int(sys.argv[2])
    coordinator = RedisCoordinator(url, CoordinationSection.model_validate({"redis_url": url, "hold_ttl": 3}))
    await coordinator.start()
    taken = await coordinator.take([account], "image", [1])
    print("held" if taken.hold else "full", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def waiting_gateway(fake: FakeWorld, url: str, **coordination: Any) -> Gateway:
    """A gateway on the Redis at ``url`` looking every :data:`POLL` s, with one account of one image slot."""
    gw = await fake.start(accounts=1, coordination={"redis_url": url, "slot_poll_interval": POLL, **coordination},
                          generation={"image_slot_wait_timeout": 20})
    await gw.pool.update(gw.pool.records()[0].id, image_concurrency=1)
    return gw


async def until(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Return once ``check()`` is true, looking every 20 ms; fail after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not await check():
            await asyncio.sleep(0.02)


async def more_takes(url: str, than: int) -> bool:
    """Whether the server ran more than ``than`` scripts (no rate limit is set: only the slots' scripts run)."""
    return await evalsha_calls(url) > than


@pytest.fixture
async def admin_of() -> AsyncIterator[Callable[[str], redis.Redis]]:
    """``admin_of(url)`` → a single-connection client of the test's own (AUTH sticks), closed after the test."""
    made: list[redis.Redis] = []

    def make(url: str) -> redis.Redis:
        made.append(redis.Redis.from_url(url, decode_responses=True, single_connection_client=True))
        return made[-1]

    yield make
    for client in made:
        await client.aclose()


async def test_a_full_take_says_when_its_earliest_holder_expires(redis_url: str) -> None:
    short, other = (RedisCoordinator(redis_url, CoordinationSection.model_validate(
        {"redis_url": redis_url, "hold_ttl": ttl})) for ttl in (2, 30))
    try:  # neither is started: nothing renews the holders, as on a dead instance
        assert (await short.take([3], "image", [2])).hold is not None  # expires in 2 s
        assert (await other.take([3], "image", [2])).hold is not None  # in 30 s
        full = await other.take([3], "image", [2])
        assert full.hold is None and 0 < full.free_in <= 2.01  # the earlier of the two
        await other.cool_down(3, time.time() + 30)  # an account cooling down frees nothing when a holder expires
        assert (await other.take([3], "image", [2])).free_in == math.inf
        taken = await other.take([3, 4], "image", [2, 1])  # a slot taken: nothing to wait for
        assert taken.index == 1 and taken.free_in == math.inf
    finally:
        await short.close()
        await other.close()


async def test_a_dead_instances_slot_goes_to_a_waiter_elsewhere_right_after_its_holder_expires(
    fake: FakeWorld, redis_url: str, admin_of: Callable[[str], redis.Redis],
) -> None:
    gw = await waiting_gateway(fake, redis_url)
    account = gw.pool.records()[0].id
    dead = await asyncio.create_subprocess_exec(sys.executable, "-c", DEAD_INSTANCE, redis_url, str(account),
                                                stdout=asyncio.subprocess.PIPE)
    try:
        assert dead.stdout is not None
        assert (await asyncio.wait_for(dead.stdout.readline(), 60)).strip() == b"held"
    finally:
        dead.kill()  # kill -9: its holder stays until it expires
        await dead.wait()
    admin, coordinator = admin_of(redis_url), gw.pool.coordination
    assert isinstance(coordinator, RedisCoordinator)
    [(_, expiry)] = await admin.zrange(coordinator.key(slot_key(account, "image")), 0, -1, withscores=True)
    seconds, micros = await admin.time()
    left = (expiry - (seconds * 1000 + micros // 1000)) / 1000  # the holder's life left, on Redis's clock
    assert 0 < left <= 3
    loop = asyncio.get_running_loop()
    sent = loop.time()
    started: list[float] = []
    fake.image.default = [lambda: started.append(loop.time()), *image_plan()]
    async with aiohttp.ClientSession() as http:
        status, _ = await post_image(http, gw)
    took = loop.time() - sent
    assert status == 200 and len(fake.image.calls) == 1
    assert started[0] >= sent + left - 0.05  # never admitted while the dead holder was live
    assert took < left + 5  # right after the expiry; the poll alone would look after 30 s (past the 20 s wait)


async def test_a_release_sent_while_the_subscription_was_down_wakes_the_waiter_once_it_is_back(
    fake: FakeWorld, private_redis: RedisServer, admin_of: Callable[[str], redis.Redis],
) -> None:
    url = private_redis.url(0)
    admin = admin_of(url)
    for user in ("releaser", "waiter"):  # one user per gateway: only the waiter's subscription is denied
        await admin.execute_command("ACL", "SETUSER", user, "on", f">{user}-pw", "~*", "&*", "+@all")
    first, second = [await waiting_gateway(fake, f"redis://{user}:{user}-pw@127.0.0.1:{private_redis.port}/0",
                                           hold_ttl=60) for user in ("releaser", "waiter")]
    channel = second.pool.coordination
    assert isinstance(channel, RedisCoordinator)
    await asyncio.wait_for(channel.releases.subscribed.wait(), 10)
    gauge, holding, finish = Gauge(), asyncio.Event(), asyncio.Event()
    fake.image.default = [gauge.enter, holding.set, finish, gauge.leave, *image_plan()]
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http:
        held = asyncio.create_task(post_image(http, first))
        await holding.wait()
        takes = await evalsha_calls(url)
        waiter = asyncio.create_task(post_image(http, second))
        await until(lambda: more_takes(url, takes))  # the waiter took, found the slot full and waits
        await admin.execute_command("ACL", "SETUSER", "waiter", "-subscribe")
        await admin.execute_command("CLIENT", "KILL", "USER", "waiter", "TYPE", "pubsub")

        async def down() -> bool:
            return not channel.releases.subscribed.is_set()

        await until(down)
        finish.set()  # the release (ZREM + PUBLISH) reaches nobody on the waiter's side
        assert (await held)[0] == 200
        slots = channel.key(slot_key(first.pool.records()[0].id, "image"))  # one key prefix: one set

        async def released() -> bool:
            return await admin.zcard(slots) == 0

        await until(released)
        assert not waiter.done()
        await admin.execute_command("ACL", "SETUSER", "waiter", "+subscribe")
        back = loop.time()
        status, _ = await asyncio.wait_for(waiter, 25)
    assert status == 200 and gauge.most == 1 and len(fake.image.calls) == 2
    assert loop.time() - back < 10  # a resubscription (1 s apart) and a take; the poll would take 30 s
