"""Drill: slow and vanishing clients — leases released, no task left running, memory flat.

Rounds of mixed clients against the real gateway and emulator (two accounts,
videos take six status polls at 50 ms):

* **vanishing** — streamed video chats closed after their first chunk; streamed
  image chats and Gemini streams cancelled before any byte; Images API
  requests cancelled mid-generation (a non-streaming handler is not cancelled
  by aiohttp when its client goes: it finishes, then releases);
* **slow** — Gemini answers carrying a 512 px inline image, read 1 KiB at a
  time with pauses, and streamed video chats read 64 bytes at a time with
  pauses (their keep-alives pile up in the meantime); all must complete whole.

After every round, within a bounded wait: no lease held (``pool.in_flight``
0 for every account and kind, ``/health`` agrees), no status poller running,
no chat or Gemini task row left ``queued``/``in_progress`` — a stream whose
client vanished before the answer ends ``failed`` with
``client_disconnected``, also when the client was gone before the SSE answer
could open — no client connection left open on the gateway, and the event
loop's tasks (idle keep-alive connections of the gateway's upstream pool
aside) back to what they were before the round. No request may end in an
exception that aiohttp logs ("Error handling request"): a kept log record
holds the handler's frames, and with them the request's objects. Objects: no
class of flow2api objects has more live instances after the last round than
after round 2. Memory: the bytes allocated by flow2api code (tracemalloc,
any frame in the ``flow2api`` package or the plugin outside its emulator) and
still alive after a round grow by less than 1 MiB from round 2 to the last round.

Every task row of a request whose client vanished ends ``failed`` with
``client_disconnected`` or finished normally (a non-streaming handler that
is not cancelled completes its job), streams and Images API fan-outs alike.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import logging
import tracemalloc
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from flow2api_videofx.emulator import EmulatorSettings, FlowEmulator

from flow2api.discovery import PROVIDERS
from flow2api.storage import DATABASE
from videofx_gateway import API_KEY, Upstream, make_settings
from videofx_drills import FULL, IMAGE_MODEL, eventually, served_like_cli

pytestmark = pytest.mark.reliability

ROUNDS = 8 if FULL else 4
VANISHING = 24 if FULL else 12
SLOW = 6 if FULL else 3
VIDEO_MODEL = "veo_3_1_t2v_fast_landscape"
VANISHED = "a kite (client vanishes before the answer)"
VANISHED_IMAGES = "a kite (client vanishes before the Images API answers)"
GEMINI = "/v1beta/models/gemini-3.1-flash-image"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
FRAMES = 8  # tracemalloc depth: enough to see flow2api code under an allocation made in aiohttp or asyncio


@pytest.fixture
async def slow_upstream(aiohttp_server) -> Upstream:  # noqa: ANN001
    """Videos in 6 polls, 512 px images, little request history kept."""
    emulator = FlowEmulator(EmulatorSettings(at_lifetime_s=86400, captcha_polls_to_ready=0, video_polls_to_finish=6,
                                             image_size=512, max_recorded_requests=200))
    return Upstream(emulator, await aiohttp_server(emulator.app()))


def working_tasks() -> list[asyncio.Task]:
    """The loop's tasks but idle keep-alive connections (the gateway's pooled connections to the emulator)."""
    return [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ != "RequestHandler.start"]


def connection_tasks(server: object) -> list[asyncio.Task]:
    """Tasks of ``server``'s connections: each runs its requests' handlers, which aiohttp does not cancel
    when the client goes away (``handler_cancellation`` is off by default)."""
    found = []
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        frame = getattr(coro, "cr_frame", None)
        handler = frame.f_locals.get("self") if frame is not None else None
        if coro.__qualname__ == "RequestHandler.start" and getattr(handler, "_manager", None) is server:
            found.append(task)
    return found


def ours(filename: str, cache: dict[str, bool] = {}) -> bool:  # noqa: B006 - a deliberate memo
    """Whether a file is flow2api's (the core package, or the plugin outside its emulator)."""
    if filename not in cache:
        cache[filename] = "/flow2api/" in filename or (
            "/flow2api_videofx/" in filename and "/emulator/" not in filename)
    return cache[filename]


