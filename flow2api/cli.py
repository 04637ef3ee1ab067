"""The ``flow2api`` command line: ``serve``, ``demo``, ``accounts add|list|import|export|enable|disable|edit|delete|refresh``, ``keys create|list|revoke``, ``db upgrade|copy``, ``models check``, ``import-original``.

``serve`` starts the server; when ``[demo] auto`` is on and no account is
stored yet, it runs in demo mode, like ``demo``: each installed family's
bundled emulator is started on loopback, the family's settings point at it,
a demo account is added, and the data lives in ``<data_dir>/demo`` so real
data is never mixed with it. The ``accounts`` and ``keys`` subcommands live in
:mod:`flow2api.commands`. Exit codes: 0 ok, 1 runtime failure, 2 bad
settings, catalog or arguments. ``models check`` exits 2 when the file has
errors and 1 when it only has warnings (a route's provider is not installed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TextIO

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from flow2api import __version__
from flow2api.admin.store import ADMIN_STORE, AdminLogin
from flow2api.catalog import CatalogError, catalog_path, load_catalog
from flow2api.clientkey import ClientKey, settle_client_key
from flow2api.commands import (
    ACCOUNT_COLUMNS, add_account, count_accounts, db_command, import_original_command, keys_command, list_accounts,
    manage_account,
)
from flow2api.errors import Flow2APIError
from flow2api.logs import configure_logging, end_startup
from flow2api.serving import GuardedAppRunner, return_large_blocks, socket_timeouts
from flow2api.settings import Settings, SettingsError, load_settings
from flow2api.startup import BannerFacts, banner, demo_outcome, prepare, prepare_demo

log = logging.getLogger("flow2api")
DEFAULT_ADMIN_PASSWORD = "admin"  # [global] admin_password's default (flow2api.settings)


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    server: dict[str, object] = {}
    if getattr(args, "host", None):
        server["host"] = args.host
    if getattr(args, "port", None) is not None:
        server["port"] = args.port
    storage = {"data_dir": args.data_dir} if getattr(args, "data_dir", None) else {}
    if server or storage:
        settings = settings.with_overrides(origin="command line", server=server, storage=storage)
    return settings


def _key_line(key: ClientKey) -> str:
    if key.origin == "generated":
        return f"{key.value}   (generated now and kept in {key.path}; it is not shown again)"
    if key.origin == "stored":
        return f"the key in {key.path} (generated on the first start; or create one: flow2api keys create)"
    return f"[global] api_key, set in {key.source}"


def _admin_login(settings: Settings, login: AdminLogin | None) -> str:
    username = settings.global_.admin_username
    if login is None or login.must_change:
        default = settings.global_.admin_password.get_secret_value() == DEFAULT_ADMIN_PASSWORD
        password = f"password {DEFAULT_ADMIN_PASSWORD!r}" if default else "the password in [global] admin_password"
        return f"login {username!r} with {password} (you will be asked to change it)"
    return f"login {login.username!r} (its password was changed in the admin site)"


async def run_server(settings: Settings, *, demo: bool | None, out: TextIO | None = None) -> None:
    """Serve until SIGINT/SIGTERM; ``demo=None`` means "demo when ``[demo] auto`` and no account is stored".

    The start-up sequence is :mod:`flow2api.startup`'s; the client key is settled
    (:mod:`flow2api.clientkey`) and the banner written to ``out`` (stdout) once the
    server listens. SIGHUP reloads the model catalog. Raises ``SystemExit`` with one
    line when the address cannot be bound (a port in use).
    """
    from flow2api.app import create_app  # only the CLI and tests import the app factory
    from flow2api.catalog import CATALOG

    return_large_blocks()
    accounts = await count_accounts(settings)
    data_dir = settings.storage.data_dir
    if demo is None:
        demo = settings.demo.auto and accounts == 0
        reason = (f"no account is stored in {data_dir} and [demo] auto is on; add one with `flow2api accounts add`"
                  if demo else f"{accounts} account(s) in {data_dir}")
    else:
        reason = "started with `flow2api demo`" if demo else f"{accounts} account(s) in {data_dir}, demo mode off"
    if not demo and accounts == 0:
        log.warning("no account is stored in %s and demo mode is off: every generation will fail with 503 until one "
                    "is added (flow2api accounts add), or start without --no-demo to try the bundled emulator", data_dir)
    async with contextlib.AsyncExitStack() as stack:
        prepared = await prepare_demo(settings, stack) if demo else prepare(settings)
        demo, reason = demo_outcome(demo, reason, prepared)
        # The generated key lives in the base data directory, so the demo's key keeps working afterwards.
        settings, key = settle_client_key(prepared.settings, data_dir)
        app = create_app(settings, providers=prepared.providers, demo_accounts=prepared.demo_accounts,
                         workflows=prepared.workflows)
        # handler_cancellation: a client that goes away ends its handler (and releases its lease) at once.
        runner = GuardedAppRunner(app, timeouts=socket_timeouts(settings), access_log=None, handle_signals=False,
                                  handler_cancellation=True)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        host, port = settings.server.host, settings.server.port
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            problem = "is already in use (another flow2api?)" if exc.errno == errno.EADDRINUSE else f"cannot be used: {exc.strerror}"
            raise SystemExit(f"error: {host}:{port} {problem}; choose another with --port or [server] port") from None
        port = runner.addresses[0][1] if runner.addresses else port
        log.info("flow2api %s listening on http://%s:%d%s", __version__, host, port, " (demo mode)" if demo else "")
        facts = BannerFacts(__version__, host, port, demo, reason, _key_line(key), _admin_login(settings, app[ADMIN_STORE].login))
        (out or sys.stdout).write(banner(facts))
        (out or sys.stdout).flush()
        end_startup()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # Parsed in a worker thread, so a reload does not stall requests being served.
        loop.add_signal_handler(signal.SIGHUP, app[CATALOG].request_reload)
        await stop.wait()
        log.info("shutting down")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flow2api", description="OpenAI-compatible gateway for Google Flow.")
    parser.add_argument("--version", action="version", version=f"flow2api {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, server: bool = False) -> None:
        p.add_argument("--config", help="settings file (default: $FLOW2API_CONFIG or config/flow2api.toml if present)")
        p.add_argument("--data-dir", help="data directory (default: data)")
        p.add_argument("-v", "--verbose", action="store_true", help="show log lines (serve always logs)")
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
    add.add_argument("--st", help="labs.google session token; '-' reads it from stdin (keeps it out of ps and history)")
    add.add_argument("--st-file", metavar="PATH", help="read the session token from a file (first line)")
    add.add_argument("--cookies", metavar="FILE",
                     help="flowweb family: cookies.txt (Netscape) or JSON cookie export of a flow.google.com tab")
    add.add_argument("--email", help="flowweb family: the account's e-mail, when the Flow page does not name it")
    add.add_argument("--proxy", help="per-account proxy URL (http://, socks5://, socks5h://)")
    add.add_argument("--remark", default="", help="free-text note")
    lst = accounts.add_parser("list", help="list accounts (secrets masked)")
    common(lst)
    imp = accounts.add_parser("import", help="import accounts from a JSON file (original flow2api format accepted)")
    common(imp)
    imp.add_argument("file")
    exp = accounts.add_parser("export", help="export accounts as JSON (credentials only with --with-secrets)")
    common(exp)
    exp.add_argument("--with-secrets", action="store_true", help="include session tokens and proxy URLs")
    exp.add_argument("-o", "--output", help="write to this file instead of standard output")
    for action, text in (("enable", "enable (clears a ban)"), ("disable", "disable"), ("delete", "delete"),
                         ("refresh", "refresh the access token, credits and tier now")):
        one = accounts.add_parser(action, help=f"{text} one account")
        common(one)
        one.add_argument("id", type=int)
    edit = accounts.add_parser("edit", help="change an account's settings")
    common(edit)
    edit.add_argument("id", type=int)
    edit.add_argument("--remark")
    edit.add_argument("--proxy", help="proxy URL, or an empty string for none")
    edit.add_argument("--image-concurrency", type=int, help="-1 = unlimited")
    edit.add_argument("--video-concurrency", type=int, help="-1 = unlimited")
    edit.add_argument("--image", action=argparse.BooleanOptionalAction, help="serve image requests")
    edit.add_argument("--video", action=argparse.BooleanOptionalAction, help="serve video requests")

    keys = sub.add_parser("keys", help="manage client API keys").add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="create a key (printed once)")
    common(create)
    create.add_argument("--name", required=True, help="who or what the key is for")
    create.add_argument("--rpm", type=int, default=0, help="requests per minute (0 = unlimited)")
    create.add_argument("--concurrency", type=int, default=0, help="requests at once (0 = unlimited)")
    create.add_argument("--models", help="comma-separated model ids the key may use (default: all)")
    create.add_argument("--expires", help="expiry: 2027-01-31, an ISO timestamp, or a duration like 30d")
    common(keys.add_parser("list", help="list keys (never the keys themselves)"))
    revoke = keys.add_parser("revoke", help="delete a key")
    common(revoke)
    revoke.add_argument("id", type=int)

    db = sub.add_parser("db", help="the database ([storage] url)").add_subparsers(dest="action", required=True)
    common(db.add_parser("upgrade", help="apply pending schema migrations (serve does it too)"))
    copy = db.add_parser("copy", help="copy every table into an empty database (e.g. SQLite to PostgreSQL)")
    common(copy)
    copy.add_argument("--from", dest="source",
                      help="source database URL (default: the SQLite file of the data dir); a password may come "
                           "from PGPASSWORD instead of the URL")
    copy.add_argument("--to", dest="target", help="target database URL (default: [storage] url)")

    original = sub.add_parser("import-original", help="import the original flow2api's data/flow.db (docs/migrating.md)")
    common(original)
    original.add_argument("path", help="the original's data/flow.db (opened read-only)")
    original.add_argument("--check", action="store_true",
                          help="check each session token with labs.google now (default: on first use)")

    models = sub.add_parser("models", help="model catalog").add_subparsers(dest="action", required=True)
    check = models.add_parser("check", help="validate a catalog file against the installed providers")
    check.add_argument("path", nargs="?", help="catalog file (default: [catalog] path, else ./models.yaml, else the shipped one)")
    check.add_argument("--config", help="settings file")
    return parser


def event_loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The loop factory for ``[server] event_loop``: uvloop's for ``uvloop`` (and ``auto`` when it is installed),
    else ``None`` (asyncio's default loop). Raises ``SystemExit`` when ``uvloop`` is asked for but missing.

    uvloop runs the gateway's event loop and socket I/O in C: about 7 % less CPU per generated image at
    50 clients (docs/performance.md); every part of flow2api works on both loops.
    """
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise SystemExit("[server] event_loop = \"uvloop\" but uvloop is not installed (pip install uvloop)") from None
        return None
    return uvloop.new_event_loop


