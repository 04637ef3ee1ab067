"""Helpers and fixtures of the storyboard tests (re-exported by conftest.py): a gateway in demo mode (the bundled Flow emulator, its demo account) with the
storyboard workflow mounted, restartable on the same data directory; a fake OpenAI-compatible text server; an
in-process app on fake providers whose images a test chooses (:func:`gateway`, :func:`approved_board`).

The providers are the installed ``videofx-*`` entry points (loaded by name, as demo mode finds them), so these
tests import no other plugin's modules.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from flow2api.app import create_app
from flow2api.plugin import Kind
from flow2api.pool import POOL
from flow2api.startup import Prepared, prepare, prepare_demo
from flow2api.testing import (
    API_KEY, FAKE_IMAGE_MODEL, FakeProvider, Script, image_plan, make_settings, until, video_plan, write_fake_catalog,
)
from flow2api_storyboard import StoryboardWorkflow

#: Six paragraphs, two recurring characters (Mira in five scenes, Tomas in three).
STORY = """Mira, a young lighthouse keeper with a red scarf, woke before dawn. The sea lay grey and quiet below the tower.

Down in the village, Tomas, an old fisherman with a white beard, mended his nets and hummed an old song.

Mira climbed the spiral stairs and lit the great lamp. Its beam swept slowly over the water.

A storm rolled in from the west. Far out at sea, Tomas saw the light and turned his boat toward the harbour.

The waves rose higher than the rocks. All night Mira kept the lamp burning, her scarf whipping in the wind.

At sunrise Tomas climbed the hill with a basket of fish. Mira smiled, and they shared breakfast beside the lamp."""

WORKFLOWS = {"storyboard": StoryboardWorkflow}
VIDEOFX = ("videofx-image", "videofx-video")


def videofx_factories() -> dict[str, Any]:
    """The installed VideoFX provider factories, by entry-point name."""
    found = {ep.name: ep for ep in entry_points(group="flow2api.providers") if ep.name in VIDEOFX}
    if len(found) != len(VIDEOFX):
        pytest.skip("flow2api-videofx is not installed (pip install -e ./plugins/videofx)")
    return {name: ep.load() for name, ep in found.items()}


@dataclass
class Demo:
    """``await demo.start(**sections)`` → a served gateway; ``await demo.stop()`` stops it (data kept)."""

    tmp_path: Path
    stack: contextlib.AsyncExitStack
    servers: list[TestServer] = field(default_factory=list)
    app: web.Application | None = None
    emulator_url: str = ""
    prepared: Prepared | None = None

    @property
    def url(self) -> str:
        return str(self.servers[-1].make_url("")).rstrip("/")

    async def start(self, **sections: dict[str, Any]) -> Demo:
        """Start the gateway; started before, it restarts on the same data directory and the same emulator."""
        if self.prepared is None:
            settings = make_settings(self.tmp_path, **sections)
            self.prepared = prepared = await prepare_demo(settings, self.stack, videofx_factories(), WORKFLOWS)
            self.emulator_url = prepared.settings.plugin_sections["flow"]["labs_base_url"].removesuffix("/fx/api")
            accounts = prepared.demo_accounts
        else:  # providers and workflows built afresh, as a new process would; the demo account is stored already
            prepared = prepare(self.prepared.settings, videofx_factories(), WORKFLOWS)
            accounts = ()
        self.app = create_app(prepared.settings, providers=prepared.providers, demo_accounts=accounts,
                              workflows=prepared.workflows)
        server = TestServer(self.app)
        await server.start_server()
        self.servers.append(server)
        return self

    async def stop(self) -> None:
        await self.servers[-1].close()

    async def emulator(self, method: str, path: str, body: Any = None) -> Any:
        """Call the emulator's control API (``/_emulator/…``)."""
        async with aiohttp.ClientSession() as http, http.request(method, self.emulator_url + path, json=body) as r:
            return await r.json() if r.status != 204 else None

    async def image_requests(self) -> list[str]:
        """Every image generation item the emulator received (``requests[]`` of ``batchGenerateImages``), as JSON
        text, in order: a test looks for a scene's prompt in them."""
        records = (await self.emulator("GET", "/_emulator/requests?operation=batchGenerateImages"))["requests"]
        return [json.dumps(item) for record in records for item in (record.get("json") or {}).get("requests", [])]


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    """A :class:`Demo` (not started); every server and emulator it started is stopped after the test."""
    async with contextlib.AsyncExitStack() as stack:
        one = Demo(tmp_path, stack)
        yield one
        for server in one.servers:
            await server.close()


