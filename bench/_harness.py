"""Shared pieces of the benchmarks: processes on loopback, a load generator, latency statistics.

Every server runs in its own process (the emulator, flow2api, a pass-through
proxy); the load generator is the benchmark's own process, so the measured
server never shares an event loop with its clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
EMULATOR_SCRIPT = """
import sys
from aiohttp import web
from flow2api_videofx.emulator import EmulatorSettings, FlowEmulator, demo_account
settings = EmulatorSettings(image_size=int(sys.argv[2]), captcha_polls_to_ready=0, at_lifetime_s=86400,
                            video_polls_to_finish=int(sys.argv[3]), max_recorded_requests=1000)
web.run_app(FlowEmulator(settings, accounts=[demo_account()]).app(), host="127.0.0.1", port=int(sys.argv[1]),
            access_log=None, print=None)
"""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_http(url: str, timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers (any status)."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url):
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@contextlib.asynccontextmanager
async def process(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run a child process for the duration of the block, then terminate it."""
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=REPO, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(proc.wait(), 10)


@dataclass
class Emulator:
    """The Flow emulator in a child process."""

    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def emulator(image_size: int = 64, video_polls: int = 2) -> AsyncIterator[Emulator]:
    """Start the emulator (tiny images: "answers at once") with the demo account."""
    port = free_port()
    async with process(sys.executable, "-c", EMULATOR_SCRIPT, str(port), str(image_size), str(video_polls)):
        await wait_http(f"http://127.0.0.1:{port}/_emulator/accounts")
        yield Emulator(port)


@dataclass
class Gateway:
    """flow2api in a child process, serving against an emulator."""

    port: int
    api_key: str
    data_dir: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def gateway(upstream: Emulator, *, extra_toml: str = "") -> AsyncIterator[Gateway]:
    """Start ``flow2api serve`` against ``upstream`` with its demo account added through the CLI."""
    from flow2api_videofx.emulator import DEMO_ST

    with tempfile.TemporaryDirectory(prefix="flow2api-bench-") as tmp:
        data = Path(tmp) / "data"
        config = Path(tmp) / "flow2api.toml"
        config.write_text(
            f'[global]\napi_key = "bench-key-0123456789"\n'
            f'[generation]\nimage_slot_wait_timeout = 120\nvideo_slot_wait_timeout = 120\n'
            f'[flow]\nlabs_base_url = "{upstream.base}/fx/api"\napi_base_url = "{upstream.base}/v1"\n'
            f'poll_interval = 0.2\n'
            f'[captcha]\ncaptcha_method = "yescaptcha"\nyescaptcha_base_url = "{upstream.base}/solver"\n'
            f'yescaptcha_api_key = "emulator-solver-key"\nsolver_poll_interval = 0.01\n'
            f'[logging]\nlevel = "WARNING"\n{extra_toml}',
            encoding="utf-8",
        )
        cli = [sys.executable, "-m", "flow2api"]
        add = await asyncio.create_subprocess_exec(
            *cli, "accounts", "add", "--st", DEMO_ST, "--config", str(config), "--data-dir", str(data), cwd=REPO,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        if await add.wait() != 0:
            raise RuntimeError("flow2api accounts add failed")
        port = free_port()
        async with process(*cli, "serve", "--no-demo", "--config", str(config), "--data-dir", str(data),
                           "--port", str(port)) as proc:
            await wait_http(f"http://127.0.0.1:{port}/ready")
            yield Gateway(port, "bench-key-0123456789", data)
            del proc


@dataclass
class Run:
    """One load run: requests done, failures, wall time (s) and per-request latencies (s)."""

    label: str
    ok: int
    failed: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """Latency percentile in seconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]

    def line(self) -> str:
        return (f"{self.label:<34} {self.rps:8.1f} req/s  p50 {self.percentile(50) * 1000:7.1f} ms  "
                f"p99 {self.percentile(99) * 1000:7.1f} ms  failed {self.failed}")


async def load(label: str, concurrency: int, total: int, one: Callable[[aiohttp.ClientSession], Awaitable[bool]]) -> Run:
    """Run ``total`` calls of ``one`` with ``concurrency`` workers sharing one client session."""
    latencies: list[float] = []
    failed = 0
    remaining = total
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=300)) as session:

        async def worker() -> None:
            nonlocal remaining, failed
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                try:
                    good = await one(session)
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    good = False
                if good:
                    latencies.append(time.perf_counter() - started)
                else:
                    failed += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return Run(label, len(latencies), failed, time.perf_counter() - started, latencies)


def median(values: list[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")
