"""Client image URLs cannot reach the gateway's own network (issue 18: server-side request forgery).

A raw TCP listener on 127.0.0.1 counts every connection; URLs naming it in many spellings (and redirects into
it from an allowed host) must all get the same 400 while the listener sees none. A host on an explicitly
allowed network (``[inputs] allow_networks``, here 127.0.0.2) still serves its image.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from flow2api.fetcher import FETCH_FAILED, AddressPolicy
from flow2api.testing import API_KEY, Gateway
from tests.api.conftest import IMAGE_MODEL, FakeWorld, png


async def chat(gw: Gateway, url: str) -> tuple[int, Any]:
    """POST one chat completion whose image is ``url`` → (status, JSON body)."""
    message = {"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": url}}]}
    async with aiohttp.ClientSession() as http, http.post(
            f"{gw.url}/v1/chat/completions", headers={"Authorization": f"Bearer {API_KEY}"},
            json={"model": IMAGE_MODEL, "messages": [message]}) as resp:
        return resp.status, await resp.json()


def spellings(port: int) -> list[str]:
    """Loopback, unspecified, private, link-local and IPv6 forms of the listener (50+)."""
    hosts = [
        "127.0.0.1", "localhost", "127.1", "127.0.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "017700000001",
        "0177.0.0.1", "0", "0.0.0.0", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]",
        "[::]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "LOCALHOST", "localhost.", "127.0.0.1.", "127.255.255.254",
    ]
    urls = [f"http://{h}:{port}/x.png" for h in hosts] + [f"https://{h}:{port}/x.png" for h in hosts[:8]]
    urls += [f"http://user:pw@127.0.0.1:{port}/", f"http://127.0.0.1:{port}#@example.com/",
             f"ftp://127.0.0.1:{port}/x.png", "file:///etc/passwd", f"gopher://127.0.0.1:{port}/",
             "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://192.168.1.1/",
             "http://100.64.0.1/", "http://[fc00::1]/", "http://[fe80::1%25lo]/", "http://224.0.0.1/",
             "http://240.0.0.1/", "http://255.255.255.255/", "http://198.18.0.1/", "http://172.16.0.1/"]
    return urls


def test_the_address_policy() -> None:
    policy = AddressPolicy(["10.1.0.0/16"])
    assert policy.permits("8.8.8.8") and policy.permits("2001:4860:4860::8888") and policy.permits("10.1.2.3")
    for refused in ("127.0.0.1", "10.2.0.1", "169.254.169.254", "100.64.0.1", "0.1.2.3", "::1", "fe80::1", "fc00::1",
                    "::ffff:127.0.0.1", "::ffff:8.8.8.8", "2002:7f00:1::", "64:ff9b::7f00:1", "224.0.0.1", "::",
                    "not an address"):
        assert not policy.permits(refused), refused


async def test_no_client_url_reaches_loopback(fake: FakeWorld, aiohttp_server: Callable) -> None:
    connections = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    listener = await asyncio.start_server(count, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    served = png(8, 8)

    async def image(_: web.Request) -> web.Response:
        return web.Response(body=served, content_type="image/png")

    async def bounce(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    origin = web.Application()
    origin.router.add_get("/ok.png", image)
    origin.router.add_get("/bounce", bounce)
    allowed = await aiohttp_server(origin, host="127.0.0.2")
    gw = await fake.start(inputs={"allow_networks": ["127.0.0.2/32"]})
    urls = spellings(port)
    urls += [str(allowed.make_url("/bounce").with_query(to=u)) for u in urls[:12]]
    assert len(urls) >= 50
    try:
        for url in urls:
            status, body = await chat(gw, url)
            assert status == 400, (url, body)
            assert body["error"]["message"] in (FETCH_FAILED, "Image URLs must be data: URIs or http(s) URLs."), url
        assert connections == 0
        status, body = await chat(gw, str(allowed.make_url("/ok.png")))
        assert status == 200, body
        assert fake.image.calls[-1].job.images[0].data == served
    finally:
        listener.close()
        await listener.wait_closed()


async def test_a_large_url_image_arrives_whole_and_the_cap_holds(fake: FakeWorld, aiohttp_server: Callable) -> None:
    big = png(1200, 1200, (9, 9, 9)) + b"\0" * (3 * 1024 * 1024)  # a PNG of ~3 MB: once cut at 16 KiB

    async def image(_: web.Request) -> web.StreamResponse:
        return web.Response(body=big, content_type="image/png")

    origin = web.Application()
    origin.router.add_get("/big.png", image)
    server = await aiohttp_server(origin)
    gw = await fake.start(inputs={"allow_networks": ["127.0.0.1/32"]})
    url = str(server.make_url("/big.png"))
    status, body = await chat(gw, url)
    assert status == 200, body
    assert fake.image.calls[-1].job.images[0].data == big
    small = await fake.start(inputs={"allow_networks": ["127.0.0.1/32"]}, generation={"max_input_image_bytes": 1024 * 1024})
    status, body = await chat(small, url)
    assert status == 413, body
