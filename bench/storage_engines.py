"""Benchmark: server CPU per image request with the storage on PostgreSQL versus SQLite (issue 17).

Two ``flow2api serve`` processes on the same VideoFX emulator, identical but
for ``[storage] url``: one on the SQLite file of its data dir (the default),
one on a PostgreSQL server this script starts (``initdb`` + ``pg_ctl`` from
``flow2api.testing.postgres``, durable defaults: ``fsync`` and
``synchronous_commit`` on, or ``--synchronous-commit off``). Each concurrency level runs both for ``--rounds``
rounds (order rotated, so drift in machine load hits both alike) through
``/v1/images/generations`` plus the image fetch (``bench/hot_path.py``'s
``images_call``), and prints requests/s, p50/p99 latency, the CPU time each
server process spent per request (``/proc/<pid>/stat``) and the ratio
PostgreSQL / SQLite (target ≤ 1.3×). The PostgreSQL server's own CPU is
printed beside it: it is work SQLite does inside the gateway's process.

Run: ``.venv/bin/python bench/storage_engines.py [--requests 600] [--rounds 3] [--concurrency 1,50]
[--synchronous-commit on|off]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import emulator, gateway, load, load_average  # noqa: E402
from hot_path import Tally, cpu_seconds, images_call, measured  # noqa: E402

from flow2api.testing.postgres import find_bin_dir, start_postgres  # noqa: E402


async def main(args: argparse.Namespace) -> None:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    server = start_postgres(bin_dir, durable=True, options=f"-c synchronous_commit={args.synchronous_commit}")
    try:
        url = server.create_database("flow2api_bench")
        async with contextlib.AsyncExitStack() as stack:
            upstream = await stack.enter_async_context(emulator())
            engines = {
                "sqlite": await stack.enter_async_context(gateway(upstream, log_level=args.log_level)),
                "postgresql": await stack.enter_async_context(gateway(
                    upstream, log_level=args.log_level, extra_toml=f'[storage]\nurl = "{url}"\n')),
            }
            calls = {name: images_call(gw) for name, gw in engines.items()}
            for one in calls.values():
                await load("warm-up", 10, 100, one)
            print(f"images surface, {args.rounds} round(s) per level, {load_average()} at start")
            names = list(engines)
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                total = args.requests if concurrency > 1 else max(50, args.requests // 5)
                tallies = {name: Tally(f"{name}, c={concurrency}") for name in names}
                postgres_cpu = 0.0
                for round_number in range(args.rounds):
                    shift = round_number % len(names)
                    for name in names[shift:] + names[:shift]:
                        before = cpu_seconds(server.pid) + _children_cpu(server.pid)
                        await measured(tallies[name], engines[name].pid, concurrency, total, calls[name])
                        if name == "postgresql":
                            postgres_cpu += cpu_seconds(server.pid) + _children_cpu(server.pid) - before
                print(f"--- c={concurrency}: {args.rounds} x {total} requests each ({load_average()})")
                for name in names:
                    print(f"{tallies[name].merged().line()}  server CPU {tallies[name].cpu_ms_per_request():5.2f} ms/req")
                done = sum(r.ok + r.failed for r in tallies["postgresql"].runs)
                ratio = tallies["postgresql"].cpu_ms_per_request() / tallies["sqlite"].cpu_ms_per_request()
                print(f"  gateway CPU per request, postgresql / sqlite: {ratio:.2f}x; PostgreSQL's own processes "
                      f"{postgres_cpu / done * 1000:.2f} ms/req")
    finally:
        server.stop()


def _children_cpu(pid: int) -> float:
    """CPU seconds of the postmaster's children (the backends: one per connection, checkpointer, WAL writer)."""
    total = 0.0
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                total += cpu_seconds(int(child))
    return total


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600, help="requests per run at c>1 (default 600)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per concurrency level (default 3)")
    parser.add_argument("--concurrency", default="1,50", help="comma-separated client counts (default 1,50)")
    parser.add_argument("--synchronous-commit", choices=("on", "off"), default="on",
                        help="PostgreSQL's synchronous_commit (default on; off is what SQLite's synchronous=NORMAL "
                             "in WAL mode promises: no corruption, the last commits may be lost in a power cut)")
    parser.add_argument("--log-level", default="INFO", help="gateway [logging] level (default INFO, as shipped)")
    asyncio.run(main(parser.parse_args()))
