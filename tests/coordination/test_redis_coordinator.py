"""The Redis coordinator on a real redis-server: holders expire unless renewed, the refresh lock gives one
refresh per account across instances, and both backends satisfy the same slot contract."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest

from flow2api.coordination import Coordinator, create_coordinator
from flow2api.plugin import AccountUpdate, AccountView, Kind
from flow2api.settings import CoordinationSection
from flow2api.testing import API_KEY, FAKE_IMAGE_MODEL, FakeFamily, FakeProvider, FakeWorld


def section(url: str, **more: Any) -> CoordinationSection:
    return CoordinationSection.model_validate({"redis_url": url, **more})


@pytest.fixture
async def instances(redis_url: str) -> AsyncIterator[Any]:
    """``await instances(started=True, **section)`` → a new Redis coordinator (an 'instance'), closed after."""
    made: list[Coordinator] = []

    async def make(started: bool = True, **more: Any) -> Coordinator:
        coordinator = create_coordinator(section(redis_url, **more))
        if started:
            await coordinator.start()
        made.append(coordinator)
        return coordinator

    yield make
    for coordinator in made:
        await coordinator.close()


@pytest.fixture(params=["in-process", "redis"])
async def coordinator(request: pytest.FixtureRequest) -> AsyncIterator[Coordinator]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    made = create_coordinator(section(url))
    await made.start()
    yield made
    await made.close()


async def hold(coordinator: Coordinator, account_id: int, limit: int, kind: str = "image") -> bool:
    return (await coordinator.take([account_id], kind, [limit])).hold is not None


async def test_slots_are_counted_held_and_given_back_on_both_backends(coordinator: Coordinator) -> None:
    first = await coordinator.take([7], "image", [2])
    assert first.index == 0 and first.hold is not None
    assert first.survey.in_flight == {7: 1}  # the count after the step, reported by the same call
    assert await hold(coordinator, 7, 2)
    assert not await hold(coordinator, 7, 2)
    assert (await coordinator.survey([7, 8], "image")).in_flight == {7: 2}
    assert (await coordinator.survey([7, 8], "video")).in_flight == {}
    woken = asyncio.Event()
    coordinator.release(first.hold, woken.set)
    await asyncio.wait_for(woken.wait(), 5)
    assert (await coordinator.survey([7], "image")).in_flight == {7: 1}
    assert await hold(coordinator, 7, 2)
    assert await hold(coordinator, 8, -1)  # -1: unlimited


async def test_a_full_first_choice_moves_the_hold_to_the_next_set(coordinator: Coordinator) -> None:
    assert await hold(coordinator, 1, 1)
    taken = await coordinator.take([1, 2], "image", [1, 1])
    assert taken.index == 1 and taken.survey.in_flight == {1: 1, 2: 1}
    full = await coordinator.take([1, 2], "image", [1, 1])
    assert full.index is None and full.hold is None and full.survey.in_flight == {1: 1, 2: 1}


async def test_a_dead_instances_slot_frees_itself_and_a_live_one_keeps_it(instances: Any) -> None:
    dead = await instances(started=False, hold_ttl=1)  # never renews: as if its process were gone
    live = await instances(hold_ttl=1)
    other = await instances(hold_ttl=1)
    assert await hold(dead, 1, 1, "video")
    assert await hold(live, 2, 1, "video")
    assert not await hold(other, 1, 1, "video")
    await asyncio.sleep(1.6)  # past the dead holder's expiry; the live one was renewed meanwhile
    assert await hold(other, 1, 1, "video")
    assert not await hold(other, 2, 1, "video")


async def test_cool_downs_are_shared_and_end_by_themselves(instances: Any) -> None:
    one, two = await instances(), await instances()
    until = time.time() + 0.5
    await one.cool_down(5, until)
    assert (await two.survey([4, 5], "image")).cooling == {5: pytest.approx(until)}
    await asyncio.sleep(0.7)
    assert (await two.survey([4, 5], "image")).cooling == {}


class SlowRefreshFamily(FakeFamily):
    """A fake family whose credential is due until refreshed; each refresh takes a while and is counted."""

    def __init__(self) -> None:
        self.refreshes: list[str] = []

    def refresh_due(self, view: AccountView, now: float) -> bool:
        return view.state.get("fresh_until", 0) < now

    async def refresh(self, account: Any, http: Any) -> None:
        self.refreshes.append(account.view.secrets["token"])
        await asyncio.sleep(0.3)
        token = f"{account.view.secrets['token']}-refreshed"
        await account.save(AccountUpdate(secrets={"token": token}, state={"fresh_until": time.time() + 3600}))


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "in-process"])
async def test_one_refresh_per_account_across_instances(fake: FakeWorld, redis_url: str, shared: bool) -> None:
    family = SlowRefreshFamily()
    plugins: Mapping[str, Any] = {
        "fake-image": lambda ctx: FakeProvider("fake-image", Kind.IMAGE, script=fake.image, family=family)}
    sections = {"coordination": {"redis_url": redis_url if shared else ""}}
    gateways = [await fake.start(accounts=1, plugins=plugins, **sections) for _ in range(2)]
    async with aiohttp.ClientSession() as http:

        async def post(url: str) -> int:
            async with http.post(f"{url}/v1/images/generations", json={"model": FAKE_IMAGE_MODEL, "prompt": "x"},
                                 headers={"Authorization": f"Bearer {API_KEY}"}) as response:
                return response.status

        statuses = await asyncio.gather(*(post(gateways[i % 2].url) for i in range(6)))
    assert statuses == [200] * 6
    # With Redis the instance that waited for the lock adopts the stored token; alone, each refreshes its own.
    assert len(family.refreshes) == (1 if shared else 2)
    assert all(gw.pool.view(gw.pool.records()[0].id).secrets["token"].endswith("-refreshed") for gw in gateways)