Command = Callable[[Settings, argparse.Namespace, TextIO], int]


def _serve(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    demo = True if args.command == "demo" else (False if args.no_demo else None)
    with asyncio.Runner(loop_factory=event_loop_factory(settings.server.event_loop)) as runner:
        runner.run(run_server(settings, demo=demo, out=out))
    return 0


def _accounts_add(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    if args.cookies:  # the cookie file's text is the credential (flowweb); it is parsed by the family
        try:
            credentials = {"cookies": Path(args.cookies).read_text(encoding="utf-8")}
        except OSError as exc:
            sys.stderr.write(f"error: cannot read {args.cookies}: {exc.strerror}\n")
            return 2
        if args.email:
            credentials["email"] = args.email
    elif args.st or args.st_file:
        try:
            raw = sys.stdin.readline() if args.st == "-" else (
                Path(args.st_file).read_text(encoding="utf-8") if args.st_file else args.st)
        except OSError as exc:
            sys.stderr.write(f"error: cannot read {args.st_file}: {exc.strerror}\n")
            return 2
        credentials = {"st": raw.strip()}
    else:
        out.write("flow2api accounts add: --st (videofx) or --cookies FILE (flowweb) is required\n")
        return 2
    fields = {k: v for k, v in {"proxy_url": args.proxy, "remark": args.remark}.items() if v}
    out.write(asyncio.run(add_account(settings, args.family, credentials, **fields)) + "\n")
    return 0


def _lines(run: Callable[[Settings, argparse.Namespace], Awaitable[list[str]]], header: str = "") -> Command:
    """A command whose coroutine returns the lines to print (after ``header``, when given)."""

    def command(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
        lines = asyncio.run(run(settings, args))
        out.write("".join(f"{line}\n" for line in ([header] if header else []) + lines))
        return 0

    return command


def _models_check(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    path = Path(args.path) if args.path else catalog_path(settings.catalog.path)
    catalog = load_catalog(path, prepare(settings).providers)
    for warning in catalog.warnings:
        out.write(f"warning: {warning}\n")
    out.write(
        f"{path}: {len(catalog.entries)} models, {len(catalog.aliases)} aliases, digest {catalog.digest}"
        f"{f', {len(catalog.warnings)} warning(s)' if catalog.warnings else ''}\n"
    )
    return 1 if catalog.warnings else 0


# (command, action) → handler; ``None`` matches any action of the command.
COMMANDS: dict[tuple[str, str | None], Command] = {
    ("serve", None): _serve,
    ("demo", None): _serve,
    ("accounts", "add"): _accounts_add,
    ("accounts", "list"): _lines(lambda s, _a: list_accounts(s), "\t".join(ACCOUNT_COLUMNS)),
    ("accounts", None): _lines(manage_account),
    ("keys", None): _lines(keys_command),
    ("db", None): _lines(db_command),
    ("models", "check"): _models_check,
    ("import-original", None): _lines(import_original_command),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flow2api`` console script and ``python -m flow2api``; returns the exit code
    (see the module docstring)."""
    args = _parser().parse_args(argv)
    # Operator commands print their result and nothing else unless -v: their log lines (settings loaded,
    # providers built, a solver not configured) are about the server, not the command.
    quiet = args.command not in ("serve", "demo") and not getattr(args, "verbose", False)
    configure_logging("ERROR" if quiet else "INFO")
    action = getattr(args, "action", None)
    command = COMMANDS.get((args.command, action)) or COMMANDS[(args.command, None)]
    try:
        settings = _settings(args)
        configure_logging("ERROR" if quiet else settings.logging.level, settings.server.instance_id)
        return command(settings, args, sys.stdout)
    except (SettingsError, CatalogError) as exc:
        problems = exc.problems if isinstance(exc, CatalogError) else [str(exc)]
        for problem in problems:
            sys.stderr.write(f"error: {problem}\n")
        return 2
    except Flow2APIError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 1
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyError as exc:
        sys.stderr.write(f"error: no account {exc.args[0]}\n")
        return 2
    except SQLAlchemyError as exc:  # the database is unreachable, or refused a statement
        sys.stderr.write(f"error: database: {describe(exc)}\n")
        return 1
    except KeyboardInterrupt:
        return 0
