"""Benchmark: server memory with many large data-URI images in flight (issue 18, finding 7).

Starts ``flow2api serve`` in demo mode (no account stored: the bundled emulators run in the server process, on
their own threads, as the finding measured it) through :mod:`flow2api.testing.processes`, once with the
default in-flight limits (``[server] max_in_flight`` / ``max_in_flight_bytes``) and once with both off (the
baseline, same run). Each time, ``--clients`` concurrent clients send one chat completion each carrying a
``--image-mib`` MiB PNG (random pixels, so it does not compress) as a ``data:`` URI; a client refused with 429
waits ``Retry-After`` and tries again, as OpenAI's SDKs do, until ``--deadline`` seconds have passed.

The server's ``VmRSS`` is sampled every 10 ms (``/proc/<pid>/status``); printed per run: idle RSS before the
first request, peak RSS, answers (200 / 429 seen / failed), wall time; and the ratio of the two peaks'
growth over idle.

Run: ``.venv/bin/python bench/memory_inflight.py [--clients 10] [--image-mib 19] [--deadline 300]``
(``--only default|off`` runs one case; ``--server KEY=VALUE`` adds ``[server]`` keys to both).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import MB, load_average, memory  # noqa: E402

from flow2api.testing.processes import free_port, spawn_cli, stop, wait_ready, write_config  # noqa: E402

API_KEY = "bench-memory-key-0123456789"
MODEL = "gemini-3.1-flash-image-square"
OFF = {"max_in_flight": 0, "max_in_flight_bytes": 0}


def noise_png(size: int) -> bytes:
    """A PNG of random RGB pixels of about ``size`` bytes (noise does not compress)."""
    side = int((size / 3) ** 0.5)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(3 * side * side)).save(out, format="PNG", compress_level=1)
    return out.getvalue()


@dataclass
class Result:
    """One run: RSS idle and peak (bytes), answers, 429s seen on the way, wall time (s)."""

    label: str
    idle: int = 0
    peak: int = 0
    ok: int = 0
    failed: int = 0
    refused: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.label:<28} RSS idle {self.idle / MB:7.1f} MB  peak {self.peak / MB:7.1f} MB  "
                f"(+{(self.peak - self.idle) / MB:7.1f} MB)  200s {self.ok}  429s seen {self.refused}  "
                f"failed {self.failed}  {self.seconds:6.1f} s")


async def sample(pid: int, result: Result, stop_event: asyncio.Event) -> None:
    while not stop_event.is_set():
        try:
            rss, _ = memory(pid)
        except (FileNotFoundError, ProcessLookupError):
            return
        result.peak = max(result.peak, rss)
        await asyncio.sleep(0.01)


async def one_client(http: aiohttp.ClientSession, url: str, body: bytes, result: Result, deadline: float) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    while time.monotonic() < deadline:
        try:
            async with http.post(f"{url}/v1/chat/completions", data=body, headers=headers) as resp:
                text = await resp.text()
                if resp.status == 429:
                    result.refused += 1
                    await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
                    continue
                if resp.status == 200:
                    result.ok += 1
                else:
                    result.failed += 1
                    result.errors.append(f"{resp.status} {text[:200]}")
                return
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            result.failed += 1
            result.errors.append(repr(exc))
            return
    result.failed += 1
    result.errors.append("deadline passed while refused")


async def run(label: str, server: dict[str, Any], body: bytes, clients: int, deadline_s: float) -> Result:
    result = Result(label)
    with tempfile.TemporaryDirectory(prefix="flow2api-bench-memory-") as tmp:
        port = free_port()
        config = write_config(Path(tmp) / "flow2api.toml", {
            "global": {"api_key": API_KEY}, "server": server, "logging": {"level": "WARNING"},
            "generation": {"image_slot_wait_timeout": 300},
        })
        log = Path(tmp) / "server.log"
        proc = await spawn_cli("serve", "--config", str(config), "--data-dir", str(Path(tmp) / "data"),
                               "--port", str(port), log=log)
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_ready(url, proc)
            await asyncio.sleep(1.0)  # let start-up settle before the idle reading
            result.idle, _ = memory(proc.pid)
            result.peak = result.idle
            done = asyncio.Event()
            sampler = asyncio.create_task(sample(proc.pid, result, done))
            started = time.monotonic()
            timeout = aiohttp.ClientTimeout(total=deadline_s)
            async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as http:
                await asyncio.gather(*(one_client(http, url, body, result, started + deadline_s)
                                       for _ in range(clients)))
            result.seconds = time.monotonic() - started
            done.set()
            await sampler
            _, hwm = memory(proc.pid)
            result.peak = max(result.peak, hwm)
        finally:
            await stop(proc)
        if result.errors:
            print(f"  {label}: first errors: {result.errors[:3]}\n  server log tail: "
                  f"{log.read_text(errors='replace')[-1500:]}", file=sys.stderr)
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--image-mib", type=float, default=19)
    parser.add_argument("--deadline", type=float, default=300)
    parser.add_argument("--only", choices=("default", "off"))
    parser.add_argument("--server", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    extra = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.server)}
    png = noise_png(int(args.image_mib * MB))
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "make it brighter"}, {"type": "image_url", "image_url": {"url": uri}}]}]}).encode()
    del uri
    print(f"{args.clients} concurrent chats, each a {len(png) / MB:.1f} MiB PNG as a data URI "
          f"({len(body) / MB:.1f} MiB of JSON); {load_average()}")
    results = []
    if args.only in (None, "default"):
        results.append(await run("default limits", extra, body, args.clients, args.deadline))
        print(results[-1].line(), flush=True)
    if args.only in (None, "off"):
        results.append(await run("limits off (baseline)", {**extra, **OFF}, body, args.clients, args.deadline))
        print(results[-1].line(), flush=True)
    if len(results) == 2:
        capped, off = results
        print(f"peak RSS default/off: {capped.peak / off.peak:.2f}; growth over idle default/off: "
              f"{(capped.peak - capped.idle) / max(1, off.peak - off.idle):.2f}")


if __name__ == "__main__":
    asyncio.run(main())
