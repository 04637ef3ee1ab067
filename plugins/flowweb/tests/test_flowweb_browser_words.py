"""The browser executor's failures in words (issue 18 leftovers): what failed, ``(rpc <id>, browser …)``, what to do.

A scripted extension speaks the real WebSocket protocol to the gateway's ``/api/flowweb/executor``
(extension/background.js sends these ``error`` values); the executor is the family's own, as the
providers use it. Real Chromium runs in test_flowweb_browser.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from flow2api_flowweb.browser import BrowserExecutor
from flow2api_flowweb.envelope import RpcRequest
from flow2api_flowweb.executors import Prepared
from flowweb_helpers import EXECUTOR_TOKEN, FLOWWEB_FACTORIES, FlowWeb, add_flowweb_account, flowweb_settings

from flow2api.errors import (
    CaptchaError,
    CredentialRejectedError,
    Flow2APIError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from flow2api.pool.pool import AccountHandle
from flow2api.testing import Gateway

OGIZ0B = Prepared(RpcRequest("ogiZ0b", [], "/project/p"), "p", "IMAGE_GENERATION")


@pytest.fixture
async def browser_gateway(tmp_path: Path, flowweb: FlowWeb, start_gateway: Callable) -> Gateway:
    gateway = await start_gateway(flowweb_settings(tmp_path, flowweb, executor="browser", browser_timeout=5),
                                  FLOWWEB_FACTORIES)
    await add_flowweb_account(gateway, flowweb.emulator.add_account("alice@example.com", tier=2))
    return gateway


@asynccontextmanager
async def scripted_browser(gateway: Gateway, answer: Callable[[dict[str, Any]], dict[str, Any] | None]
                           ) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A connected fake extension that answers each ``execute`` with ``answer(execute)`` (``None``: no answer)."""
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{gateway.url}/api/flowweb/executor") as ws:
        await ws.send_json({"type": "hello", "token": EXECUTOR_TOKEN, "email": "alice@example.com"})
        assert (await ws.receive_json())["type"] == "welcome"

        async def serve() -> None:
            async for message in ws:
                execute = message.json()
                reply = answer(execute) if execute.get("type") == "execute" else None
                if reply is not None:
                    await ws.send_json({"type": "result", "id": execute["id"], **reply})

        task = asyncio.create_task(serve())
        try:
            yield ws
        finally:
            task.cancel()


async def run(gateway: Gateway, executor: BrowserExecutor | None = None) -> Flow2APIError:
    family = gateway.pool.families["flowweb"]
    account = AccountHandle(gateway.pool, gateway.pool.records()[0].id)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(Flow2APIError) as raised:
            await (executor or family.browser_executor).execute(account, http, OGIZ0B, xsrf=None, timeout=5)
    return raised.value


def assert_in_words(error: Flow2APIError, status: str, hint: str) -> None:
    prefix = f"flow.google.com could not generate the images (rpc ogiZ0b, {status}"
    assert error.message.startswith(prefix), error.message
    assert error.message.split("): ", 1)[1].startswith(hint), error.message
    assert "alice@example.com" not in error.message  # the account's e-mail is logged, not shown to clients


@pytest.mark.parametrize(("error", "detail", "kind", "hint"), [
    ("signed-out", "/about", CredentialRejectedError, "the account's browser is not signed in to Flow"),
    ("captcha", "reCAPTCHA is not loaded on this page", CaptchaError, "the Flow page in the account's browser could "
                                                                       "not mint a reCAPTCHA token"),
    ("no-bootstrap", "WIZ_global_data.SNlM0e never appeared", UpstreamUnavailableError,
     "the Flow page in the account's browser did not finish loading"),
    ("network", "TypeError: Failed to fetch", UpstreamUnavailableError, "the browser's request to Google failed"),
    ("extension", "the page returned nothing", UpstreamUnavailableError, "the flow2api extension failed"),
    ("something-new", "", UpstreamUnavailableError, "the flow2api extension failed"),
])
async def test_each_browser_error_is_worded_with_the_rpc_id_and_a_hint(
        browser_gateway: Gateway, error: str, detail: str, kind: type[Flow2APIError], hint: str) -> None:
    async with scripted_browser(browser_gateway, lambda _: {"error": error, "detail": detail}):
        raised = await run(browser_gateway)
    assert type(raised) is kind
    assert_in_words(raised, f"browser {error}" + (f": {detail}" if detail else ""), hint)


async def test_no_connected_browser_is_worded(browser_gateway: Gateway) -> None:
    raised = await run(browser_gateway)
    assert isinstance(raised, UpstreamUnavailableError)
    assert_in_words(raised, "no browser connected", "the account is served through its browser and none is connected")


async def test_a_browser_that_never_answers_is_worded(browser_gateway: Gateway) -> None:
    hub = browser_gateway.pool.families["flowweb"].hub
    async with scripted_browser(browser_gateway, lambda _: None):
        raised = await run(browser_gateway, BrowserExecutor(hub, 0.2))
    assert isinstance(raised, UpstreamTimeoutError)
    assert_in_words(raised, "browser, no answer in 0.2 s", "the account's browser did not answer in time")


async def test_a_browser_that_leaves_mid_request_is_worded(browser_gateway: Gateway) -> None:
    hub = browser_gateway.pool.families["flowweb"].hub
    async with scripted_browser(browser_gateway, lambda _: None) as ws:
        request = asyncio.create_task(run(browser_gateway))
        while not any(c.pending for c in hub.connections()):
            await asyncio.sleep(0.01)
        await ws.close()
        raised = await request
    assert isinstance(raised, UpstreamUnavailableError)
    assert_in_words(raised, "browser disconnected", "the account's browser disconnected mid-request")


async def test_a_result_without_a_reply_is_worded(browser_gateway: Gateway) -> None:
    async with scripted_browser(browser_gateway, lambda _: {"status": "200"}):
        raised = await run(browser_gateway)
    assert_in_words(raised, "browser gave no reply", "the flow2api extension failed")
