"""``python -m flow2api_videofx.emulator --port N [--host 127.0.0.1] [--demo-account]``.

Serves the emulator until interrupted. Logs exactly one line (the URL and the base URLs to
configure); ``--demo-account`` seeds `DEMO_EMAIL` with the documented `DEMO_ST`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from aiohttp import web

from .app import EmulatorURLs, FlowEmulator
from .settings import demo_account

logger = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m flow2api_videofx.emulator",
                                     description="Serve the Google Labs Flow (VideoFX) emulator.")
    parser.add_argument("--port", type=int, required=True, help="TCP port (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--demo-account", action="store_true",
                        help="seed demo@flow2api.local with the documented DEMO_ST")
    return parser.parse_args(argv)


async def serve(host: str, port: int, demo: bool) -> None:
    emulator = FlowEmulator(accounts=[demo_account()] if demo else None)
    runner = web.AppRunner(emulator.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = runner.addresses[0][1] if runner.addresses else port
    urls = EmulatorURLs.for_base(f"http://{host}:{bound_port}")
    logger.info("Flow emulator listening on %s (labs_base_url=%s api_base_url=%s solver=%s%s)", urls.base,
                urls.labs_base_url, urls.api_base_url, urls.solver_base_url,
                " demo account demo@flow2api.local" if demo else "")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logger.setLevel(logging.INFO)
    try:
        asyncio.run(serve(args.host, args.port, args.demo_account))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
