"""The in-flight limit of generation requests (flow2api.limits.InFlightLimit; issue 18, finding 7), end to end.

Slow generations are fake-provider plans that wait on an ``asyncio.Event``; what is asserted is who got
a 429 and who was served, never timing.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import tracemalloc
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from flow2api.limits import IN_FLIGHT
from flow2api.plugin import Progress
from flow2api.testing import image_plan
from tests.api.conftest import IMAGE_MODEL, FakeWorld, png
from tests.conftest import API_KEY, Gateway

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def chat(*images: str) -> dict:
    content = [{"type": "text", "text": "x"}] + [{"type": "image_url", "image_url": {"url": u}} for u in images]
    return {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": content}]}


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


async def post(http: aiohttp.ClientSession, gw: Gateway, body: dict, path: str = "/v1/chat/completions") -> tuple[int, dict]:
    async with http.post(f"{gw.url}{path}", json=body, headers=AUTH) as resp:
        return resp.status, await resp.json() | {"retry_after": resp.headers.get("Retry-After")}


async def in_flight(gw: Gateway, count: int) -> None:
    for _ in range(500):
        if gw.app[IN_FLIGHT].count == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{gw.app[IN_FLIGHT].count} requests in flight, not {count}")


async def test_past_max_in_flight_requests_get_429_and_the_admitted_ones_finish(fake: FakeWorld) -> None:
    gate = asyncio.Event()
    for _ in range(4):
        fake.image.plans.append([Progress("drawing", 10), gate, *image_plan()])
    gw = await fake.start(accounts=4, server={"max_in_flight": 2})
    async with aiohttp.ClientSession() as http:
        requests = [asyncio.create_task(post(http, gw, chat())) for _ in range(4)]
        await in_flight(gw, 2)
        while sum(t.done() for t in requests) < 2:
            await asyncio.sleep(0.01)
        refused = [t.result() for t in requests if t.done()]
        gate.set()
        results = await asyncio.gather(*requests)
        models = await http.get(f"{gw.url}/v1/models", headers=AUTH)  # not a generation request: never counted
        assert models.status == 200
        again = await post(http, gw, chat())
    assert len(refused) == 2
    for status, body in refused:
        assert status == 429 and body["error"]["code"] == "rate_limit_exceeded"
        assert body["error"]["type"] == "rate_limit_error" and body["retry_after"] == "1"
        assert "2 generation requests at once" in body["error"]["message"]
    assert sorted(status for status, _ in results) == [200, 200, 429, 429]
    assert again[0] == 200 and gw.app[IN_FLIGHT].count == 0 and gw.app[IN_FLIGHT].bytes == 0
    assert len(fake.image.calls) == 3  # the refused requests never reached a provider


async def test_the_byte_budget_refuses_a_big_body_while_others_are_in_flight(fake: FakeWorld) -> None:
    gate = asyncio.Event()
    fake.image.plans.append([gate, *image_plan()])
    big = data_uri(png(8, 8) + b"\0" * 300_000)  # ~400 KB of JSON
    gw = await fake.start(accounts=3, server={"max_in_flight_bytes": 600_000})
    async with aiohttp.ClientSession() as http:
        first = asyncio.create_task(post(http, gw, chat(big)))
        await in_flight(gw, 1)
        second = await post(http, gw, chat(big))  # 400 KB + 400 KB > 600 KB
        small = await post(http, gw, chat())  # a few hundred bytes still fit
        gate.set()
        first_status, _ = await first
        alone = await post(http, gw, chat(data_uri(png(8, 8) + b"\0" * 600_000)))  # over the budget, but alone
    assert second[0] == 429 and second[1]["error"]["code"] == "rate_limit_exceeded"
    assert "memory budget" in second[1]["error"]["message"]
    assert small[0] == 200 and first_status == 200 and alone[0] == 200
    assert gw.app[IN_FLIGHT].bytes == 0


async def test_image_urls_are_charged_to_the_budget_before_they_are_fetched(
    fake: FakeWorld, aiohttp_server: Callable,
) -> None:
    fetched: list[str] = []

    async def image(request: web.Request) -> web.Response:
        fetched.append(request.path)
        return web.Response(body=png(20, 20), content_type="image/png")

    origin = web.Application()
    origin.router.add_get("/{name}.png", image)
    server = await aiohttp_server(origin)
    gate = asyncio.Event()
    fake.image.plans.append([gate, *image_plan()])
    # each URL may bring up to max_input_image_bytes (100 KB) until it is read
    gw = await fake.start(accounts=2, inputs={"allow_networks": ["127.0.0.1/32"]},
                          generation={"max_input_image_bytes": 100_000}, server={"max_in_flight_bytes": 100_000})
    async with aiohttp.ClientSession() as http:
        first = asyncio.create_task(post(http, gw, chat(str(server.make_url("/a.png")))))
        await in_flight(gw, 1)
        while not fake.image.calls:
            await asyncio.sleep(0.01)
        held = gw.app[IN_FLIGHT].bytes  # the body and the fetched image's real size, not the 100 KB charged
        refused = await post(http, gw, chat(str(server.make_url("/b.png"))))
        gate.set()
        assert (await first)[0] == 200
    assert held < 10_000
    assert refused[0] == 429 and "memory budget" in refused[1]["error"]["message"]
    assert fetched == ["/a.png"]  # the refused request's URL was never fetched
    assert gw.app[IN_FLIGHT].bytes == 0


async def test_a_request_in_flight_holds_its_body_once_parsed_not_also_raw(fake: FakeWorld) -> None:
    """While its generation runs, a data-URI request keeps the parsed data URI and the decoded image (~1.75×
    the body); aiohttp's cached copy of the raw body (``request.read()``) made it ~2.75×."""
    gate = asyncio.Event()
    fake.image.plans.append([gate, *image_plan()])
    gw = await fake.start()
    raw = json.dumps(chat(data_uri(png(8, 8) + os.urandom(3_000_000)))).encode()  # built before tracing starts
    tracemalloc.start()
    try:
        async with aiohttp.ClientSession() as http:
            headers = {**AUTH, "Content-Type": "application/json"}
            answer = asyncio.create_task(http.post(f"{gw.url}/v1/chat/completions", data=raw, headers=headers))
            while not fake.image.calls:
                await asyncio.sleep(0.01)
            gc.collect()
            held = sum(t.size for t in tracemalloc.take_snapshot().traces if t.size > len(raw) // 4)
            gate.set()
            assert (await answer).status == 200
    finally:
        tracemalloc.stop()
    assert held < 2.2 * len(raw), f"{held / len(raw):.2f}× the body held while the generation runs"


async def test_a_body_past_max_body_bytes_is_a_413_with_or_without_content_length(fake: FakeWorld) -> None:
    gw = await fake.start(server={"max_body_bytes": 64 * 1024})
    raw = json.dumps(chat(data_uri(png(8, 8) + b"\0" * 100_000))).encode()

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 16 * 1024):
            yield raw[start:start + 16 * 1024]

    async with aiohttp.ClientSession() as http:
        for data in (raw, chunked()):
            async with http.post(f"{gw.url}/v1/chat/completions", data=data,
                                 headers={**AUTH, "Content-Type": "application/json"}) as resp:
                assert resp.status == 413 and (await resp.json())["error"]["code"] == "payload_too_large"
        assert (await post(http, gw, chat(data_uri(png(8, 8)))))[0] == 200
    assert len(fake.image.calls) == 1