def our_objects() -> collections.Counter[str]:
    """Live instances of classes defined by flow2api (core or plugin, emulator excluded), by class."""
    gc.collect()
    counts: collections.Counter[str] = collections.Counter()
    for obj in gc.get_objects():
        module = getattr(type(obj), "__module__", None)
        if isinstance(module, str) and module.startswith(("flow2api.", "flow2api_videofx.")) and ".emulator" not in module:
            counts[type(obj).__qualname__] += 1
    return counts


def ours_in_use() -> int:
    """Bytes still alive that were allocated with flow2api code on the stack (any traced frame)."""
    gc.collect()
    snapshot = tracemalloc.take_snapshot()
    return sum(trace.size for trace in snapshot.traces if any(ours(frame.filename) for frame in trace.traceback))


async def vanish_after_first_chunk(http: aiohttp.ClientSession, url: str, body: dict) -> None:
    resp = await http.post(url, json=body, headers=AUTH)
    try:
        assert resp.status == 200, await resp.text()
        await resp.content.readany()
    finally:
        resp.close()  # drop the connection mid-stream


async def vanish_before_answer(http: aiohttp.ClientSession, url: str, body: dict, after: float) -> None:
    request = asyncio.ensure_future(http.post(url, json=body, headers=AUTH))
    await asyncio.sleep(after)
    request.cancel()
    try:
        resp = await request
    except asyncio.CancelledError:
        return
    resp.close()


async def read_slowly(http: aiohttp.ClientSession, url: str, body: dict, *, chunk: int, pause: float) -> bytes:
    received = b""
    async with http.post(url, json=body, headers=AUTH) as resp:
        assert resp.status == 200, await resp.text()
        while True:
            data = await resp.content.read(chunk)
            if not data:
                return received
            received += data
            await asyncio.sleep(pause)


async def test_slow_and_vanishing_clients_like_flow2api_serve(
    tmp_path: Path, slow_upstream: Upstream, caplog: pytest.LogCaptureFixture,
) -> None:
    """As ``flow2api serve`` runs: a vanished client's handler is not cancelled, it ends at its next write."""
    settings = make_settings(tmp_path, slow_upstream, generation={"keepalive_interval": 0.05})
    async with served_like_cli(settings) as gw:
        await drill(gw, gw.runner.server, slow_upstream, caplog)


async def test_slow_and_vanishing_clients_with_handler_cancellation(
    tmp_path: Path, slow_upstream: Upstream, start_gateway, caplog: pytest.LogCaptureFixture,
) -> None:
    """As pytest-aiohttp's test server runs (and any embedding with ``handler_cancellation=True``)."""
    gw = await start_gateway(make_settings(tmp_path, slow_upstream, generation={"keepalive_interval": 0.05}))
    await drill(gw, gw.server.runner.server, slow_upstream, caplog)


