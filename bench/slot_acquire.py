"""Benchmark: p99 slot-acquire time under 200 concurrent requests, Redis coordination vs in-process (issue 17).

Two real apps (``create_app`` started through an ``AppRunner``, the fake provider family of
``flow2api.testing``, their own SQLite files) identical but for ``[coordination] redis_url``: one empty (the
in-process coordinator), one on a ``redis-server`` this script starts (``flow2api.testing.redis``). Each runs
``--requests`` leases from ``--concurrency`` concurrent tasks straight through the pool (``AccountPool.acquire``,
the step the job engine takes per attempt; HTTP and the provider are left out, so the number is the
coordination's alone): acquire, hold ``--hold`` ms, release. Two shapes:

* ``uncontended``: 10 accounts × 40 image slots = 400 for 200 tasks, every request finds a slot: the pure cost of
  a take (with Redis one ``TAKE`` script call: the hold, the cool-downs and the counts, pipelined with the
  other requests' calls);
* ``contended``: 10 accounts × 2 slots = 20 for 200 tasks: most requests wait in the queue, so the time
  includes the wait for a slot (with Redis, a slot released here is handed to the next waiter here as it is).

Both backends run in alternating rounds (``--rounds``); the script prints p50/p99/max per backend and shape
and the ratio Redis / in-process.

Run: ``.venv/bin/python bench/slot_acquire.py [--requests 4000] [--concurrency 200] [--rounds 3] [--hold 200]
[--shape all|uncontended|contended]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from flow2api.app import create_app  # noqa: E402
from flow2api.catalog import CATALOG  # noqa: E402
from flow2api.discovery import PROVIDERS  # noqa: E402
from flow2api.plugin import Kind  # noqa: E402
from flow2api.pool import POOL, AccountPool  # noqa: E402
from flow2api.settings import Settings  # noqa: E402
from flow2api.testing.fakes import FAKE_IMAGE_MODEL, FakeProvider, Script, write_fake_catalog  # noqa: E402
from flow2api.testing.redis import find_redis_server, start_redis  # noqa: E402

SHAPES = {"uncontended": 40, "contended": 2}  # image slots per account, 10 accounts
ACCOUNTS = 10


@contextlib.asynccontextmanager
async def started_app(directory: Path, redis_url: str) -> AsyncIterator[web.Application]:
    """A started app whose pool has :data:`ACCOUNTS` fake accounts (on ``redis_url``, or in-process when empty)."""
    directory.mkdir(parents=True, exist_ok=True)
    settings = Settings.model_validate({
        "global": {"api_key": "bench-key-0123456789"},
        "storage": {"data_dir": str(directory / "data")},
        "catalog": {"path": str(write_fake_catalog(directory / "models.yaml")), "watch": False},
        "coordination": {"redis_url": redis_url},
        "logging": {"level": "WARNING"},
    })
    app = create_app(settings, providers={"fake-image": FakeProvider("fake-image", Kind.IMAGE, script=Script())})
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        pool = app[POOL]
        for i in range(ACCOUNTS):
            await pool.add("fake", {"token": f"bench{i}"})
        yield app
    finally:
        await runner.cleanup()


async def run(app: web.Application, slots: int, requests: int, concurrency: int, hold: float) -> list[float]:
    """Acquire times (ms) of ``requests`` leases of ``app``'s pool from ``concurrency`` tasks, ``slots`` slots
    per account."""
    pool: AccountPool = app[POOL]
    for record in pool.records():
        await pool.update(record.id, image_concurrency=slots)
    entry = app[CATALOG].current.resolve(FAKE_IMAGE_MODEL)
    providers = app[PROVIDERS]
    times: list[float] = []
    left = iter(range(requests))

    async def worker() -> None:
        for _ in left:
            started = time.perf_counter()
            lease = await pool.acquire(entry, providers, timeout=120)
            times.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(hold / 1000)
            pool.release(lease)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return times


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1] if len(values) > 1 else values[0]


async def main(args: argparse.Namespace) -> None:
    binary = find_redis_server()
    if binary is None:
        raise SystemExit("redis-server not found: apt-get install redis-server")
    server = start_redis(binary)
    try:
        with tempfile.TemporaryDirectory(prefix="flow2api-bench-") as tmp:
            async with started_app(Path(tmp) / "local", "") as local, \
                    started_app(Path(tmp) / "redis", server.url(0)) as shared:
                pools = {"in-process": local, "redis": shared}
                for pool in pools.values():  # warm-up: connections, scripts loaded, code paths hot
                    await run(pool, 40, 400, args.concurrency, args.hold)
                print(f"{args.requests} leases per round, {args.concurrency} concurrent, hold {args.hold:g} ms, "
                      f"{args.rounds} round(s); load average {Path('/proc/loadavg').read_text().split()[:3]}")
                for shape, slots in ((s, n) for s, n in SHAPES.items() if args.shape in ("all", s)):
                    times: dict[str, list[float]] = {name: [] for name in pools}
                    for round_number in range(args.rounds):
                        order = list(pools) if round_number % 2 == 0 else list(reversed(pools))
                        for name in order:
                            times[name] += await run(pools[name], slots, args.requests, args.concurrency, args.hold)
                    p99 = {}
                    for name, values in times.items():
                        p99[name] = quantile(values, 0.99)
                        print(f"  {shape:<12} {name:<10} p50 {quantile(values, 0.50):7.2f} ms   p99 {p99[name]:7.2f} ms"
                              f"   max {max(values):7.2f} ms")
                    print(f"  {shape:<12} p99 ratio redis / in-process: {p99['redis'] / max(p99['in-process'], 1e-3):.1f}×")
    finally:
        server.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hold", type=float, default=200.0, help="ms each lease is held")
    parser.add_argument("--shape", choices=("all", *SHAPES), default="all", help="run one shape only (default all)")
    asyncio.run(main(parser.parse_args()))
