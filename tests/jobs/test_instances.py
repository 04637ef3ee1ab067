"""Live instances with two gateway apps on one database (issue 17 item 6), on SQLite and PostgreSQL.

Instance ``A`` serves a chat request that waits upstream; instance ``B`` starts meanwhile and must leave A's row
alone while A beats, then fail it once A's heartbeat is stale. A dead ``A`` is simulated as in
tests/jobs/test_runner_leases.py: its background tasks (named ``…@A``) are cancelled, so its row of
``instances`` is neither refreshed nor removed, as after a ``kill -9``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from flow2api.jobs.instances import INSTANCES
from flow2api.plugin import Progress
from flow2api.storage.tasks import FAILED, RUNNING, TASKS
from flow2api.testing import API_KEY, FAKE_IMAGE_MODEL, FakeWorld, Gateway, until

LEASE_S = 1.0  # the smallest [jobs] lease_seconds: a heartbeat every third of a second
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest) -> dict[str, str]:
    """``[storage]`` of both instances: the SQLite file of the shared data directory, or a new PostgreSQL database."""
    return {} if request.param == "sqlite" else {"url": request.getfixturevalue("postgres_url")}


async def start(fake: FakeWorld, storage: dict[str, str], name: str) -> Gateway:
    return await fake.start(storage=storage, server={"instance_id": name}, jobs={"lease_seconds": LEASE_S})


async def health(http: aiohttp.ClientSession, gw: Gateway) -> dict[str, Any]:
    async with http.get(f"{gw.url}/health") as resp:
        return await resp.json()


async def chat_rows(gw: Gateway) -> list[Any]:
    rows, _ = await gw.app[TASKS].page(owner="global", surface="chat")
    return rows


def kill(name: str) -> None:
    """Stop every background task of instance ``name`` (heartbeat, video leases) without its shutdown code."""
    for task in asyncio.all_tasks():
        if task.get_name().endswith(f"@{name}"):
            task.cancel()


async def test_rows_of_a_live_instance_survive_a_start_and_fail_once_its_heartbeat_is_stale(
    fake: FakeWorld, storage: dict[str, str],
) -> None:
    gate = asyncio.Event()  # never set: the request of A stays in flight upstream
    fake.image.plans.append([Progress("drawing", 10), gate])
    a = await start(fake, storage, "A")
    async with aiohttp.ClientSession() as http:
        body = {"model": FAKE_IMAGE_MODEL, "messages": [{"role": "user", "content": "a lighthouse"}]}
        request = asyncio.create_task(http.post(f"{a.url}/v1/chat/completions", json=body, headers=AUTH))
        (row,) = await until(lambda: chat_rows(a), 10)
        assert row.instance_id == "A" and row.status == RUNNING

        b = await start(fake, storage, "B")  # its start-up sweep runs here
        assert (await b.app[TASKS].get(row.id)).status == RUNNING
        assert (await health(http, b))["instances"] == 2
        await asyncio.sleep(LEASE_S * 1.5)  # several beats of B while A beats too: still A's
        assert (await b.app[TASKS].get(row.id)).status == RUNNING
        assert {i.instance_id for i in await b.app[INSTANCES].live_now()} == {"A", "B"}

        kill("A")
        failed = await until(lambda: _failed(b, row.id), LEASE_S * 4 + 5, interval=0.05)
        assert failed.error.startswith("server_restarted") and failed.completed_at is not None
        assert [i.instance_id for i in await b.app[INSTANCES].live_now()] == ["B"]
        assert (await health(http, b))["instances"] == 1
        request.cancel()


async def _failed(gw: Gateway, task_id: str) -> Any:
    record = await gw.app[TASKS].get(task_id)
    return record if record.status == FAILED else None


async def test_a_clean_stop_removes_the_instance_at_once(fake: FakeWorld, storage: dict[str, str]) -> None:
    a = await start(fake, storage, "A")
    b = await start(fake, storage, "B")
    assert [i.instance_id for i in await b.app[INSTANCES].live_now()] == ["A", "B"]
    await a.server.close()  # the app's shutdown: cleanup contexts in reverse order, the heartbeat's last
    assert [i.instance_id for i in await b.app[INSTANCES].live_now()] == ["B"]
