"""The browser executor's WebSocket endpoint (``/api/flowweb/executor``) with a scripted fake extension.

Covers the family route hook of the core (mounted beside the admin ``/api``), the hello and
its token, the executor list, and what a request does when its browser goes away. The real
extension in Chromium is tested in test_flowweb_browser.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import aiohttp
import openai
import pytest
from flowweb_helpers import EXECUTOR_TOKEN, FLOWWEB_FACTORIES, FlowWeb, add_flowweb_account, chat, flowweb_settings

from flow2api.testing import Gateway


@pytest.fixture
async def browser_gateway(tmp_path: Path, flowweb: FlowWeb, start_gateway: Callable) -> Gateway:
    gateway = await start_gateway(flowweb_settings(tmp_path, flowweb, executor="browser", browser_timeout=5),
                                  FLOWWEB_FACTORIES)
    await add_flowweb_account(gateway, flowweb.emulator.add_account("alice@example.com", tier=2))
    return gateway


async def test_the_route_hook_mounts_beside_the_admin_api(browser_gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{browser_gateway.url}/api/flowweb/executors") as resp:
            assert resp.status == 401
        async with http.get(f"{browser_gateway.url}/api/flowweb/executors",
                            headers={"Authorization": f"Bearer {EXECUTOR_TOKEN}"}) as resp:
            assert resp.status == 200 and await resp.json() == {"executors": []}
        async with http.get(f"{browser_gateway.url}/api/accounts") as resp:
            assert resp.status == 401  # the admin JSON API is still there, with its own auth


@pytest.mark.parametrize(("hello", "code"), [
    ({"type": "hello", "token": "wrong", "email": "alice@example.com"}, 4401),
    ({"type": "hi"}, 4400),
])
async def test_a_bad_hello_is_closed(browser_gateway: Gateway, hello: dict, code: int) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{browser_gateway.url}/api/flowweb/executor") as ws:
        await ws.send_json(hello)
        message = await ws.receive()
        assert message.type == aiohttp.WSMsgType.CLOSE and ws.close_code == code


async def test_without_a_browser_the_account_cannot_serve(browser_gateway: Gateway, flowweb: FlowWeb) -> None:
    with pytest.raises(openai.APIStatusError) as raised:
        await chat(browser_gateway, "fw-image", "a cat")
    assert raised.value.status_code == 503 and flowweb.emulator.calls("ogiZ0b") == []


async def test_a_browser_that_drops_mid_request_fails_the_attempt(browser_gateway: Gateway, flowweb: FlowWeb) -> None:
    family = browser_gateway.pool.families["flowweb"]
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{browser_gateway.url}/api/flowweb/executor") as ws:
        await ws.send_json({"type": "hello", "token": EXECUTOR_TOKEN, "email": "Alice@Example.com", "version": "t"})
        assert (await ws.receive_json())["type"] == "welcome"
        assert family.hub.connected("alice@example.com")
        request = asyncio.create_task(chat(browser_gateway, "fw-image", "a cat"))
        execute = await ws.receive_json()
        assert execute["type"] == "execute" and execute["rpcid"] == "jHPbke" and execute["pagePath"] == "/"
        assert execute["action"] is None and "__CAPTCHA__" not in execute["freq"]
        await ws.close()
    with pytest.raises(openai.APIStatusError) as raised:
        await request
    assert raised.value.code in ("upstream_unavailable", "no_account_available")
    assert not family.hub.connected("alice@example.com")


async def test_a_browser_reply_is_parsed_like_any_other(browser_gateway: Gateway, flowweb: FlowWeb) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{browser_gateway.url}/api/flowweb/executor") as ws:
        await ws.send_json({"type": "hello", "token": EXECUTOR_TOKEN, "email": "alice@example.com"})
        await ws.receive_json()

        async def signed_out_browser() -> int:
            answered = 0
            async for message in ws:
                execute = message.json()
                await ws.send_json({"type": "result", "id": execute["id"], "error": "signed-out", "detail": "/about"})
                answered += 1
            return answered

        browser = asyncio.create_task(signed_out_browser())
        with pytest.raises(openai.APIStatusError) as raised:
            await chat(browser_gateway, "fw-image", "a cat")
        await ws.close()
        assert await browser >= 1
    assert raised.value.code == "upstream_credential_rejected" and "not signed in" in raised.value.message


async def test_the_admin_view_shows_whether_the_browser_is_connected(browser_gateway: Gateway) -> None:
    """Issue 9: "the admin site shows which are connected" — through the generic describe_state hook."""
    from flow2api.admin.views import account_view

    pool = browser_gateway.pool
    record = pool.records()[0]
    assert account_view(record, pool)["live"]["browser_connected"] is False
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{browser_gateway.url}/api/flowweb/executor") as ws:
        await ws.send_json({"type": "hello", "token": EXECUTOR_TOKEN, "email": "alice@example.com"})
        assert (await ws.receive_json())["type"] == "welcome"
        live = account_view(record, pool)["live"]
        assert live["browser_connected"] is True and live["executor"] == "browser"
    await asyncio.sleep(0.1)
    assert account_view(record, pool)["live"]["browser_connected"] is False
