"""Shared pieces of the benchmarks: processes on loopback, a load generator, latency and memory statistics.

Every server runs in its own process (the emulator, flow2api, a pass-through
proxy, a tiny CDN); the load generator is the benchmark's own process, so the
measured server never shares an event loop with its clients. Everything binds
to 127.0.0.1 and every child is terminated when its ``async with`` block ends.

* :func:`emulator` — the Flow emulator with any :class:`EmulatorSettings`; its
  control endpoints add accounts and fault rules and read the request log.
* :func:`gateway` — ``flow2api serve`` on a fresh data directory with N
  emulator accounts imported through the CLI; optionally under
  ``bench/_serve.py``, which also records the event loop's lag.
* :func:`load` — N requests from C concurrent workers; :class:`Run` has the
  rate and latency percentiles.
* :func:`memory` — current and peak RSS of a process, from ``/proc``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
API_KEY = "bench-key-0123456789"
SOLVER_POLL = 0.01  # [captcha] solver_poll_interval of benchmark gateways; direct calls wait as long
EMULATOR_SCRIPT = """
import json, sys
from aiohttp import web
from flow2api_videofx.emulator import EmulatorSettings, FlowEmulator, demo_account
settings = EmulatorSettings(**json.loads(sys.argv[2]))
web.run_app(FlowEmulator(settings, accounts=[demo_account()]).app(), host="127.0.0.1", port=int(sys.argv[1]),
            access_log=None, print=None)
"""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_http(url: str, timeout: float = 60.0, proc: asyncio.subprocess.Process | None = None) -> None:
    """Poll ``url`` until it answers (any status); fails early when ``proc`` exits."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc is not None and proc.returncode is not None:
                raise RuntimeError(f"the process serving {url} exited with {proc.returncode}")
            try:
                async with session.get(url):
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


