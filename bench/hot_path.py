"""Benchmark: the image hot path — flow2api versus the emulator directly and versus a bare aiohttp proxy (issue 8).

Three ways to get one generated image, each measured from a load generator in
this process against servers in child processes on loopback:

``direct``
    The client makes the upstream calls itself, like flow2api's provider does:
    solver ``createTask`` + ``getTaskResult``, ``batchGenerateImages``, then
    ``GET`` of the image URL (``bench/pipeline.py`` ``direct_call``).
``pass-through``
    The same four calls through ``bench/_passthrough.py``, a minimal aiohttp
    reverse proxy: the practical limit of any gateway written with aiohttp.
``flow2api``
    ``POST /v1/chat/completions`` (non-streaming, or ``--surface images`` for
    ``/v1/images/generations``) and ``GET`` of the returned ``/media/`` URL:
    auth → rate limit → route → lease → proxy stage → provider (the same four
    upstream calls) → media cache → task rows, request log, usage statistics.

Each concurrency level (1, 50 and 200 clients by default) runs the three
variants in turn for ``--rounds`` rounds (order rotated, so drift in machine
load hits all three alike) and prints requests/s, p50/p99 latency, the CPU
time the server process spent per request (``/proc/<pid>/stat``; far less
sensitive to a busy machine than wall-clock rates), and the ratios:
flow2api/pass-through requests/s (target ≥ 0.7) and the p50 latency flow2api
adds over ``direct`` and over ``pass-through`` (target ≤ 1 ms, meaningful at
c=1 where nothing queues).

``--profile`` samples the gateway with py-spy during one extra run (c=50, ``--profile-concurrency``) and
prints the functions with the most samples (own time and inclusive); the raw
stacks go to ``--profile-out`` (collapsed format, for speedscope or
flamegraph.pl). py-spy is not a dependency: ``.venv/bin/pip install py-spy``.

``--compare NAME=PATCHES`` starts one more gateway per option with
monkeypatches from ``bench/_patches.py`` (``before`` states of optimisations,
proposed fixes in other modules) and measures it alongside, e.g.
``--compare before=deferred-commits,uuid-request-id``.

Run: ``.venv/bin/python bench/hot_path.py [--requests 1000] [--rounds 2] [--concurrency 1,50,200]
[--log-level INFO] [--surface chat|images] [--compare NAME=PATCHES] [--profile]``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (  # noqa: E402
    BENCH, Emulator, Gateway, Run, emulator, free_port, gateway, load, load_average, process, wait_http,
)
from pipeline import MODEL, direct_call, direct_setup, gateway_call  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def default_loop() -> str:
    """The loop ``[server] event_loop = "auto"`` picks here: ``uvloop`` when installed, else ``asyncio``."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


@contextlib.asynccontextmanager
async def passthrough(upstream: Emulator, loop: str = "asyncio") -> AsyncIterator[tuple[str, int]]:
    """``bench/_passthrough.py`` on the event ``loop`` (``asyncio``/``uvloop``) in front of ``upstream``;
    yields its base URL and pid."""
    port = free_port()
    async with process(sys.executable, str(BENCH / "_passthrough.py"), str(port), upstream.base, loop) as proc:
        await wait_http(f"http://127.0.0.1:{port}/_emulator/accounts", proc=proc)
        yield f"http://127.0.0.1:{port}", proc.pid


def images_call(gw: Gateway):  # noqa: ANN201
    """One ``/v1/images/generations`` request through flow2api, then the image fetched like a client would."""
    body = json.dumps({"model": MODEL, "prompt": "a kite"})
    headers = {**gw.auth, "Content-Type": "application/json"}

    async def one(s: aiohttp.ClientSession) -> bool:
        async with s.post(f"{gw.base}/v1/images/generations", data=body, headers=headers) as r:
            if r.status != 200:
                return False
            url = (await r.json())["data"][0]["url"]
        async with s.get(url) as r:
            await r.read()
            return r.status == 200

    return one


