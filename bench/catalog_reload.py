"""Benchmark: how fast a catalog edit reaches clients, and what continuous reloads cost (issue 3).

Gateway and Flow emulator run in this process on loopback (an aiohttp
``TestServer`` each), with a private copy of ``models.yaml`` watched by the
gateway (``[catalog] watch = true``).

1. **Edit → visible**: 20 times, write the file with a new marker model
   (temporary file + ``os.replace``, as editors do) and poll ``GET /v1/models``
   every 5 ms until the marker is listed. Prints median, p90 and max.
2. **Serving during reloads**: ``GET /v1/models`` requests/s from N clients for
   a few seconds without reloads, then while the file is rewritten every
   ``--interval`` seconds (alternating two valid versions, so every write is a
   real swap). Prints both rates and their ratio.

Clients share the server's process and event loop, so the absolute numbers
are lower than a separate-process measurement; the ratio is the point.
Run: ``.venv/bin/python bench/catalog_reload.py [--seconds 5] [--clients 8] [--interval 0.1]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

REPO = Path(__file__).resolve().parent.parent
API_KEY = "bench-key-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def with_marker(base: str, marker: str) -> str:
    """``base`` catalog with one more image model named ``marker`` at the end of ``models``."""
    item = (f"- id: {marker}\n  kind: image\n  routes:\n  - provider: videofx-image\n"
            "    options: {image_model: NARWHAL, aspect_ratio: IMAGE_ASPECT_RATIO_SQUARE}\n")
    head, sep, tail = base.partition("\n# Resolver aliases.")
    return head.rstrip("\n") + "\n" + item + sep + tail


def replace_file(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


async def start(tmp: Path) -> tuple[TestServer, TestServer, Path]:
    """Emulator and gateway on free loopback ports; returns both servers and the watched catalog path."""
    from flow2api_videofx import VideoFXImageProvider, VideoFXVideoProvider
    from flow2api_videofx.emulator import EmulatorSettings, FlowEmulator

    from flow2api.app import create_app
    from flow2api.discovery import build_providers
    from flow2api.pool import POOL
    from flow2api.settings import Settings

    emulator = FlowEmulator(EmulatorSettings(at_lifetime_s=86400, captcha_polls_to_ready=0))
    upstream = TestServer(emulator.app(), host="127.0.0.1")
    await upstream.start_server()
    base = str(upstream.make_url("")).rstrip("/")
    catalog_dir = tmp / "catalog"
    catalog_dir.mkdir()
    path = Path(shutil.copy(REPO / "models.yaml", catalog_dir / "models.yaml"))
    settings = Settings.model_validate({
        "global": {"api_key": API_KEY}, "storage": {"data_dir": str(tmp / "data")},
        "catalog": {"path": str(path), "watch": True}, "logging": {"level": "WARNING"},
    }).with_plugin_sections({
        "flow": {"labs_base_url": f"{base}/fx/api", "api_base_url": f"{base}/v1"},
        "captcha": {"captcha_method": "yescaptcha", "yescaptcha_base_url": f"{base}/solver",
                    "yescaptcha_api_key": emulator.settings.solver_client_key},
    })
    providers = build_providers(settings, {"videofx-image": VideoFXImageProvider, "videofx-video": VideoFXVideoProvider})
    app = create_app(settings, providers=providers)
    gateway = TestServer(app, host="127.0.0.1")
    await gateway.start_server()
    account = emulator.add_account("bench@example.com", tier="PAYGATE_TIER_ONE", credits=1000)
    await app[POOL].add("videofx", {"st": account.st})
    return upstream, gateway, path


async def listed_ids(session: aiohttp.ClientSession, url: str) -> set[str]:
    async with session.get(f"{url}/v1/models", headers=AUTH) as resp:
        return {m["id"] for m in (await resp.json())["data"]}


async def edit_to_visible(session: aiohttp.ClientSession, url: str, path: Path, base: str, rounds: int) -> list[float]:
    """Seconds from each file write to the new marker model being listed by ``/v1/models``."""
    delays = []
    for i in range(rounds):
        marker = f"bench-marker-{i}"
        await asyncio.sleep(0.2)   # let the previous reload settle, so rounds are independent
        started = time.perf_counter()
        replace_file(path, with_marker(base, marker))
        while marker not in await listed_ids(session, url):
            if time.perf_counter() - started > 10:
                raise RuntimeError(f"{marker} not visible after 10 s")
            await asyncio.sleep(0.005)
        delays.append(time.perf_counter() - started)
    return delays


async def throughput(session: aiohttp.ClientSession, url: str, clients: int, seconds: float) -> tuple[float, int]:
    """``GET /v1/models`` requests/s over ``seconds`` with ``clients`` concurrent loops; and the failures."""
    done = failed = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done, failed
        while time.perf_counter() < deadline:
            async with session.get(f"{url}/v1/models", headers=AUTH) as resp:
                await resp.read()
                if resp.status == 200:
                    done += 1
                else:
                    failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return done / (time.perf_counter() - started), failed


async def rewrite_forever(path: Path, texts: list[str], interval: float, counter: list[int]) -> None:
    while True:
        replace_file(path, texts[counter[0] % len(texts)])
        counter[0] += 1
        await asyncio.sleep(interval)


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="flow2api-bench-catalog-") as tmp:
        upstream, gateway, path = await start(Path(tmp))
        url = str(gateway.make_url("")).rstrip("/")
        base = path.read_text(encoding="utf-8")
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
                delays = await edit_to_visible(session, url, path, base, args.rounds)
                ordered = sorted(delays)
                print(f"edit -> visible in /v1/models ({args.rounds} rounds): median {statistics.median(delays) * 1000:.0f} ms, "
                      f"p90 {ordered[int(0.9 * (len(ordered) - 1))] * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms")

                replace_file(path, base)
                await asyncio.sleep(0.5)
                quiet, quiet_failed = await throughput(session, url, args.clients, args.seconds)
                writes = [0]
                texts = [with_marker(base, "bench-a"), with_marker(base, "bench-b")]
                writer = asyncio.create_task(rewrite_forever(path, texts, args.interval, writes))
                try:
                    busy, busy_failed = await throughput(session, url, args.clients, args.seconds)
                finally:
                    writer.cancel()
                print(f"/v1/models without reloads:            {quiet:8.1f} req/s  ({quiet_failed} failed)")
                print(f"/v1/models with a rewrite every {args.interval:.2f} s: {busy:8.1f} req/s  ({busy_failed} failed, "
                      f"{writes[0]} writes)")
                print(f"ratio during reloads / without:        {busy / quiet:8.2f}")
        finally:
            await gateway.close()
            await upstream.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="edit → visible measurements (default 20)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent /v1/models clients (default 8)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each throughput run (default 5)")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between rewrites (default 0.1)")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
