"""Helpers of the reliability drills over the Flow emulator (issue 8; docs/reliability.md).

Every drill is marked ``reliability``, sends traffic only to 127.0.0.1, bounds
its request loops in count and time, and stops every server it starts. The
heavy variants run only when ``FLOW2API_DRILL_FULL=1`` is set (see
docs/reliability.md for what CI runs).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from flow2api_videofx.emulator import FlowEmulator
from videofx_gateway import IMAGE_MODEL, VIDEOFX_FACTORIES

from flow2api.app import create_app
from flow2api.discovery import build_providers
from flow2api.pool import POOL, AccountPool
from flow2api.settings import Settings
from flow2api.testing.crash import API_KEY
from flow2api.testing.processes import write_config

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


#: The labs.google operation name of every video submit (text, start image, …: they all start so).
VIDEO_SUBMIT = "batchAsyncGenerateVideo"


def instance_config(directory: Path, name: str, emulator: FlowEmulator, base: str,
                    **sections: dict[str, Any]) -> tuple[str, ...]:
    """The ``--config``/``--data-dir`` arguments of instance ``name`` in a multi-instance drill (one settings
    file and one data directory each, under ``directory``), pointed at ``emulator`` served at ``base``.

    Defaults: :data:`~flow2api.testing.crash.API_KEY`, ``[server] instance_id = name``, 2 s leases claimed
    every 0.5 s, status polls every 0.2 s, the emulator's solver polled every 10 ms, no catalog watching, INFO
    logs; ``sections`` are merged over them key by key (``storage={"url": …}``, ``flow={"poll_interval": …}``).
    """
    defaults: dict[str, dict[str, Any]] = {
        "global": {"api_key": API_KEY}, "server": {"instance_id": name},
        "jobs": {"lease_seconds": 2, "claim_interval": 0.5},
        "flow": {"labs_base_url": f"{base}/fx/api", "api_base_url": f"{base}/v1", "poll_interval": 0.2},
        "captcha": {"captcha_method": "yescaptcha", "yescaptcha_base_url": f"{base}/solver",
                    "yescaptcha_api_key": emulator.settings.solver_client_key, "solver_poll_interval": 0.01},
        "catalog": {"watch": False}, "logging": {"level": "INFO"},
    }
    merged = {key: {**defaults.get(key, {}), **sections.get(key, {})} for key in {**defaults, **sections}}
    path = write_config(directory / f"{name}.toml", merged)
    return "--config", str(path), "--data-dir", str(directory / f"data-{name}")


def video_submits(emulator: FlowEmulator) -> collections.Counter[str | None]:
    """How many video submits upstream accepted (HTTP 200), per prompt, from the emulator's request log."""
    return collections.Counter(prompt_of(r.json) for r in emulator.requests
                               if r.operation.startswith(VIDEO_SUBMIT) and r.status == 200)


def taken_over(logged: str, instance: str) -> int:
    """How many video jobs ``instance``'s log lines (in ``logged``) say it took over from an instance gone."""
    found = re.findall(rf" {re.escape(instance)} flow2api\.jobs\.runner .*video jobs: (\d+) unfinished job\(s\) "
                       r"taken up again from an instance gone", logged)
    return sum(map(int, found))
