"""Benchmark: server CPU per image request on PostgreSQL + Redis versus SQLite + in-process (issue 17).

Two ``flow2api serve`` processes on the same VideoFX emulator (``bench/_harness.py``), identical but for
their backends:

* **sqlite + in-process** — the defaults: the SQLite file of the data dir, slots and limits counted in the
  process (``[coordination] redis_url`` empty);
* **postgresql + redis** — ``[storage] url`` on a PostgreSQL server and ``[coordination] redis_url`` on a
  ``redis-server``, both started by this script through ``flow2api.testing`` (``initdb`` + ``pg_ctl`` with
  durable defaults — ``fsync`` and ``synchronous_commit`` on — and ``redis-server`` without persistence),
  the multi-instance deployment of docs/deployment.md with one instance.

Each concurrency level runs both for ``--rounds`` rounds (order rotated, so drift in machine load hits both
alike) through ``/v1/images/generations`` plus the image fetch (``bench/hot_path.py``'s ``images_call``), and
prints requests/s, p50/p99 latency, the CPU time each gateway process spent per request (``/proc/<pid>/stat``)
and the ratio (target ≤ 1.3×). The backends' own CPU (PostgreSQL's processes, redis-server) is printed beside
it: that is work SQLite and the in-process counters do inside the gateway.

Run: ``.venv/bin/python bench/cpu_per_image_backends.py [--requests 600] [--rounds 3] [--concurrency 1,50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Gateway, emulator, gateway, load, load_average  # noqa: E402
from hot_path import Tally, cpu_seconds, images_call, measured  # noqa: E402

from flow2api.testing.postgres import find_bin_dir, start_postgres  # noqa: E402
from flow2api.testing.redis import find_redis_server, start_redis  # noqa: E402


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its direct children (PostgreSQL's postmaster and its backends, checkpointer,
    WAL writer; a dead child's seconds are lost, so the backends are kept alive by the gateway's pool)."""
    total = cpu_seconds(pid)
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                total += cpu_seconds(int(child))
    return total


async def compare(engines: Mapping[str, Gateway], backends: Mapping[str, Callable[[], float]],
                  args: argparse.Namespace) -> None:
    """Load each of ``engines`` (label → gateway; the first is the baseline) in rotated rounds per concurrency
    level of ``args``; print each one's line, gateway CPU ms per request, the ratio of the last to the first,
    and the CPU ms per request of the last one's ``backends`` (label → CPU seconds so far)."""
    calls = {name: images_call(gw) for name, gw in engines.items()}
    for one in calls.values():
        await load("warm-up", 10, 100, one)
    print(f"images surface, {args.rounds} round(s) per level, {load_average()} at start")
    names = list(engines)
    base, other = names[0], names[-1]
    for concurrency in (int(c) for c in args.concurrency.split(",")):
        total = args.requests if concurrency > 1 else max(50, args.requests // 5)
        tallies = {name: Tally(f"{name}, c={concurrency}") for name in names}
        spent = dict.fromkeys(backends, 0.0)
        for round_number in range(args.rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                before = {label: read() for label, read in backends.items()}
                await measured(tallies[name], engines[name].pid, concurrency, total, calls[name])
                if name == other:
                    for label, read in backends.items():
                        spent[label] += read() - before[label]
        print(f"--- c={concurrency}: {args.rounds} x {total} requests each ({load_average()})")
        for name in names:
            print(f"{tallies[name].merged().line()}  server CPU {tallies[name].cpu_ms_per_request():5.2f} ms/req")
        done = sum(r.ok + r.failed for r in tallies[other].runs)
        ratio = tallies[other].cpu_ms_per_request() / tallies[base].cpu_ms_per_request()
        own = "; ".join(f"{label} {seconds / done * 1000:.2f} ms/req" for label, seconds in spent.items())
        print(f"  gateway CPU per request, {other} / {base}: {ratio:.2f}x (target <= 1.3x); its backends: {own}")


async def main(args: argparse.Namespace) -> None:
    bin_dir, redis_binary = find_bin_dir(), find_redis_server()
    if bin_dir is None or redis_binary is None:
        raise SystemExit("PostgreSQL (initdb, pg_ctl) or redis-server not found: apt-get install postgresql redis-server")
    postgres = start_postgres(bin_dir, durable=True)
    redis = start_redis(redis_binary)
    try:
        url = postgres.create_database("flow2api_bench")
        shared = f'[storage]\nurl = "{url}"\n[coordination]\nredis_url = "{redis.url(0)}"\n'
        async with contextlib.AsyncExitStack() as stack:
            upstream = await stack.enter_async_context(emulator())
            engines = {
                "sqlite + in-process": await stack.enter_async_context(gateway(upstream, log_level=args.log_level)),
                "postgresql + redis": await stack.enter_async_context(
                    gateway(upstream, log_level=args.log_level, extra_toml=shared)),
            }
            await compare(engines, {"PostgreSQL": lambda: tree_cpu(postgres.pid),
                                    "redis-server": lambda: cpu_seconds(redis.pid)}, args)
    finally:
        redis.stop()
        postgres.stop()


def arguments(description: str) -> argparse.ArgumentParser:
    """The options every backend comparison takes (``--requests``, ``--rounds``, ``--concurrency``, ``--log-level``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--requests", type=int, default=600, help="requests per run at c>1 (default 600)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per concurrency level (default 3)")
    parser.add_argument("--concurrency", default="1,50", help="comma-separated client counts (default 1,50)")
    parser.add_argument("--log-level", default="INFO", help="gateway [logging] level (default INFO, as shipped)")
    return parser


if __name__ == "__main__":
    asyncio.run(main(arguments(__doc__.splitlines()[0]).parse_args()))
