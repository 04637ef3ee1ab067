"""Demo mode runs the bundled emulators on their own thread and event loop (``flow2api.startup.prepare_demo``).

A family whose demo emulator blocks in a handler (a stand-in for a CPU-heavy render) must not
stall the caller's event loop; the emulators stop when the exit stack closes (issue 18 finding 6).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from flow2api.plugin import DemoUpstream
from flow2api.startup import demo_outcome, prepare_demo
from flow2api.testing import make_settings
from flow2api.testing.fakes import FakeFamily, FakeProvider


class BlockingFamily(FakeFamily):
    """A family whose demo emulator answers ``GET /slow`` after blocking its thread 0.5 s."""

    config_sections = ("fake_demo",)

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.stopped = threading.Event()

    def demo_upstream(self, data_dir: Path) -> contextlib.AbstractAsyncContextManager[DemoUpstream]:
        return self._serve()

    @contextlib.asynccontextmanager
    async def _serve(self) -> AsyncIterator[DemoUpstream]:
        self.threads.append(threading.get_ident())

        async def slow(request: web.Request) -> web.Response:
            time.sleep(0.5)  # blocks whatever loop runs the emulator
            return web.Response(text="done")

        app = web.Application()
        app.router.add_get("/slow", slow)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            yield DemoUpstream(sections={"fake_demo": {"base": f"http://127.0.0.1:{port}"}}, credentials={"token": "d"})
        finally:
            await runner.cleanup()
            self.stopped.set()


async def ticks_while(work: asyncio.Future) -> float:
    """The longest gap (seconds) between 10 ms sleeps of this loop while ``work`` runs."""
    worst = 0.0
    while not work.done():
        started = time.perf_counter()
        await asyncio.sleep(0.01)
        worst = max(worst, time.perf_counter() - started)
    await work
    return worst


async def test_a_blocking_demo_emulator_does_not_stall_the_gateways_loop(tmp_path: Path) -> None:
    family = BlockingFamily()
    provider = FakeProvider(family=family)
    async with contextlib.AsyncExitStack() as stack:
        prepared = await prepare_demo(make_settings(tmp_path), stack, {"fake-image": lambda context: provider})
        assert family.threads and family.threads[0] != threading.get_ident()
        assert prepared.demo_accounts == (("fake", {"token": "d"}),)
        base = prepared.settings.plugin_sections["fake_demo"]["base"]
        async with aiohttp.ClientSession() as http:

            async def call() -> str:
                async with http.get(f"{base}/slow") as resp:
                    return await resp.text()

            assert await ticks_while(asyncio.ensure_future(call())) < 0.2
    assert family.stopped.is_set()  # closed with the stack, on its own thread


async def test_an_emulator_that_cannot_start_fails_prepare_demo(tmp_path: Path) -> None:
    class Broken(FakeFamily):
        def demo_upstream(self, data_dir: Path) -> contextlib.AbstractAsyncContextManager[DemoUpstream]:
            @contextlib.asynccontextmanager
            async def fail() -> AsyncIterator[DemoUpstream]:
                raise OSError("address in use")
                yield  # pragma: no cover

            return fail()

    provider = FakeProvider(family=Broken())
    async with contextlib.AsyncExitStack() as stack:
        with pytest.raises(OSError, match="address in use"):
            await prepare_demo(make_settings(tmp_path), stack, {"fake-image": lambda context: provider})


async def test_demo_mode_without_an_emulator_is_announced_as_live(tmp_path: Path) -> None:
    """Only the core installed (or families without a bundled emulator): no demo account exists, so the banner and
    ``/health`` must not claim demo mode (a core-only ``flow2api serve`` once printed "mode demo" with ``demo: false``)."""
    async with contextlib.AsyncExitStack() as stack:
        bare = await prepare_demo(make_settings(tmp_path), stack, {"fake-image": lambda context: FakeProvider()})
        assert bare.demo_accounts == ()
        demo, reason = demo_outcome(True, "no account is stored", bare)
        assert not demo and reason.startswith("demo mode wanted (no account is stored), but no installed provider")
        assert demo_outcome(False, "2 account(s)", bare) == (False, "2 account(s)")
        provider = FakeProvider(family=BlockingFamily())
        emulated = await prepare_demo(make_settings(tmp_path), stack, {"fake-image": lambda context: provider})
        assert demo_outcome(True, "started with `flow2api demo`", emulated) == (True, "started with `flow2api demo`")
