"""Paid work is never abandoned, and ``Idempotency-Key`` on chat, Images and Gemini (issue 21 item 6).

A job held after ``Submitted`` (an ``asyncio.Event`` step) whose client hangs
up still finishes: the fake provider generates once, the task row ends
``completed`` with its media, and the same request with the same key is
answered from it without a second call; another body with that key is a 409.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from openai import ConflictError

from flow2api.jobs.engine import ENGINE
from flow2api.plugin import Kind, MediaOutput, Progress, Submitted
from flow2api.storage.tasks import TASKS
from tests.api.conftest import IMAGE_MODEL, MP4, VIDEO_MODEL, FakeWorld, SdkFactory, png
from tests.api.test_videos import eventually
from tests.conftest import API_KEY, Gateway

HEADERS = {"Authorization": f"Bearer {API_KEY}"}


def held_image(submitted: asyncio.Event, release: asyncio.Event, data: bytes) -> list[Any]:
    """Submitted, then wait for ``release``, then one PNG: a paid job the test holds after the submit."""
    return [Submitted({"op": "img-op"}), submitted.set, release,
            MediaOutput(Kind.IMAGE, mime_type="image/png", data=data, upstream_id="img-held")]


async def hang_up_after_submit(gw: Gateway, path: str, body: dict[str, Any], headers: dict[str, str],
                               submitted: asyncio.Event) -> None:
    """POST ``body`` and close the connection once the provider has submitted (the handler is then cancelled)."""
    async def post() -> None:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{gw.url}{path}", json=body, headers={**HEADERS, **headers}) as response:
                await response.read()

    client = asyncio.create_task(post())
    await asyncio.wait_for(submitted.wait(), 10)
    client.cancel()
    with pytest.raises(asyncio.CancelledError):
        await client


async def settled(gw: Gateway, task_id: Callable[[], Awaitable[Any]]) -> Any:
    """The task row once it finished."""
    async def check() -> Any:
        record = await task_id()
        return record if record is not None and record.finished else None

    return await eventually(check)


async def test_chat_disconnect_after_submit_finishes_and_the_key_replays_it(
        fake: FakeWorld, sdk: SdkFactory) -> None:
    submitted, release = asyncio.Event(), asyncio.Event()
    produced = png(24, 24, (1, 2, 3))
    fake.image.plans.append(held_image(submitted, release, produced))
    gw = await fake.start()
    body = {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": "a lighthouse"}]}
    key = {"Idempotency-Key": "chat-lighthouse-1"}
    await hang_up_after_submit(gw, "/v1/chat/completions", body, key, submitted)
    await asyncio.sleep(0.2)  # the handler is cancelled by now; the job must still be running
    tasks = gw.app[TASKS]
    stored = await tasks.find_idempotent("global", key["Idempotency-Key"])
    assert stored is not None and stored.status == "in_progress" and len(gw.app[ENGINE].detached) == 1
    release.set()
    record = await settled(gw, lambda: tasks.get(stored.id))
    assert record.status == "completed" and record.error is None
    name = record.result["names"][0]
    assert record.result["mime_types"] == ["image/png"]
    async with aiohttp.ClientSession() as http, http.get(f"{gw.url}/media/{name}") as media:
        assert media.status == 200 and await media.read() == produced
    assert len(fake.image.calls) == 1

    client = sdk(gw)
    again = await client.chat.completions.with_raw_response.create(
        model=IMAGE_MODEL, messages=body["messages"], extra_headers=key)
    assert name in again.parse().choices[0].message.content
    streamed = await client.chat.completions.create(
        model=IMAGE_MODEL, messages=body["messages"], extra_headers=key, stream=True)
    chunks = "".join([c.choices[0].delta.content or "" async for c in streamed if c.choices])
    assert name in chunks
    assert len(fake.image.calls) == 1  # no second upstream call

    with pytest.raises(ConflictError) as refused:
        await client.chat.completions.create(
            model=IMAGE_MODEL, messages=[{"role": "user", "content": "another lighthouse"}], extra_headers=key)
    assert refused.value.body["code"] == "idempotency_key_reused" and refused.value.body["param"] == "Idempotency-Key"
    assert len(fake.image.calls) == 1


async def test_a_disconnect_before_the_submit_still_cancels(fake: FakeWorld) -> None:
    started, never = asyncio.Event(), asyncio.Event()
    fake.image.plans.append([Progress("queued"), started.set, never])
    gw = await fake.start()
    body = {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": "x"}]}
    await hang_up_after_submit(gw, "/v1/chat/completions", body, {"Idempotency-Key": "early-1"}, started)
    tasks = gw.app[TASKS]
    record = await settled(gw, lambda: tasks.find_idempotent("global", "early-1"))
    assert record.status == "failed" and record.error.startswith("client_disconnected")
    assert len(gw.app[ENGINE].detached) == 0
    # A failed job releases its key: the same request runs afresh.
    fake.image.plans.append([MediaOutput(Kind.IMAGE, mime_type="image/png", data=png(), upstream_id="i")])
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{gw.url}/v1/chat/completions", json=body,
                             headers={**HEADERS, "Idempotency-Key": "early-1"}) as response:
            assert response.status == 200 and "/media/" in (await response.json())["choices"][0]["message"]["content"]
    assert len(fake.image.calls) == 2


async def test_a_repeated_key_joins_the_running_job(fake: FakeWorld, sdk: SdkFactory) -> None:
    submitted, release = asyncio.Event(), asyncio.Event()
    fake.image.plans.append(held_image(submitted, release, png(8, 8)))
    gw = await fake.start()
    client = sdk(gw)
    key = {"Idempotency-Key": "join-1"}

    def ask() -> Any:
        return client.images.generate(model=IMAGE_MODEL, prompt="a fox", extra_headers=key)

    first = asyncio.create_task(ask())
    await asyncio.wait_for(submitted.wait(), 10)
    second = asyncio.create_task(ask())
    await asyncio.sleep(0.3)
    assert not second.done()
    release.set()
    a, b = await asyncio.gather(first, second)
    assert a.data[0].url == b.data[0].url and len(fake.image.calls) == 1
    with pytest.raises(ConflictError):
        await client.images.generate(model=IMAGE_MODEL, prompt="a wolf", extra_headers=key)


async def test_images_fan_out_and_edits_replay_per_key(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    client = sdk(gw)
    key = {"Idempotency-Key": "two-foxes"}
    first = await client.images.generate(model=IMAGE_MODEL, prompt="foxes", n=2, extra_headers=key)
    again = await client.images.generate(model=IMAGE_MODEL, prompt="foxes", n=2, extra_headers=key,
                                         response_format="b64_json")
    assert len(first.data) == len(again.data) == 2 and len(fake.image.calls) == 2
    assert base64.b64decode(again.data[0].b64_json) == png()
    edit_key = {"Idempotency-Key": "edit-1"}
    source = png(10, 10, (5, 5, 5))
    edited = await client.images.edit(model=IMAGE_MODEL, prompt="blue", image=("a.png", source), extra_headers=edit_key)
    repeat = await client.images.edit(model=IMAGE_MODEL, prompt="blue", image=("a.png", source), extra_headers=edit_key)
    assert edited.data[0].url == repeat.data[0].url and len(fake.image.calls) == 3
    with pytest.raises(ConflictError):
        await client.images.edit(model=IMAGE_MODEL, prompt="blue", image=("b.png", png(11, 11)), extra_headers=edit_key)


async def test_gemini_generate_content_replays_per_caller(fake: FakeWorld) -> None:
    gw = await fake.start()
    path = f"{gw.url}/v1beta/models/{IMAGE_MODEL}:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "a moth"}]}]}
    headers = {"x-goog-api-key": API_KEY, "Idempotency-Key": "moth-1"}
    async with aiohttp.ClientSession() as http:
        async with http.post(path, json=body, headers=headers) as r:
            first = await r.json()
        async with http.post(path, json=body, headers=headers) as r:
            again = await r.json()
        assert len(fake.image.calls) == 1 and again["candidates"][0]["content"]["parts"] == \
            first["candidates"][0]["content"]["parts"]
        other = {"contents": [{"role": "user", "parts": [{"text": "a butterfly"}]}]}
        async with http.post(path, json=other, headers=headers) as r:
            refused = await r.json()
        assert r.status == 409 and refused["error"]["status"] == "ABORTED", refused
    assert len(fake.image.calls) == 1


async def test_a_video_chat_left_after_submit_completes(fake: FakeWorld) -> None:
    submitted, release = asyncio.Event(), asyncio.Event()
    fake.video.plans.append([Submitted({"op": 1}), submitted.set, Progress("rendering"), release,
                             MediaOutput(Kind.VIDEO, mime_type="video/mp4", data=MP4, upstream_id="v")])
    gw = await fake.start()
    body = {"model": VIDEO_MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True}
    await hang_up_after_submit(gw, "/v1/chat/completions", body, {"Idempotency-Key": "v-1"}, submitted)
    release.set()
    record = await settled(gw, lambda: gw.app[TASKS].find_idempotent("global", "v-1"))
    assert record.status == "completed" and record.result["mime_types"] == ["video/mp4"]
