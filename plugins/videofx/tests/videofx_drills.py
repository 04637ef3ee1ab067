"""Helpers of the reliability drills over the Flow emulator (issue 8; docs/reliability.md).

Every drill is marked ``reliability``, sends traffic only to 127.0.0.1, bounds
its request loops in count and time, and stops every server it starts. The
heavy variants run only when ``FLOW2API_DRILL_FULL=1`` is set (see
docs/reliability.md for what CI runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from videofx_gateway import IMAGE_MODEL, VIDEOFX_FACTORIES

from flow2api.app import create_app
from flow2api.discovery import build_providers
from flow2api.pool import POOL, AccountPool
from flow2api.settings import Settings

FULL = os.environ.get("FLOW2API_DRILL_FULL") == "1"


def prompt_of(json: Any) -> str | None:
    """The prompt text of a recorded ``batchGenerateImages`` or video submit body."""
    try:
        request = json["requests"][0]
    except (KeyError, IndexError, TypeError):
        return None
    prompt = request.get("structuredPrompt") or request.get("textInput", {}).get("structuredPrompt") or {}
    parts = prompt.get("parts") or [{}]
    return parts[0].get("text")


async def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` every 20 ms until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        await asyncio.sleep(0.02)


@dataclass
class Served:
    """A gateway served like ``flow2api serve`` serves it (see :func:`served_like_cli`)."""

    app: web.Application
    runner: web.AppRunner
    url: str

    @property
    def pool(self) -> AccountPool:
        return self.app[POOL]


@contextlib.asynccontextmanager
async def served_like_cli(settings: Settings) -> AsyncIterator[Served]:
    """The gateway on a free loopback port with an ``AppRunner`` configured as ``flow2api serve`` configures it.

    The test servers of pytest-aiohttp cancel a request's handler when its
    client disconnects (``handler_cancellation=True``); ``flow2api serve``
    (aiohttp's default) lets the handler run on until it writes or returns.
    Drills about vanishing clients run against both.
    """
    app = create_app(settings, providers=build_providers(settings, VIDEOFX_FACTORIES))
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield Served(app, runner, f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()
