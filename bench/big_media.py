"""Benchmark: a 200 MB video through the media cache — server memory and throughput (issue 8).

Processes on loopback: a tiny "CDN" (an aiohttp app serving one file with
``FileResponse``), and flow2api (``bench/_media_server.py``: the real app with
a provider whose result is ``MediaOutput(url=<CDN URL>)``, the shape of a
finished upstream video). The load generator is this process.

Per round (``--rounds``, default 3):

1. **ingest** — ``POST /v1/chat/completions`` for the model: the pipeline
   streams the 200 MB from the CDN into the media cache
   (``MediaCache.store_url``) before answering with the ``/media/`` link;
2. **serve** — ``GET /media/<name>``, read by the client in 1 MiB chunks
   (bytes counted, not stored).

The server's event-loop lag (a 10 ms sleep probe, ``bench/_serve.py``) is
recorded for the whole run. The server's resident memory (``/proc/<pid>/status`` ``VmRSS``) is sampled
every 10 ms during both steps; printed: its growth over the idle value before
the first round (target ≤ 20 MB) and ``VmHWM`` (peak since start). Throughput
of each step is compared with, in the same run: a plain file copy of the same
file (``shutil.copyfile``, the disk's speed) and a client download straight
from the CDN (the loopback HTTP speed).

Run: ``.venv/bin/python bench/big_media.py [--size-mb 200] [--rounds 3] [--patches NAMES]``
(``--patches NAMES`` applies ``bench/_patches.py`` patches in the server, for A/B runs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import BENCH, MB, free_port, lag_line, load_average, memory, process, wait_http  # noqa: E402

CDN_SCRIPT = """
import sys
from aiohttp import web
path = sys.argv[2]
app = web.Application()
app.router.add_get("/video.mp4", lambda r: web.FileResponse(path, headers={"Content-Type": "video/mp4"}))
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""
API_KEY = "bench-key-0123456789"


def make_video(path: Path, size: int) -> None:
    """``size`` bytes starting like an MP4 (``ftyp`` box, so the cache sniffs ``video/mp4``), then random data."""
    block = os.urandom(MB)
    with open(path, "wb") as fh:
        fh.write(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
        written = 24
        while written < size:
            chunk = block[: min(MB, size - written)]
            fh.write(chunk)
            written += len(chunk)


class Sampler:
    """Samples ``VmRSS`` of ``pid`` every 10 ms while active; ``peak`` is the highest value seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, memory(self.pid)[0])
            await asyncio.sleep(0.01)

    @contextlib.asynccontextmanager
    async def active(self) -> AsyncIterator[None]:
        self._task = asyncio.create_task(self._run())
        try:
            yield
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self.peak = max(self.peak, memory(self.pid)[0])


async def download(session: aiohttp.ClientSession, url: str, **kwargs) -> int:  # noqa: ANN003
    """GET ``url`` and count the bytes (1 MiB reads); raises on a non-200."""
    total = 0
    async with session.get(url, **kwargs) as resp:
        resp.raise_for_status()
        async for chunk in resp.content.iter_chunked(MB):
            total += len(chunk)
    return total


def rate(size: int, seconds: float) -> str:
    return f"{size / MB / seconds:7.1f} MB/s"


async def main(args: argparse.Namespace) -> None:
    size = args.size_mb * MB
    with tempfile.TemporaryDirectory(prefix="flow2api-bench-media-") as tmp:
        source = Path(tmp) / "video.mp4"
        make_video(source, size)
        cdn_port, port = free_port(), free_port()
        cdn = f"http://127.0.0.1:{cdn_port}/video.mp4"
        async with process(sys.executable, "-c", CDN_SCRIPT, str(cdn_port), str(source)) as cdn_proc, \
                process(sys.executable, str(BENCH / "_media_server.py"), str(port), str(Path(tmp) / "data"), cdn,
                        str(Path(tmp) / "loop.json"), env={"FLOW2API_BENCH_PATCHES": args.patches}) as proc:
            await wait_http(cdn, proc=cdn_proc)
            await wait_http(f"http://127.0.0.1:{port}/ready", proc=proc)
            print(f"{args.size_mb} MB video, {args.rounds} rounds, {load_average()} at start"
                  + (f", patches {args.patches}" if args.patches else ""))
            copies, direct = [], []
            for _ in range(args.rounds):
                started = time.perf_counter()
                shutil.copyfile(source, Path(tmp) / "copy.mp4")
                copies.append(time.perf_counter() - started)
                (Path(tmp) / "copy.mp4").unlink()
            timeout = aiohttp.ClientTimeout(total=600)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    assert await download(session, cdn) == size
                    direct.append(time.perf_counter() - started)
                idle_rss, idle_hwm = memory(proc.pid)
                sampler = Sampler(proc.pid)
                ingests, serves = [], []
                body = {"model": "bench-video", "messages": [{"role": "user", "content": "a long video"}]}
                for _ in range(args.rounds):
                    async with sampler.active():
                        started = time.perf_counter()
                        async with session.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body,
                                                headers={"Authorization": f"Bearer {API_KEY}"}) as resp:
                            answer = await resp.json()
                            if resp.status != 200:
                                raise RuntimeError(f"chat completion failed: {resp.status} {answer}")
                        ingests.append(time.perf_counter() - started)
                        url = re.search(r"\((http[^)]+)\)", answer["choices"][0]["message"]["content"])[1]
                        started = time.perf_counter()
                        assert await download(session, url) == size
                        serves.append(time.perf_counter() - started)
                rss, hwm = memory(proc.pid)
                await asyncio.sleep(0.6)  # the probe writes its stats every 0.5 s
                lag = json.loads((Path(tmp) / "loop.json").read_text())
        best = min
        print(f"plain file copy (shutil.copyfile)       {rate(size, best(copies))}   (best of {args.rounds})")
        print(f"client <- CDN directly (loopback HTTP)  {rate(size, best(direct))}")
        print(f"ingest: CDN -> flow2api media cache     {rate(size, best(ingests))}   "
              f"{size / best(ingests) / (size / best(copies)):.2f}x file copy, "
              f"{size / best(ingests) / (size / best(direct)):.2f}x direct download")
        print(f"serve:  /media/<name> -> client         {rate(size, best(serves))}   "
              f"{size / best(serves) / (size / best(copies)):.2f}x file copy, "
              f"{size / best(serves) / (size / best(direct)):.2f}x direct download")
        print(f"server RSS idle {idle_rss / MB:.1f} MB; peak while ingesting/serving {sampler.peak / MB:.1f} MB "
              f"(growth {(sampler.peak - idle_rss) / MB:+.1f} MB, target <= 20 MB); after {rss / MB:.1f} MB; "
              f"VmHWM {idle_hwm / MB:.1f} -> {hwm / MB:.1f} MB")
        print(lag_line(lag))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200, help="video size in MB (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--patches", default="", help="bench/_patches.py patches for the server (A/B runs)")
    asyncio.run(main(parser.parse_args()))