def auth(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class TextServer:
    """A fake OpenAI-compatible chat-completions server: answers ``contents`` in order, records ``calls``."""

    url: str
    contents: list[str]
    calls: list[dict[str, Any]]


@pytest.fixture
async def text_server(aiohttp_server: Callable) -> TextServer:
    """``POST /v1/chat/completions`` answering the queued ``contents`` (as ``choices[0].message.content``)."""
    contents: list[str] = []
    calls: list[dict[str, Any]] = []

    async def completions(request: web.Request) -> web.Response:
        body = await request.json()
        calls.append({"body": body, "authorization": request.headers.get("Authorization")})
        content = contents.pop(0)
        return web.json_response({"id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                                  "choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"role": "assistant", "content": content}}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    server = await aiohttp_server(app)
    return TextServer(url=str(server.make_url("/v1")), contents=contents, calls=calls)


async def wait_for(http: aiohttp.ClientSession, url: str, statuses: tuple[str, ...] = ("ready", "failed"),
                   *, timeout: float = 60.0) -> dict[str, Any]:
    """Poll ``GET url`` (a storyboard) until its status is one of ``statuses``; returns the object."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with http.get(url, headers=auth()) as response:
            assert response.status == 200, await response.text()
            board = await response.json()
        if board["status"] in statuses:
            return board
        assert loop.time() < deadline, f"storyboard still {board['status']}: {board}"
        await asyncio.sleep(0.1)


async def gateway(tmp_path: Path, aiohttp_client: Callable, data: bytes, **sections: dict[str, Any]) -> TestClient:
    """The app with the storyboard workflow and fake providers whose every image is ``data``, one account."""
    catalog = write_fake_catalog(tmp_path / "fake-models.yaml")
    settings = make_settings(tmp_path, catalog={"path": str(catalog), "watch": False},
                             storyboard={"image_model": FAKE_IMAGE_MODEL}, **sections)
    image, video = Script(default=image_plan(data)), Script(default=video_plan())
    factories = {"fake-image": lambda ctx: FakeProvider("fake-image", Kind.IMAGE, script=image),
                 "fake-video": lambda ctx: FakeProvider("fake-video", Kind.VIDEO, script=video)}
    prepared = prepare(settings, factories, WORKFLOWS)
    app = create_app(prepared.settings, providers=prepared.providers, workflows=prepared.workflows)
    client = await aiohttp_client(app)
    await app[POOL].add("fake", {"token": "acct0"})
    return client


async def approved_board(client: TestClient, scenes: int = 1) -> dict[str, Any]:
    """A storyboard of ``scenes`` scenes, generated and approved."""
    async with client.post("/v1/storyboards", json={"story": STORY, "scenes": scenes, "consistent_characters": False},
                           headers=auth()) as response:
        assert response.status == 202, await response.text()
        sb_id = (await response.json())["id"]

    async def ready() -> dict[str, Any] | None:
        async with client.get(f"/v1/storyboards/{sb_id}", headers=auth()) as r:
            board = await r.json()
        assert board["status"] != "failed", board
        return board if board["status"] == "ready" else None

    await until(ready, timeout=120, interval=0.1)
    async with client.post(f"/v1/storyboards/{sb_id}/approve", json={"all": True}, headers=auth()) as response:
        assert response.status == 200, await response.text()
        return await response.json()
