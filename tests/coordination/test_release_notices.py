"""A slot released on one instance wakes the request waiting for it on another (issue 17, item 2; pub/sub).

Two real gateways on one real Redis (:mod:`flow2api.testing.redis`), an account with ``image_concurrency = 1``
held by a request on the first; a request on the second waits for it. ``slot_poll_interval`` is 30 s, so a
wait well below that was ended by the release notice, not by a look. With pub/sub denied to the gateways
(Redis ACL), the poll alone still hands the slot over.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import redis.asyncio as redis

from flow2api.coordination.shared import RedisCoordinator
from flow2api.testing import FakeWorld, Gateway, RedisServer
from tests.coordination.test_instances import Gauge, post_image


async def one_slot_on_two(fake: FakeWorld, url: str, poll: float) -> tuple[Gateway, Gateway]:
    """Two gateways on the Redis at ``url`` looking every ``poll`` s, sharing one account with one image slot."""
    sections: dict[str, Any] = {"coordination": {"redis_url": url, "slot_poll_interval": poll},
                                "generation": {"image_slot_wait_timeout": 60}}
    first = await fake.start(accounts=1, **sections)
    await first.pool.update(first.pool.records()[0].id, image_concurrency=1)
    return first, await fake.start(accounts=1, **sections)


async def held_on_first_then_second(fake: FakeWorld, first: Gateway, second: Gateway) -> tuple[float, list[int]]:
    """A 1 s generation on ``first``, then (once it holds the slot) one on ``second``: the second's wall time in
    seconds and both statuses; the account's one slot is never exceeded (counted at the fake upstream)."""
    gauge = Gauge()
    holding = asyncio.Event()
    fake.image.default = [holding.set, *gauge.plan(1.0)]
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http:
        held = asyncio.create_task(post_image(http, first))
        await holding.wait()
        started = loop.time()
        waiter = await post_image(http, second)
        took = loop.time() - started
        statuses = [(await held)[0], waiter[0]]
    assert gauge.most == 1 and len(fake.image.calls) == 2
    return took, statuses


async def test_a_release_on_one_instance_wakes_the_waiter_on_another_well_before_its_poll(
    fake: FakeWorld, redis_url: str,
) -> None:
    first, second = await one_slot_on_two(fake, redis_url, poll=30)
    coordinator = second.pool.coordination
    assert isinstance(coordinator, RedisCoordinator)
    await asyncio.wait_for(coordinator.releases.subscribed.wait(), 5)  # it subscribes in the background
    took, statuses = await held_on_first_then_second(fake, first, second)
    assert statuses == [200, 200]
    assert took < 5  # ~2 s (the rest of the first's second, then its own): the poll alone would take 30 s


async def test_with_the_subscription_down_the_poll_still_hands_the_slot_over(
    fake: FakeWorld, private_redis: RedisServer,
) -> None:
    url = private_redis.url(0)
    admin = redis.Redis.from_url(url, decode_responses=True, single_connection_client=True)  # AUTH sticks
    try:  # the test keeps every command (as "watcher"); the gateways, the default user, lose SUBSCRIBE and PUBLISH
        await admin.execute_command("ACL", "SETUSER", "watcher", "on", ">watch", "~*", "&*", "+@all")
        await admin.execute_command("AUTH", "watcher", "watch")
        await admin.execute_command("ACL", "SETUSER", "default", "-@pubsub")
        first, second = await one_slot_on_two(fake, url, poll=0.5)
        await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # none can be left, but be sure
        coordinator = second.pool.coordination
        assert isinstance(coordinator, RedisCoordinator)
        took, statuses = await held_on_first_then_second(fake, first, second)
        channels = await admin.execute_command("PUBSUB", "NUMSUB", coordinator.releases.channel)
        assert not coordinator.releases.subscribed.is_set() and int(channels[1]) == 0
    finally:
        await admin.aclose()
    assert statuses == [200, 200] and took < 30
