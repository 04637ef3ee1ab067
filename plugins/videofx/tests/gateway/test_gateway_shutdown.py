"""Paid work a client left while the server stops, against the Flow emulator (issue 21 item 6).

A non-stream chat image whose client hangs up after ``batchGenerateImages`` (the
CDN fetch held by a ``latency`` fault) is still running when the gateway stops.
Within ``[jobs] shutdown_grace`` it finishes: after a restart on the same data
directory the row is ``completed`` with its image cached, and the same request
with the same ``Idempotency-Key`` is answered from it. Past the grace it is
cancelled and failed ``server_shutdown``, and nothing submits it again. Either
way the emulator generated once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from videofx_gateway import API_KEY, Gateway, Upstream, make_settings

from flow2api.jobs.engine import ENGINE
from flow2api.storage.tasks import TASKS
from flow2api.testing import until
from flow2api_videofx.emulator.faults import FaultRule

MODEL = "gemini-3.1-flash-image"
MESSAGES = [{"role": "user", "content": "a harbour in the fog"}]

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def generations(upstream: Upstream) -> int:
    return sum(1 for r in upstream.emulator.requests if r.operation == "batchGenerateImages")


async def start(start_gateway: Callable, tmp_path: Path, upstream: Upstream, grace: float) -> Gateway:
    """A gateway on ``tmp_path``'s data directory with one emulator account (added on the first start only)."""
    gw = await start_gateway(make_settings(tmp_path, upstream, jobs={"shutdown_grace": grace}))
    if not gw.pool.records():
        account = upstream.emulator.add_account("alice@example.com", tier="PAYGATE_TIER_ONE", credits=500)
        await gw.pool.add("videofx", {"st": account.st})
    return gw


async def leave_after_submit(gw: Gateway, key: str) -> str:
    """POST a non-stream chat image with ``Idempotency-Key: key`` and hang up once upstream made (and charged for)
    the image; returns the task id. The job is then running in the background."""
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": key}

    async def post() -> None:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{gw.url}/v1/chat/completions", headers=headers,
                                 json={"model": MODEL, "messages": MESSAGES}) as response:
                await response.read()

    client = asyncio.create_task(post())

    async def submitted() -> Any:
        record = await gw.app[TASKS].find_idempotent("global", key)
        return record if record is not None and record.resume else None

    stored = await until(submitted, timeout=10.0)
    client.cancel()
    with pytest.raises(asyncio.CancelledError):
        await client
    await until(lambda: _async(len(gw.app[ENGINE].detached) == 1), timeout=5.0)
    return stored.id


async def test_a_left_job_running_at_shutdown_finishes_within_the_grace(
        start_gateway: Callable, tmp_path: Path, upstream: Upstream, sdk: Any) -> None:
    upstream.emulator.faults.add(FaultRule(kind="latency", latency_ms=1500, operation="cdn.image", count=1))
    first = await start(start_gateway, tmp_path, upstream, grace=20)
    task_id = await leave_after_submit(first, "harbour-1")
    assert not (await first.app[TASKS].get(task_id)).finished  # still fetching when the server stops
    await first.server.close()  # returns once the job has finished

    second = await start(start_gateway, tmp_path, upstream, grace=20)  # a restart reads what the first left
    record = await second.app[TASKS].get(task_id)
    assert record.status == "completed", record.error
    name = record.result["names"][0]
    async with aiohttp.ClientSession() as http, http.get(f"{second.url}/media/{name}") as media:
        assert media.status == 200 and (await media.read()).startswith(b"\x89PNG")
    again = await sdk(second).chat.completions.create(model=MODEL, messages=MESSAGES,
                                                      extra_headers={"Idempotency-Key": "harbour-1"})
    assert name in again.choices[0].message.content
    assert generations(upstream) == 1  # paid once: neither the shutdown, the restart nor the replay submitted again


async def test_a_left_job_past_the_grace_is_failed_and_never_submitted_again(
        start_gateway: Callable, tmp_path: Path, upstream: Upstream) -> None:
    upstream.emulator.faults.add(FaultRule(kind="latency", latency_ms=8000, operation="cdn.image", count=1))
    first = await start(start_gateway, tmp_path, upstream, grace=0.3)
    task_id = await leave_after_submit(first, "harbour-2")
    stopping = time.monotonic()
    await first.server.close()
    assert time.monotonic() - stopping < 6  # the grace, not the 8 s fetch

    second = await start(start_gateway, tmp_path, upstream, grace=0.3)
    await asyncio.sleep(0.5)  # whatever a start-up would resubmit has started by now
    record = await second.app[TASKS].get(task_id)
    assert record.status == "failed" and record.error.startswith("server_shutdown"), record.error
    assert record.resume  # upstream's state stays in the row for the operator
    assert generations(upstream) == 1 and len(second.app[ENGINE].detached) == 0


async def _async(value: Any) -> Any:
    return value
