"""The ``flow2api`` command line: ``serve``, ``demo``, ``accounts add|list``, ``models check``.

``serve`` starts the server; when ``[demo] auto`` is on and no account is
stored yet, it runs in demo mode, like ``demo``: each installed family's
bundled emulator is started on loopback, the family's settings point at it,
a demo account is added, and the data lives in ``<data_dir>/demo`` so real
data is never mixed with it. Exit codes: 0 ok, 1 runtime failure, 2 bad
settings, catalog or arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from flow2api import __version__
from flow2api.catalog import CatalogError, load_catalog
from flow2api.discovery import build_providers, families_of, installed_factories
from flow2api.errors import Flow2APIError
from flow2api.logs import configure_logging
from flow2api.pool import AccountPool
from flow2api.proxies import HttpSessions
from flow2api.settings import Settings, SettingsError, SettingsHolder, load_settings
from flow2api.storage import Database, SecretBox, load_or_create_key
from flow2api.storage.accounts import AccountRepository
from flow2api.storage.crypto import mask

log = logging.getLogger("flow2api")


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    server: dict[str, object] = {}
    if getattr(args, "host", None):
        server["host"] = args.host
    if getattr(args, "port", None) is not None:
        server["port"] = args.port
    storage = {"data_dir": args.data_dir} if getattr(args, "data_dir", None) else {}
    if server or storage:
        settings = settings.with_overrides(server=server, storage=storage)
    return settings


@contextlib.asynccontextmanager
async def _account_pool(settings: Settings):  # noqa: ANN202 - yields an AccountPool
    providers = build_providers(settings, installed_factories())
    data_dir = settings.storage.data_dir
    secret = settings.storage.secret_key.get_secret_value() if settings.storage.secret_key else None
    database = Database(data_dir / "flow2api.db")
    http = HttpSessions()
    await database.open()
    try:
        repo = AccountRepository(database, SecretBox(load_or_create_key(data_dir, secret)))
        pool = AccountPool(repo, settings=SettingsHolder(settings), families=families_of(providers), http=http)
        await pool.load()
        yield pool
    finally:
        await http.close()
        await database.close()


async def count_accounts(settings: Settings) -> int:
    """How many accounts the data directory holds (creates the database if missing)."""
    database = Database(settings.storage.data_dir / "flow2api.db")
    await database.open()
    try:
        async with database.conn.execute("SELECT COUNT(*) FROM accounts") as cur:
            (count,) = await cur.fetchone()
        return count
    finally:
        await database.close()


async def run_server(settings: Settings, *, demo: bool | None) -> None:
    """Serve until SIGINT/SIGTERM; ``demo=None`` means "demo when ``[demo] auto`` and no account is stored".

    SIGHUP reloads the model catalog.
    """
    from flow2api.app import create_app  # only the CLI and tests import the app factory

    factories = installed_factories()
    providers = build_providers(settings, factories)
    if demo is None:
        demo = settings.demo.auto and await count_accounts(settings) == 0
        if demo:
            log.warning("no Google account is configured: starting in demo mode against the bundled emulator")
    async with contextlib.AsyncExitStack() as stack:
        demo_accounts = []
        if demo:
            settings = settings.with_overrides(storage={"data_dir": str(settings.storage.data_dir / "demo")})
            overrides: dict[str, dict] = {}
            for family in families_of(providers).values():
                upstream = family.demo_upstream(settings.storage.data_dir)
                if upstream is None:
                    continue
                started = await stack.enter_async_context(upstream)
                for section, values in started.sections.items():
                    overrides.setdefault(section, {}).update(values)
                demo_accounts.append((family.name, started.credentials))
            settings = settings.with_plugin_sections(overrides)
            providers = build_providers(settings, factories)
        app = create_app(settings, providers=providers, demo_accounts=demo_accounts)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.server.host, settings.server.port)
        await site.start()
        log.info(
            "flow2api %s listening on http://%s:%d%s", __version__, settings.server.host, settings.server.port,
            " (demo mode)" if demo else "",
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        from flow2api.keys import CATALOG

        loop.add_signal_handler(signal.SIGHUP, app[CATALOG].reload)
        await stop.wait()
        log.info("shutting down")


async def add_account(settings: Settings, family: str, credentials: dict[str, str], **fields: object) -> str:
    """Check and store one account; returns a one-line summary without secrets."""
    async with _account_pool(settings) as pool:
        record = await pool.add(family, credentials, **fields)
    return f"account {record.id} ({record.family}) {record.email}: tier {record.tier}, credits {record.credits}"


async def list_accounts(settings: Settings) -> list[str]:
    """One line per stored account, secrets masked."""
    async with _account_pool(settings) as pool:
        lines = []
        for r in pool.records():
            state = "enabled" if r.enabled else f"disabled ({r.ban_reason or 'by operator'})"
            secret = mask(next(iter(r.secrets.values()), ""))
            lines.append(f"{r.id}\t{r.family}\t{r.email}\t{r.tier or '-'}\t{r.credits if r.credits is not None else '-'}\t{state}\t{secret}")
        return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flow2api", description="OpenAI-compatible gateway for Google Flow.")
    parser.add_argument("--version", action="version", version=f"flow2api {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, server: bool = False) -> None:
        p.add_argument("--config", help="settings file (default: $FLOW2API_CONFIG or config/flow2api.toml if present)")
        p.add_argument("--data-dir", help="data directory (default: data)")
        if server:
            p.add_argument("--host", help="listen address (default 127.0.0.1)")
            p.add_argument("--port", type=int, help="listen port (default 8000)")

    serve = sub.add_parser("serve", help="run the server (demo mode when no account is configured)")
    common(serve, server=True)
    serve.add_argument("--no-demo", action="store_true", help="never fall back to demo mode")
    demo = sub.add_parser("demo", help="run the server against the bundled emulators with a demo account")
    common(demo, server=True)

    accounts = sub.add_parser("accounts", help="manage pool accounts").add_subparsers(dest="action", required=True)
    add = accounts.add_parser("add", help="add (or update) an account by its credential")
    common(add)
    add.add_argument("--family", default="videofx", help="account family (default videofx)")
    add.add_argument("--st", help="labs.google session token (__Secure-next-auth.session-token)")
    add.add_argument("--proxy", help="per-account proxy URL (http://, socks5://, socks5h://)")
    add.add_argument("--remark", default="", help="free-text note")
    lst = accounts.add_parser("list", help="list accounts (secrets masked)")
    common(lst)

    models = sub.add_parser("models", help="model catalog").add_subparsers(dest="action", required=True)
    check = models.add_parser("check", help="validate a catalog file against the installed providers")
    check.add_argument("path", nargs="?", help="catalog file (default: [catalog] path, models.yaml)")
    check.add_argument("--config", help="settings file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flow2api`` console script and ``python -m flow2api``; returns the exit code."""
    args = _parser().parse_args(argv)
    configure_logging("INFO")
    out = sys.stdout
    try:
        settings = _settings(args)
        configure_logging(settings.logging.level)
        if args.command in ("serve", "demo"):
            demo = True if args.command == "demo" else (False if args.no_demo else None)
            asyncio.run(run_server(settings, demo=demo))
        elif args.command == "accounts" and args.action == "add":
            if not args.st:
                out.write("flow2api accounts add: --st is required for the videofx family\n")
                return 2
            fields = {k: v for k, v in {"proxy_url": args.proxy, "remark": args.remark}.items() if v}
            out.write(asyncio.run(add_account(settings, args.family, {"st": args.st}, **fields)) + "\n")
        elif args.command == "accounts" and args.action == "list":
            out.write("id\tfamily\temail\ttier\tcredits\tstate\tsecret\n")
            for line in asyncio.run(list_accounts(settings)):
                out.write(line + "\n")
        elif args.command == "models" and args.action == "check":
            path = Path(args.path) if args.path else settings.catalog.path
            providers = build_providers(settings, installed_factories())
            catalog = load_catalog(path, providers)
            for warning in catalog.warnings:
                out.write(f"warning: {warning}\n")
            out.write(f"{path}: {len(catalog.entries)} models, digest {catalog.digest}\n")
            return 1 if catalog.warnings else 0
    except (SettingsError, CatalogError) as exc:
        problems = exc.problems if isinstance(exc, CatalogError) else [str(exc)]
        for problem in problems:
            sys.stderr.write(f"error: {problem}\n")
        return 2
    except Flow2APIError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