@contextlib.asynccontextmanager
async def process(
    *args: str, env: dict[str, str] | None = None, log: Path | None = None,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run a child process for the duration of the block, then terminate it (kill after 10 s).

    ``log`` receives its stdout and stderr (else they are discarded).
    """
    sink = open(log, "ab") if log is not None else None  # noqa: SIM115 - closed below
    try:
        proc = await asyncio.create_subprocess_exec(
            *args, cwd=REPO, env={**os.environ, **(env or {})},
            stdout=sink or asyncio.subprocess.DEVNULL, stderr=sink or asyncio.subprocess.DEVNULL,
        )
        try:
            yield proc
        finally:
            await stop(proc)
    finally:
        if sink is not None:
            sink.close()


async def stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL after 10 s; idempotent."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


@dataclass
class Emulator:
    """The Flow emulator in a child process, and its control endpoints."""

    port: int
    pid: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _control(self, method: str, path: str, body: Any = None) -> Any:
        async with aiohttp.ClientSession() as s, s.request(method, f"{self.base}/_emulator/{path}", json=body) as r:
            if r.status >= 400:
                raise RuntimeError(f"emulator control {method} {path}: {r.status} {await r.text()}")
            return await r.json() if r.status != 204 else None

    async def add_account(self, email: str, *, tier: str = "PAYGATE_TIER_TWO", credits: int = 1_000_000) -> str:
        """Create an emulator account; returns its ST."""
        return (await self._control("POST", "accounts", {"email": email, "tier": tier, "credits": credits}))["st"]

    async def add_faults(self, *rules: dict[str, Any]) -> list[dict[str, Any]]:
        """Add fault rules (``FaultRule`` JSON, EMULATOR.md "Faults")."""
        return await self._control("POST", "faults", list(rules))

    async def clear_faults(self) -> None:
        await self._control("DELETE", "faults")

    async def requests(self, operation: str | None = None) -> list[dict[str, Any]]:
        """Recorded requests (the newest ``max_recorded_requests``), optionally of one operation."""
        query = f"?operation={operation}" if operation else ""
        return (await self._control("GET", f"requests{query}"))["requests"]

    async def clear_requests(self) -> None:
        await self._control("DELETE", "requests")


@contextlib.asynccontextmanager
async def emulator(image_size: int = 64, video_polls: int = 2, **settings: Any) -> AsyncIterator[Emulator]:
    """Start the emulator with the demo account; defaults answer at once (tiny images, reCAPTCHA ready).

    ``settings`` are further :class:`EmulatorSettings` fields (``max_recorded_requests`` …).
    """
    values = {"image_size": image_size, "captcha_polls_to_ready": 0, "at_lifetime_s": 86400,
              "video_polls_to_finish": video_polls, "max_recorded_requests": 1000, **settings}
    port = free_port()
    async with process(sys.executable, "-c", EMULATOR_SCRIPT, str(port), json.dumps(values)) as proc:
        await wait_http(f"http://127.0.0.1:{port}/_emulator/accounts", proc=proc)
        yield Emulator(port, proc.pid)


@dataclass
class Gateway:
    """flow2api in a child process, serving against an emulator."""

    port: int
    api_key: str
    data_dir: Path
    pid: int = 0
    stats_file: Path | None = None
    log_file: Path | None = None
    account_sts: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def loop_stats(self) -> dict[str, float]:
        """What ``bench/_serve.py`` recorded: ``max_lag_s``, ``samples`` (empty without ``monitor=True``)."""
        if self.stats_file is None or not self.stats_file.exists():
            return {}
        try:
            return json.loads(self.stats_file.read_text())
        except ValueError:  # caught mid-write; the next read is whole
            return {}


def lag_line(lag: dict[str, float]) -> str:
    """One line on the event-loop lag ``bench/_serve.py`` recorded (``max_lag_s``, ``samples``, ``over_100ms``)."""
    return (f"server event loop: max lag {lag.get('max_lag_s', float('nan')) * 1000:.1f} ms; "
            f"{lag.get('over_100ms', 0)} of {lag.get('samples', 0)} 10 ms sleeps woke > 100 ms late")


def gateway_config(
    upstream: Emulator, *, extra_toml: str = "", log_level: str = "WARNING", poll_interval: float = 0.2,
    generation: dict[str, Any] | None = None,
) -> str:
    """The settings file of a benchmark gateway pointed at ``upstream`` (``extra_toml`` appended last).

    ``generation`` adds or overrides ``[generation]`` keys.
    """
    values = {"image_slot_wait_timeout": 120, "video_slot_wait_timeout": 120, **(generation or {})}
    section = "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
    return (
        f'[global]\napi_key = "{API_KEY}"\n'
        f'[generation]\n{section}'
        f'[flow]\nlabs_base_url = "{upstream.base}/fx/api"\napi_base_url = "{upstream.base}/v1"\n'
        f'poll_interval = {poll_interval}\n'
        f'[captcha]\ncaptcha_method = "yescaptcha"\nyescaptcha_base_url = "{upstream.base}/solver"\n'
        f'yescaptcha_api_key = "emulator-solver-key"\nsolver_poll_interval = {SOLVER_POLL}\n'
        f'[logging]\nlevel = "{log_level}"\n{extra_toml}'
    )


async def add_accounts(upstream: Emulator, config: Path, data: Path, count: int) -> list[str]:
    """The demo account plus ``count - 1`` fresh emulator accounts, added with one ``flow2api accounts import``
    (one ST a line; a process per account would take a second each); their STs."""
    from flow2api_videofx.emulator import DEMO_ST

    sts = [DEMO_ST] + [await upstream.add_account(f"bench{i}@example.com") for i in range(1, count)]
    listing = config.with_name("accounts.txt")
    listing.write_text("".join(f"{st}\n" for st in sts), encoding="ascii")
    add = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flow2api", "accounts", "import", str(listing), "--config", str(config),
        "--data-dir", str(data), cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output = (await add.communicate())[0].decode(errors="replace")
    if add.returncode != 0 or f"{count} added" not in output:
        raise RuntimeError(f"flow2api accounts import failed: {output.strip()[-500:]}")
    return sts


@contextlib.asynccontextmanager
async def gateway(
    upstream: Emulator,
    *,
    extra_toml: str = "",
    accounts: int = 1,
    log_level: str = "WARNING",
    poll_interval: float = 0.2,
    monitor: bool = False,
    patches: str = "",
    generation: dict[str, Any] | None = None,
    log: Path | None = None,
    source: Path | None = None,
) -> AsyncIterator[Gateway]:
    """Start ``flow2api serve`` against ``upstream`` with ``accounts`` accounts added through the CLI.

    ``source`` runs the server from another checkout of the repository (e.g. a
    ``git worktree`` of an older commit: its ``flow2api`` and plugin packages
    come first on ``PYTHONPATH``), for before/after runs of whole changes.

    ``monitor`` runs it under ``bench/_serve.py`` (same CLI, plus an event-loop
    lag probe; :meth:`Gateway.loop_stats`); so does ``patches``, comma-separated
    names from ``bench/_patches.py`` applied in the server process (A/B runs).
    ``generation`` adds ``[generation]`` keys; ``log`` keeps the server's output.
    """
    with tempfile.TemporaryDirectory(prefix="flow2api-bench-") as tmp:
        data = Path(tmp) / "data"
        config = Path(tmp) / "flow2api.toml"
        config.write_text(gateway_config(upstream, extra_toml=extra_toml, log_level=log_level,
                                         poll_interval=poll_interval, generation=generation), encoding="utf-8")
        sts = await add_accounts(upstream, config, data, accounts)
        port = free_port()
        stats = Path(tmp) / "loop.json"
        if monitor or patches or source is not None:  # a script, not -m: the working directory must not come first
            entry = [str(BENCH / "_serve.py"), str(stats) if monitor else "-"]
        else:
            entry = ["-m", "flow2api"]
        env = {"FLOW2API_BENCH_PATCHES": patches}
        if source is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                str(source / p) for p in ("", "plugins/flowkit", "plugins/videofx", "plugins/flowweb"))
        async with process(sys.executable, *entry, "serve", "--no-demo", "--config", str(config),
                           "--data-dir", str(data), "--port", str(port), log=log, env=env) as proc:
            await wait_http(f"http://127.0.0.1:{port}/ready", proc=proc)
            yield Gateway(port, API_KEY, data, proc.pid, stats if monitor else None, log, sts)


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


def memory(pid: int) -> tuple[int, int]:
    """``(VmRSS, VmHWM)`` of ``pid`` in bytes: resident set now and its peak since the process started."""
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024
    return values["VmRSS"], values["VmHWM"]


def load_average() -> str:
    """The 1-minute load average and CPU count, for the printed context of a run."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


MB = 1024 * 1024
