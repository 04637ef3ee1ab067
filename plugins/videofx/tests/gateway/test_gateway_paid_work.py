"""Paid work is never abandoned, against the Flow emulator (issue 21 item 6, "Must show").

A non-stream chat image whose client hangs up after ``batchGenerateImages``
(the CDN fetch held by a ``latency`` fault) still finishes: the emulator
generates once, the task row ends ``completed`` with the image cached; the
same request with the same ``Idempotency-Key`` answers that image with no new
upstream call, and the key with another body is a 409.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from openai import ConflictError
from videofx_gateway import API_KEY, Gateway, Upstream

from flow2api.storage.tasks import TASKS
from flow2api.testing import until
from flow2api_videofx.emulator.faults import FaultRule

MODEL = "gemini-3.1-flash-image"
SdkFactory = Any

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def generations(upstream: Upstream) -> int:
    return sum(1 for r in upstream.emulator.requests if r.operation == "batchGenerateImages")


async def test_chat_image_left_after_submit_completes_and_replays(
        gateway: Gateway, upstream: Upstream, sdk: SdkFactory) -> None:
    upstream.emulator.faults.add(FaultRule(kind="latency", latency_ms=700, operation="cdn.image", count=1))
    messages = [{"role": "user", "content": "a lighthouse at dusk"}]
    key = {"Idempotency-Key": "lighthouse-dusk"}
    headers = {"Authorization": f"Bearer {API_KEY}", **key}

    async def post() -> None:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{gateway.url}/v1/chat/completions", headers=headers,
                                 json={"model": MODEL, "messages": messages}) as response:
                await response.read()

    client_task = asyncio.create_task(post())
    tasks = gateway.app[TASKS]

    async def submitted() -> Any:  # the Submitted checkpoint is stored: upstream made (and charged for) the image
        record = await tasks.find_idempotent("global", key["Idempotency-Key"])
        return record if record is not None and record.resume else None

    stored = await until(submitted, timeout=10.0)
    client_task.cancel()  # hang up while the gateway fetches the image from the CDN
    with pytest.raises(asyncio.CancelledError):
        await client_task

    async def finished() -> Any:
        record = await tasks.get(stored.id)
        return record if record.finished else None

    record = await until(finished, timeout=10.0)
    assert record.status == "completed", record.error
    name = record.result["names"][0]
    async with aiohttp.ClientSession() as http, http.get(f"{gateway.url}/media/{name}") as media:
        assert media.status == 200 and (await media.read()).startswith(b"\x89PNG")
    assert generations(upstream) == 1

    client = sdk(gateway)
    again = await client.chat.completions.create(model=MODEL, messages=messages, extra_headers=key)
    assert name in again.choices[0].message.content and generations(upstream) == 1
    with pytest.raises(ConflictError) as refused:
        await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "a lighthouse at dawn"}], extra_headers=key)
    assert refused.value.body["code"] == "idempotency_key_reused"
    assert generations(upstream) == 1