class Tally:
    """Runs of one variant at one concurrency, merged over rounds, with the server's CPU time."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.runs: list[Run] = []
        self.cpu = 0.0

    def merged(self) -> Run:
        latencies = [x for run in self.runs for x in run.latencies]
        return Run(self.label, sum(r.ok for r in self.runs), sum(r.failed for r in self.runs),
                   sum(r.seconds for r in self.runs), latencies)

    def cpu_ms_per_request(self) -> float:
        done = sum(r.ok + r.failed for r in self.runs)
        return self.cpu / done * 1000 if done else float("nan")


async def measured(tally: Tally, pid: int | None, concurrency: int, total: int, one) -> None:  # noqa: ANN001
    before = cpu_seconds(pid) if pid else 0.0
    run = await load(tally.label, concurrency, total, one)
    if pid:
        tally.cpu += cpu_seconds(pid) - before
    tally.runs.append(run)


def top_functions(raw: Path, limit: int = 25) -> list[str]:
    """The hottest frames of the event-loop thread in a py-spy ``--threads --format raw`` file.

    Only stacks of the main thread (the event loop) count: time
    there, in Python or in a blocking system call, is time no other request is served. Prints
    own samples per frame, and inclusive samples of flow2api's frames.
    """
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = everything = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        everything += n
        frames = stack.split(";")
        if "MainThread" not in frames[0]:
            continue
        total += n
        own[frames[-1]] += n
        for frame in set(frames[1:]):
            inclusive[frame] += n
    if not total:
        return ["no samples of the event-loop thread"]
    lines = [f"{total} samples of the event-loop thread ({everything} in all threads)", "own time:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(limit)]
    lines.append("inclusive (flow2api frames):")
    ours = [(f, n) for f, n in inclusive.most_common() if "flow2api" in f and "__main__" not in f
            and "cli.py" not in f]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in ours[:limit]]
    return lines


async def profile(gw: Gateway, concurrency: int, total: int, one, out: Path) -> None:  # noqa: ANN001
    """Sample the gateway with py-spy while ``total`` requests run; print the hottest functions."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy not found: .venv/bin/pip install py-spy")
        return
    proc = await asyncio.create_subprocess_exec(
        spy, "record", "--pid", str(gw.pid), "--rate", "250", "--format", "raw", "--threads", "--output", str(out),
        "--nonblocking", "--duration", "600", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(1.0)  # py-spy attaches
    run = await load("flow2api under py-spy", concurrency, total, one)
    print(run.line())
    proc.send_signal(2)  # SIGINT: py-spy writes its output and exits
    _, err = await proc.communicate()
    if not out.exists():
        print("py-spy wrote nothing:", err.decode(errors="replace")[-500:])
        return
    print(f"profile written to {out}")
    for line in top_functions(out):
        print(line)


async def main(args: argparse.Namespace) -> None:
    levels = [int(c) for c in args.concurrency.split(",")]
    compared = dict(item.split("=", 1) for item in args.compare) if args.compare else {}
    gateways_wanted = {"flow2api": "", **compared}
    async with contextlib.AsyncExitStack() as stack:
        upstream = await stack.enter_async_context(emulator())
        proxy_base, proxy_pid = await stack.enter_async_context(passthrough(upstream, args.passthrough_loop))
        gateways: dict[str, Gateway] = {}
        for name, patches in gateways_wanted.items():
            source = Path(patches.removeprefix("tree:")) if patches.startswith("tree:") else None
            extra = f'[server]\nevent_loop = "{patches[5:]}"\n' if patches.startswith("loop:") else ""
            gateways[name] = await stack.enter_async_context(gateway(
                upstream, log_level=args.log_level, patches="" if source or extra else patches, source=source,
                extra_toml=extra))
        at, project = await direct_setup(upstream)
        variants = {
            "direct": (None, direct_call(upstream, at, project)),
            "pass-through": (proxy_pid, direct_call(upstream, at, project, via=proxy_base)),
        }
        for name, gw in gateways.items():
            variants[name] = (gw.pid, images_call(gw) if args.surface == "images" else gateway_call(gw))
        for _, one in variants.values():
            await load("warm-up", 10, 100, one)
        print(f"{args.surface} surface, log level {args.log_level}, {args.rounds} round(s) per level, "
              f"pass-through on {args.passthrough_loop}, {load_average()} at start")
        for name, patches in compared.items():
            what = (f"the checkout {patches[5:]}" if patches.startswith("tree:") else
                    f"[server] event_loop = {patches[5:]}" if patches.startswith("loop:") else
                    f"patches {patches or '(none)'} from bench/_patches.py")
            print(f"  gateway {name!r}: {what}")
        names = list(variants)
        for concurrency in levels:
            total = args.requests if concurrency > 1 else max(50, args.requests // 5)
            tallies = {name: Tally(f"{name}, c={concurrency}") for name in variants}
            for round_number in range(args.rounds):
                shift = round_number % len(names)
                for name in names[shift:] + names[:shift]:
                    pid, one = variants[name]
                    await measured(tallies[name], pid, concurrency, total, one)
            runs = {name: tallies[name].merged() for name in names}
            direct, proxy = runs["direct"], runs["pass-through"]
            print(f"--- c={concurrency}: {args.rounds} x {total} requests each ({load_average()})")
            for name, run in runs.items():
                cpu = tallies[name].cpu_ms_per_request()
                extra = f"  server CPU {cpu:5.2f} ms/req" if variants[name][0] else ""
                print(run.line() + extra)
            print(f"  pass-through / direct rps: {proxy.rps / direct.rps:.2f}x")
            for name in gateways:
                ours = runs[name]
                print(f"  {name}: rps / pass-through {ours.rps / proxy.rps:.2f}x; added p50 "
                      f"{(ours.percentile(50) - direct.percentile(50)) * 1000:+.2f} ms vs direct, "
                      f"{(ours.percentile(50) - proxy.percentile(50)) * 1000:+.2f} ms vs pass-through; p99 "
                      f"{(ours.percentile(99) - direct.percentile(99)) * 1000:+.2f} ms vs direct; server CPU "
                      f"{tallies[name].cpu_ms_per_request() / tallies['pass-through'].cpu_ms_per_request():.2f}x "
                      f"pass-through's")
        if args.profile:
            out = Path(args.profile_out)
            await profile(gateways["flow2api"], args.profile_concurrency, args.requests, variants["flow2api"][1], out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per run at c>1 (default 1000; c=1 runs a fifth)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per concurrency level (default 2)")
    parser.add_argument("--concurrency", default="1,50,200", help="comma-separated client counts (default 1,50,200)")
    parser.add_argument("--log-level", default="INFO", help="gateway [logging] level (default INFO, as shipped)")
    parser.add_argument("--surface", choices=("chat", "images"), default="chat", help="flow2api endpoint (default chat)")
    parser.add_argument("--compare", action="append", metavar="NAME=PATCHES|tree:PATH|loop:LOOP",
                        help="another gateway: with bench/_patches.py patches (comma-separated), run from "
                             "another checkout (tree:PATH, e.g. a git worktree of an older commit), or on another "
                             "event loop (loop:asyncio, loop:uvloop); repeatable")
    parser.add_argument("--passthrough-loop", choices=("uvloop", "asyncio"), default=default_loop(),
                        help="event loop of the pass-through (default: what the gateway's [server] event_loop = "
                             "\"auto\" picks, uvloop when installed)")
    parser.add_argument("--profile", action="store_true", help="also profile the gateway with py-spy")
    parser.add_argument("--profile-concurrency", type=int, default=50, help="clients of the profiled run (default 50)")
    parser.add_argument("--profile-out", default=f"/tmp/flow2api-hot-path-{int(time.time())}.txt",
                        help="py-spy raw output file")
    asyncio.run(main(parser.parse_args()))
