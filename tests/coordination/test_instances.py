"""Two gateways on one database and one Redis behave as one (issue 17, items 2 and 6).

Each test starts two real gateways in this process on the same SQLite file (``fake.start`` shares the data
directory) and the same real Redis server (:mod:`flow2api.testing.redis`), and alternates requests between
them, as a load balancer would. What runs at once is counted at the fake upstream (the shared script).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from flow2api.apikeys import API_KEYS
from flow2api.errors import UpstreamRateLimitedError
from flow2api.testing import API_KEY, FAKE_IMAGE_MODEL, FakeWorld, Gateway, RedisServer, image_plan



class Gauge:
    """How many fake generations run now, and the most that ever ran at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    def enter(self) -> None:
        self.now += 1
        self.most = max(self.most, self.now)

    def leave(self) -> None:
        self.now -= 1

    def plan(self, seconds: float = 0.03) -> list[Any]:
        """A plan that counts itself while the upstream 'works' for ``seconds``."""
        return [self.enter, seconds, self.leave, *image_plan()]


def shared(url: str, **more: Any) -> dict[str, Any]:
    """The settings sections of a gateway coordinated on the Redis at ``url`` (``""``: in-process)."""
    return {"coordination": {"redis_url": url}, "generation": {"image_slot_wait_timeout": 30}, **more}


async def two_gateways(fake: FakeWorld, url: str, *, image_concurrency: int = -1, **more: Any) -> list[Gateway]:
    first = await fake.start(accounts=1, **shared(url, **more))
    if image_concurrency >= 0:
        await first.pool.update(first.pool.records()[0].id, image_concurrency=image_concurrency)
    second = await fake.start(accounts=1, **shared(url, **more))  # loads the account (and the change) from the file
    return [first, second]


async def post_image(http: aiohttp.ClientSession, gw: Gateway, key: str = API_KEY) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{gw.url}/v1/images/generations", json={"model": FAKE_IMAGE_MODEL, "prompt": "a square"},
                         headers={"Authorization": f"Bearer {key}"}) as response:
        return response.status, await response.json()


async def spread(gateways: list[Gateway], n: int, send: Callable[..., Any]) -> list[tuple[int, dict[str, Any]]]:
    """``n`` concurrent ``send(http, gateway)`` calls, alternating between ``gateways``."""
    async with aiohttp.ClientSession() as http:
        return await asyncio.gather(*(send(http, gateways[i % len(gateways)]) for i in range(n)))


async def test_an_account_with_one_image_slot_never_runs_two_generations_across_instances(
    fake: FakeWorld, redis_url: str,
) -> None:
    gauge = Gauge()
    fake.image.default = gauge.plan()
    gateways = await two_gateways(fake, redis_url, image_concurrency=1)
    results = await spread(gateways, 20, post_image)
    assert [status for status, _ in results] == [200] * 20
    assert gauge.most == 1 and len(fake.image.calls) == 20


async def test_without_redis_two_instances_do_not_share_the_slot(fake: FakeWorld) -> None:
    """The control: each in-process gateway counts its own slots, so two of them run two generations at once."""
    gauge = Gauge()
    fake.image.default = gauge.plan(0.1)
    gateways = await two_gateways(fake, "", image_concurrency=1)
    await spread(gateways, 8, post_image)
    assert gauge.most == 2


async def test_a_key_with_rpm_5_gets_5_successes_across_instances(fake: FakeWorld, redis_url: str) -> None:
    first = await fake.start(accounts=1, **shared(redis_url))
    _, key = await first.app[API_KEYS].create("five a minute", rpm=5)
    second = await fake.start(accounts=1, **shared(redis_url))  # loads the key from the shared database
    results = await spread([first, second], 12, lambda http, gw: post_image(http, gw, key))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 5 + [429] * 7
    refused = next(body for status, body in results if status == 429)
    assert refused["error"]["code"] == "rate_limit_exceeded"


async def test_a_cool_down_on_one_instance_is_honoured_by_the_other_at_once(fake: FakeWorld, redis_url: str) -> None:
    first, second = await two_gateways(fake, redis_url, admin={"error_ban_threshold": 0})
    fake.image.plans.append([UpstreamRateLimitedError("quota", retry_after=30)])
    async with aiohttp.ClientSession() as http:
        status, _ = await post_image(http, first)
        assert status != 200
        status, body = await post_image(http, second)  # before the change feed could carry the row over
    assert status == 503 and body["error"]["code"] == "no_account_available"
    assert "cooling down" in body["error"]["message"]
    assert len(fake.image.calls) == 1


async def test_a_lost_redis_refuses_new_work_with_503_and_fails_ready(
    fake: FakeWorld, private_redis: RedisServer,
) -> None:
    gw = await fake.start(accounts=1, **shared(private_redis.url(0), coordination={
        "redis_url": private_redis.url(0), "timeout": 0.5}))
    async with aiohttp.ClientSession() as http:
        assert (await post_image(http, gw))[0] == 200
        async with http.get(f"{gw.url}/ready") as response:
            assert response.status == 200
        private_redis.stop()
        status, body = await post_image(http, gw)
        assert status == 503
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert body["error"]["code"] == "coordination_unavailable" and body["error"]["type"] == "server_error"
        async with http.get(f"{gw.url}/ready") as response:
            assert response.status == 503
            ready = await response.json()
        async with http.get(f"{gw.url}/health") as response:
            health = await response.json()
    assert ready["ready"] is False and ready["coordination"] == {"backend": "redis", "reachable": False}
    assert ready["storage"] == {"backend": "sqlite", "reachable": True}
    assert health["status"] == "degraded" and health["coordination"]["reachable"] is False
    assert len(fake.image.calls) == 1
