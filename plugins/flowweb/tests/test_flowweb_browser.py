"""The ``browser`` executor: the MV3 extension in real headless Chromium, connected to a gateway, against the emulator.

One browser, one emulator and one gateway serve the whole module (a module-scoped event loop);
each test resets the emulator's faults and request log. Chromium is Debian's ``/usr/bin/chromium``
driven by the ``playwright`` package (never ``playwright install``); extensions need the new
headless mode.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import openai
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from flow2api_flowweb.browser import BrowserHub
from flow2api_flowweb.emulator import EmulatorAccount, EmulatorSettings, FlowWebEmulator
from flow2api_flowweb.options import VideoOptions
from flowweb_helpers import (
    CATALOG,
    EXECUTOR_TOKEN,
    FLOWWEB_FACTORIES,
    JPEG,
    PNG,
    chat,
    download,
    png_data_uri,
    result_url,
)

from flow2api.app import create_app
from flow2api.discovery import PROVIDERS, build_providers
from flow2api.plugin import Call, Job, Kind, MediaOutput
from flow2api.pool.pool import AccountHandle
from flow2api.testing import Gateway, make_settings

CHROMIUM = "/usr/bin/chromium"
EXTENSION = Path(__file__).resolve().parent.parent / "extension"
playwright_api = pytest.importorskip("playwright.async_api", reason="the playwright package is not installed")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"Debian's chromium is not installed at {CHROMIUM}"),
]


@dataclass
class Browser:
    """Everything the module shares."""

    emulator: FlowWebEmulator
    alice: EmulatorAccount
    gateway: Gateway
    hub: BrowserHub
    context: object
    worker: object


async def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    emulator = FlowWebEmulator(EmulatorSettings(video_polls_to_finish=2))
    alice = emulator.add_account("alice@example.com", tier=2, credits=100_000)
    upstream = TestServer(emulator.app())
    await upstream.start_server()
    base = str(upstream.make_url("")).rstrip("/")
    sections = emulator.sections(base)
    sections["flowweb"].update({"executor": "browser", "executor_token": EXECUTOR_TOKEN, "browser_timeout": 60})
    tmp = tmp_path_factory.mktemp("browser")
    settings = make_settings(tmp, catalog={"path": str(CATALOG)}, **sections)
    providers = build_providers(settings, FLOWWEB_FACTORIES)
    server = TestServer(create_app(settings, providers=providers))
    await server.start_server()
    gateway = Gateway(server.app, server)
    await gateway.pool.add("flowweb", {"cookies": alice.cookies_txt()})
    playwright = await playwright_api.async_playwright().start()
    context = await playwright.chromium.launch_persistent_context(
        str(tmp / "profile"), executable_path=CHROMIUM, headless=False,
        args=["--headless=new", f"--disable-extensions-except={EXTENSION}", f"--load-extension={EXTENSION}",
              "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run"],
    )
    try:
        # the signed-in profile: the account's cookies on the emulator's origin (no __Secure- ones on plain http)
        await context.add_cookies([{"name": n, "value": v, "url": base} for n, v in alice.cookies.items()
                                   if not n.startswith("__")])
        worker = context.service_workers[0] if context.service_workers else await context.wait_for_event("serviceworker")
        hub = providers["flowweb-image"].family.hub
        await worker.evaluate("config => chrome.storage.local.set(config)", {
            "serverUrl": f"ws://127.0.0.1:{server.port}/api/flowweb/executor", "token": EXECUTOR_TOKEN,
            "email": "alice@example.com", "targetOrigin": base, "reconnectMs": 300,
        })
        await wait_for(lambda: hub.connected("alice@example.com"))
        yield Browser(emulator, alice, gateway, hub, context, worker)
    finally:
        await context.close()
        await playwright.stop()
        await server.close()
        await upstream.close()


@pytest.fixture(autouse=True)
def fresh_emulator(browser: Browser) -> None:
    browser.emulator.faults.clear()
    browser.emulator.requests.clear()


def from_browser(browser: Browser, operation: str) -> list:
    calls = browser.emulator.calls(operation)
    assert calls, f"no {operation} call"
    assert all("Chrome" in c.headers.get("user-agent", "") for c in calls), "not sent by the browser"
    return calls


async def test_the_extension_connects_and_is_listed_beside_the_admin_api(browser: Browser) -> None:
    url = browser.gateway.url
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/api/flowweb/executors",
                            headers={"Authorization": f"Bearer {EXECUTOR_TOKEN}"}) as resp:
            listed = (await resp.json())["executors"]
        async with http.get(f"{url}/api/flowweb/executors") as resp:
            assert resp.status == 401
        async with http.get(f"{url}/api/accounts") as resp:  # the admin JSON API still answers under /api
            assert resp.status == 401 and "admin" in (await resp.text()).lower()
        async with http.ws_connect(f"{url}/api/flowweb/executor") as ws:
            await ws.send_json({"type": "hello", "token": "wrong", "email": "mallory@example.com"})
            await ws.receive()
            assert ws.close_code == 4401
    assert [e["email"] for e in listed] == ["alice@example.com"] and "Chrome" in listed[0]["user_agent"]


async def test_images_edits_and_upscales_run_in_the_page(browser: Browser) -> None:
    body, _ = await download(result_url(await chat(browser.gateway, "fw-image", "a red boat", [png_data_uri()])))
    assert body.startswith(PNG)
    body, _ = await download(result_url(await chat(browser.gateway, "fw-image-2k", "a lamp")))
    assert body.startswith(JPEG)
    for rpc in ("maseQ", "ogiZ0b", "SPrCad"):
        from_browser(browser, rpc)
    assert from_browser(browser, "ogiZ0b")[0].args[1][0][2][0][4] == 2
    assert len(browser.emulator.calls("reload")) == 4  # one token minted in the page per generation RPC
    assert browser.emulator.calls("createTask") == []  # no solver involved


async def test_every_video_rpc_runs_in_the_page(browser: Browser) -> None:
    for model, images in (("fw-t2v-360p", 0), ("fw-i2v", 1), ("fw-i2v", 2), ("fw-r2v", 3), ("fw-t2v-1080p", 0)):
        content = await chat(browser.gateway, model, f"{model} with {images} images",
                             [png_data_uri((i * 60, 90, 90)) for i in range(images)], stream=True)
        assert (await download(result_url(content)))[0][4:8] == b"ftyp"
    for rpc in ("jHPbke", "YhhmEf", "eb1hJf", "nprQif", "MZZa6b", "p0UkFb", "jwpduf", "as29s", "nzlxg"):
        from_browser(browser, rpc)
    source = next(m for m in browser.emulator.world.media.values() if m.model == "veo_3_1_i2v_lite")  # an 8 s clip
    gateway = browser.gateway
    record = gateway.pool.records()[0]
    job = Job(model="fw-extend", kind=Kind.VIDEO, prompt="and then it rains",
              options=VideoOptions(video_model_key="veo_3_1_extend_lite", sub_kind="extend",
                                   aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE"),
              extend_media_id=source.id)
    provider = gateway.app[PROVIDERS]["flowweb-video"]
    async with aiohttp.ClientSession() as http:
        events = [e async for e in provider.generate(Call(job, AccountHandle(gateway.pool, record.id), http))]
    assert any(isinstance(e, MediaOutput) for e in events)
    assert from_browser(browser, "fZytfe")[0].args[0][0][0] == [None, source.id, None, None]  # duration unknown


async def test_an_xsrf_challenge_is_answered_with_the_new_token_in_the_page(browser: Browser) -> None:
    browser.emulator.faults.add({"kind": "expire_xsrf", "operation": "ogiZ0b", "count": 1})
    body, _ = await download(result_url(await chat(browser.gateway, "fw-image", "a kite")))
    assert body.startswith(PNG)
    first, second = from_browser(browser, "ogiZ0b")
    assert (first.status, second.status) == (400, 200)
    assert second.form["at"] == browser.alice.at != first.form["at"]


async def test_the_extension_reconnects_after_the_websocket_drops(browser: Browser) -> None:
    await browser.hub.close_all()
    assert not browser.hub.connected("alice@example.com")
    await wait_for(lambda: browser.hub.connected("alice@example.com"))
    body, _ = await download(result_url(await chat(browser.gateway, "fw-image", "after the reconnect")))
    assert body.startswith(PNG)
    from_browser(browser, "ogiZ0b")


async def test_an_account_without_a_connected_browser_is_not_used(browser: Browser) -> None:
    pool = browser.gateway.pool
    bob = browser.emulator.add_account("bob@example.com", tier=2)
    await pool.add("flowweb", {"cookies": bob.cookies_txt()})
    alice_id = next(r.id for r in pool.records() if r.email == "alice@example.com")
    await pool.update(alice_id, enabled=False)
    try:
        with pytest.raises(openai.APIStatusError) as raised:
            await chat(browser.gateway, "fw-image", "nobody can")
        assert raised.value.status_code == 503
    finally:
        await pool.update(alice_id, enabled=True)
    assert browser.emulator.calls("ogiZ0b") == []
