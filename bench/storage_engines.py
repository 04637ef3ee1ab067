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
from _harness import emulator, gateway  # noqa: E402
from cpu_per_image_backends import arguments, compare, tree_cpu  # noqa: E402

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
            await compare(engines, {"PostgreSQL's own processes": lambda: tree_cpu(server.pid)}, args)
    finally:
        server.stop()


if __name__ == "__main__":
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--synchronous-commit", choices=("on", "off"), default="on",
                        help="PostgreSQL's synchronous_commit (default on; off is what SQLite's synchronous=NORMAL "
                             "in WAL mode promises: no corruption, the last commits may be lost in a power cut)")
    asyncio.run(main(parser.parse_args()))
