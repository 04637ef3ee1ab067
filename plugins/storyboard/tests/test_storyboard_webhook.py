"""``storyboard.ready`` (issue 21 item 7): the approval that leaves every scene of a storyboard approved emits one
signed webhook event through the core's public outbox (:class:`flow2api.plugin.WebhookEvents`), to the owner's
key's own endpoint; a partial approval, or approving again, emits none. In demo mode (the bundled Flow emulator),
with a real receiver that verifies every delivery with ``standardwebhooks``."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

from aiohttp import web
from openai import AsyncOpenAI
from standardwebhooks import Webhook
from storyboard_helpers import Demo

from flow2api.apikeys import API_KEYS
from flow2api.storage.webhooks import WEBHOOK_EVENTS
from flow2api.testing import until

SECRET = "whsec_" + base64.b64encode(b"storyboard webhook secret 32 b..").decode()
KEY_SECRET = "whsec_" + base64.b64encode(b"the key's own webhook secret 32b").decode()
STORY = """A red kite rose over the hill while the children ran below.

At dusk the kite came down in the old oak tree, and the children laughed."""


async def serve_receiver(aiohttp_server: Callable, secret: str) -> tuple[str, list[dict[str, Any]]]:
    """A webhook endpoint verifying each delivery with ``secret``; its URL and the events it accepted."""
    accepted: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        accepted.append(Webhook(secret).verify(await request.read(), dict(request.headers)))  # a bad one: 500
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = await aiohttp_server(app)
    return str(server.make_url("/hook")), accepted


def of_type(events: list[dict[str, Any]], type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == type]


async def test_approving_every_scene_emits_storyboard_ready_once(demo: Demo, aiohttp_server: Callable) -> None:
    shared_url, shared = await serve_receiver(aiohttp_server, SECRET)
    own_url, own = await serve_receiver(aiohttp_server, KEY_SECRET)
    await demo.start(webhooks={"url": shared_url, "secret": SECRET, "poll_interval": 0.1})
    record, key = await demo.app[API_KEYS].create("storyteller")
    await demo.app[WEBHOOK_EVENTS].set_endpoint(record.id, own_url, KEY_SECRET)
    sdk = AsyncOpenAI(base_url=f"{demo.url}/v1", api_key=key, max_retries=0, timeout=30)

    board = await sdk.post("/storyboards", cast_to=object, body={"story": STORY, "scenes": 2})
    for _ in range(600):
        board = await sdk.get(f"/storyboards/{board['id']}", cast_to=object)
        if board["status"] in ("ready", "failed"):
            break
        await asyncio.sleep(0.1)
    assert board["status"] == "ready" and len(board["scenes"]) == 2

    await sdk.post(f"/storyboards/{board['id']}/approve", cast_to=object, body={"scenes": [0]})
    await asyncio.sleep(0.5)  # the sender scans every 0.1 s: an event would have arrived
    assert of_type(own, "storyboard.ready") == []  # one scene of two approved: not ready

    await sdk.post(f"/storyboards/{board['id']}/approve", cast_to=object, body={"all": True})
    ready = await until(lambda: _async(of_type(own, "storyboard.ready")), 10)
    assert ready[0]["data"] == {"id": board["id"]} and ready[0]["object"] == "event"
    await sdk.post(f"/storyboards/{board['id']}/approve", cast_to=object, body={"all": True})  # nothing new
    await asyncio.sleep(0.5)
    assert len(of_type(own, "storyboard.ready")) == 1
    assert of_type(shared, "storyboard.ready") == []  # the owner's key's endpoint replaces [webhooks] url
    assert len(of_type(own, "image.completed")) == 2  # the scenes' images are the key's image tasks
    await sdk.close()


async def _async(value: Any) -> Any:
    return value
