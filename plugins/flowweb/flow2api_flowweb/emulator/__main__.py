"""``python -m flow2api_flowweb.emulator --port 8766 [--host 127.0.0.1] [--demo-account]``: serve the emulator."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from .app import FlowWebEmulator, serve

log = logging.getLogger("flow2api_flowweb.emulator")


async def _main(host: str, port: int, demo: bool) -> None:
    emulator = FlowWebEmulator()
    if demo:
        account = emulator.add_account("demo@flow2api.local", tier=2, credits=1_000_000)
        sys.stdout.write(account.cookies_txt())
    async with serve(emulator, host, port) as base:
        log.info("flow.google.com emulator on %s (batchexecute at %s/_/AiSandboxAngularFrontend/data/batchexecute)",
                 base, base)
        await asyncio.Event().wait()


def main() -> None:
    """Parse the arguments and serve until interrupted; ``--demo-account`` prints its cookies.txt to stdout."""
    parser = argparse.ArgumentParser(prog="python -m flow2api_flowweb.emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--demo-account", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        asyncio.run(_main(args.host, args.port, args.demo_account))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