async def drill(gw: Any, server: Any, slow_upstream: Upstream, caplog: pytest.LogCaptureFixture) -> None:
    emulator = slow_upstream.emulator
    for email in ("alice@example.com", "bob@example.com"):
        account = emulator.add_account(email, tier="PAYGATE_TIER_TWO", credits=10_000_000)
        await gw.pool.add("videofx", {"st": account.st})
    accounts = [r.id for r in gw.pool.records()]
    family = gw.app[PROVIDERS]["videofx-video"].family
    chat_url, images_url = f"{gw.url}/v1/chat/completions", f"{gw.url}/v1/images/generations"
    video_chat = {"model": VIDEO_MODEL, "messages": [{"role": "user", "content": "waves"}], "stream": True}
    image_chat = {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": VANISHED}], "stream": True}
    gemini = {"contents": [{"parts": [{"text": "a kite"}]}]}
    vanished_gemini = {"contents": [{"parts": [{"text": VANISHED}]}]}

    async def settled() -> None:
        await eventually(lambda: not connection_tasks(server), 30, "every request handler of the gateway finished")
        await eventually(lambda: all(gw.pool.in_flight(a, k) == 0 for a in accounts for k in ("image", "video")),
                         20, "every lease released")
        await eventually(lambda: not any(family.poller(a).running for a in accounts), 20, "status pollers stopped")

    if FULL:
        tracemalloc.start(FRAMES)
    try:
        sizes, objects = [], []
        for round_number in range(ROUNDS):
            tasks_before = len(working_tasks())
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
                clients = [vanish_after_first_chunk(http, chat_url, video_chat) for _ in range(VANISHING)]
                clients += [vanish_before_answer(http, chat_url, image_chat, 0.01) for _ in range(VANISHING // 2)]
                clients += [vanish_before_answer(http, f"{gw.url}{GEMINI}:streamGenerateContent", vanished_gemini, 0.02)
                            for _ in range(VANISHING // 4)]
                images = {"model": IMAGE_MODEL, "prompt": VANISHED_IMAGES, "n": 2}
                clients += [vanish_before_answer(http, images_url, images, 0.03) for _ in range(VANISHING // 4)]
                slow = [read_slowly(http, f"{gw.url}{GEMINI}:generateContent", gemini, chunk=1024, pause=0.01)
                        for _ in range(SLOW)]
                slow += [read_slowly(http, chat_url, video_chat, chunk=64, pause=0.02) for _ in range(SLOW)]
                results = await asyncio.wait_for(asyncio.gather(*clients, *slow), 120)
            answers = results[len(clients):]
            assert all(b'"inlineData"' in a and a.endswith(b"}") for a in answers[:SLOW]), "a slow Gemini answer broke"
            assert all(a.rstrip().endswith(b"data: [DONE]") for a in answers[SLOW:]), "a slow stream broke"
            await settled()
            async with aiohttp.ClientSession() as http, http.get(f"{gw.url}/health") as resp:
                assert (await resp.json())["accounts"]["in_flight"] == 0

            async def unfinished() -> tuple[int, int]:
                """Unfinished task rows: (of Images API requests whose client vanished, of all others)."""
                async with gw.app[DATABASE].conn.execute(
                        "SELECT prompt = ?, COUNT(*) FROM tasks WHERE status IN ('queued', 'in_progress') GROUP BY 1",
                        (VANISHED_IMAGES,)) as cur:
                    counts = {bool(row[0]): row[1] for row in await cur.fetchall()}
                return counts.get(True, 0), counts.get(False, 0)

            for _ in range(100):
                if (await unfinished())[1] == 0:
                    break
                await asyncio.sleep(0.1)
            stuck, others = await unfinished()
            assert others == 0, f"{others} task rows left queued or in progress (streams included)"
            assert stuck == 0, f"{stuck} Images API task rows of vanished clients left queued or in progress"
            async with gw.app[DATABASE].conn.execute(
                    "SELECT COUNT(*) FROM tasks WHERE prompt = ? AND status = 'failed' AND error NOT LIKE ?",
                    (VANISHED, "client_disconnected: %")) as cur:
                (misreported,) = await cur.fetchone()
            assert misreported == 0, f"{misreported} vanished streams failed, but not as client_disconnected"
            logged = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
            assert not logged, f"requests ended in logged errors: {logged[:3]}"
            await eventually(lambda: len(working_tasks()) <= tasks_before, 20,
                             f"the loop's tasks back to {tasks_before} (now {len(working_tasks())})")
            objects.append(our_objects())
            if FULL:
                sizes.append(ours_in_use())
    finally:
        tracemalloc.stop()
    grown = {name: (objects[1][name], n) for name, n in objects[-1].items() if n > objects[1][name]}
    assert not grown, f"flow2api objects piling up round after round (round 2, last): {grown}"
    if FULL:
        growth = sizes[-1] - sizes[1]
        assert growth < 1024 * 1024, f"flow2api's live allocations grew by {growth / 1024:.0f} KiB: {sizes}"
