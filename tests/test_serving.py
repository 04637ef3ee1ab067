"""Socket deadlines of the HTTP server (flow2api.serving; issue 18, finding 10), on real loopback sockets.

A bare app served by :class:`GuardedAppRunner` shows each deadline (headers, body, idle keep-alive); the
last test runs ``flow2api serve`` itself with 200 slowloris sockets open while ``/health`` answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from flow2api.pipeline import context_middleware, errors_middleware
from flow2api.serving import GuardedAppRunner, SocketTimeouts
from flow2api.testing.processes import free_port, spawn_cli, stop, wait_ready, write_config

TIMEOUTS = SocketTimeouts(header=1.0, body=1.0, keepalive=1.5)
KEY = "serving-test-key-0123456789"
SLACK = 1.5  # seconds a deadline may be late on a loaded machine


async def echo(request: web.Request) -> web.Response:
    return web.json_response({"got": len(await request.read())})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@contextlib.asynccontextmanager
async def served(timeouts: SocketTimeouts = TIMEOUTS) -> AsyncIterator[int]:
    """A bare app (the root middlewares, ``POST /echo`` reading its body, ``GET /health``) on 127.0.0.1; its port."""
    app = web.Application(middlewares=[context_middleware, errors_middleware])
    app.router.add_post("/echo", echo)
    app.router.add_get("/health", health)
    runner = GuardedAppRunner(app, timeouts=timeouts, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def read_until_closed(reader: asyncio.StreamReader, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the socket (or ``limit`` s pass), and when it closed."""
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), limit)
    return data, time.monotonic() - started


RESET = b"<reset>"


async def answer(reader: asyncio.StreamReader) -> tuple[bytes, float]:
    """What the server sent until it closed the connection (:data:`RESET` when it reset it), and when."""
    try:
        data = await reader.read()
    except ConnectionError:  # reset, or a broken pipe seen first by the sending side
        data = RESET
    return data, time.monotonic()


async def trickle(writer: asyncio.StreamWriter, data: bytes, pause: float) -> None:
    """Send ``data`` one byte every ``pause`` s until the server closes the connection."""
    with contextlib.suppress(ConnectionError):
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(pause)


async def test_headers_sent_a_byte_at_a_time_get_408_and_close_after_the_header_timeout() -> None:
    async with served(SocketTimeouts(header=2.0, body=60, keepalive=60)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sender = asyncio.create_task(trickle(writer, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100, 1.0))
        try:
            data, elapsed = await read_until_closed(reader, 2.0 + SLACK + 2)
        finally:
            sender.cancel()
            writer.close()
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), data[:200]
    assert b'"code": "request_timeout"' in data
    assert 1.5 <= elapsed < 2.0 + SLACK, f"closed after {elapsed:.2f} s"


async def test_a_trickling_body_is_cut_with_a_408_in_the_surface_shape() -> None:
    async with served() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
        sender = asyncio.create_task(trickle(writer, b"x" * 100, 0.2))
        try:
            data, elapsed = await read_until_closed(reader, TIMEOUTS.body + SLACK + 2)
        finally:
            sender.cancel()
            writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), data[:300]
    assert b'"code": "request_timeout"' in body and b'"type": "invalid_request_error"' in body
    assert elapsed < TIMEOUTS.body + SLACK, f"cut after {elapsed:.2f} s"


async def test_a_body_sent_in_time_and_slow_but_timely_headers_are_served() -> None:
    async with served() as port, aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{port}/echo", data=b"y" * 500_000) as resp:
            assert resp.status == 200 and await resp.json() == {"got": 500_000}
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # Idle for most of the keep-alive, then headers taking most of the header timeout: together longer
        # than the keep-alive, and still served (the idle timer does not cut headers on their way).
        await asyncio.sleep(TIMEOUTS.keepalive * 0.6)
        await trickle(writer, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", TIMEOUTS.header * 0.6 / 33)
        status = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
    assert status.startswith(b"HTTP/1.1 200"), status


async def test_an_idle_keepalive_connection_is_closed_after_the_keepalive_timeout() -> None:
    async with served() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        data = await asyncio.wait_for(reader.read(), TIMEOUTS.keepalive + SLACK + 2)
        elapsed = time.monotonic() - started
        writer.close()
    assert data.startswith(b"HTTP/1.1 200") and b'"ok"' in data
    assert TIMEOUTS.keepalive * 0.8 <= elapsed < TIMEOUTS.keepalive + SLACK, f"closed after {elapsed:.2f} s"


async def test_flow2api_serve_closes_200_slowloris_sockets_while_health_answers(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path / "flow2api.toml", {
        "global": {"api_key": KEY},
        "server": {"header_timeout": 2, "body_timeout": 2, "keepalive_timeout": 5},
        "logging": {"level": "WARNING"},
    })
    proc = await spawn_cli("serve", "--no-demo", "--config", str(config), "--data-dir", str(tmp_path / "data"),
                           "--port", str(port), log=tmp_path / "server.log")
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url, proc)
        sockets = [await asyncio.open_connection("127.0.0.1", port) for _ in range(200)]
        opened = time.monotonic()
        half = len(sockets) // 2
        # Ten slow headers stop sending after their first bytes: nothing in flight when the server closes, so no
        # TCP reset can drop their 408 (a loaded machine may reset every one still trickling).
        for _, w in sockets[:10]:
            w.write(b"GET /health HTTP/1.1\r\nX-Slow: a")
        senders = [asyncio.create_task(trickle(w, b"GET /health HTTP/1.1\r\nX-Slow: " + b"a" * 100, 0.5))
                   for _, w in sockets[10:half]]
        for _, w in sockets[half:]:  # slow bodies: whole headers, then a byte now and then
            w.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                    b"Authorization: Bearer " + KEY.encode() + b"\r\n\r\n")
        senders += [asyncio.create_task(trickle(w, b"{" * 1000, 0.5)) for _, w in sockets[half:]]
        answers = [asyncio.create_task(answer(r)) for r, _ in sockets]
        latencies = []
        async with aiohttp.ClientSession() as http:
            while time.monotonic() - opened < 2.5:
                started = time.monotonic()
                async with http.get(f"{url}/health") as resp:
                    assert resp.status == 200
                latencies.append(time.monotonic() - started)
                await asyncio.sleep(0.05)
        ends = await asyncio.wait_for(asyncio.gather(*answers), 2 + SLACK + 3)
        closed = [data for data, _ in ends]
        elapsed = max(when for _, when in ends) - opened
        for task in senders:
            task.cancel()
        for _, w in sockets:
            w.close()
    finally:
        await stop(proc)
    print(f"/health with 200 slow sockets open: {len(latencies)} polls, max {max(latencies) * 1000:.1f} ms; "
          f"the last socket closed {elapsed:.2f} s after they opened")
    assert elapsed < 2 + SLACK, f"the slow sockets stayed open {elapsed:.1f} s"
    # A client still sending when the server closes gets a TCP reset, which may drop the 408 before it is read.
    assert all(data.startswith(b"HTTP/1.1 408") or data == RESET for data in closed), {d[:40] for d in closed}
    assert any(data.startswith(b"HTTP/1.1 408") for data in closed[:half]), "no slow header got its 408"
    assert any(b'"request_timeout"' in data for data in closed[half:]), "no slow body got its 408"
    assert max(latencies) < 1.0, f"/health took {max(latencies) * 1000:.0f} ms"
