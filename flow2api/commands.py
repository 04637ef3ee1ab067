"""The operator subcommands of the CLI: ``accounts …``, ``keys …`` and ``db …``, run directly on the database.

They open the database themselves (no server needs to be running) and return
the lines the CLI prints; ``flow2api.cli`` parses arguments and calls them.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from flow2api.coordination import create_coordinator
from flow2api.discovery import families_of
from flow2api.pool import AccountPool
from flow2api.proxies import HttpSessions, redact_proxy
from flow2api.settings import Settings, SettingsHolder
from flow2api.storage import Database, SecretBox, database_url, load_or_create_key
from flow2api.storage.accounts import AccountRepository
from flow2api.startup import DEMO_DIR, prepare
from flow2api.storage.crypto import mask
from flow2api.storage.stats import StatsRepository


async def count_accounts(settings: Settings) -> int:
    """How many accounts the data directory holds (creates the database if missing)."""
    database = Database(database_url(settings.storage))
    await database.open()
    try:
        return await StatsRepository(database).account_count()
    finally:
        await database.close()


async def served_settings(settings: Settings) -> tuple[Settings, bool]:
    """The settings of the data directory ``flow2api serve`` would serve, and whether that is demo mode.

    Issue 19 item 2: ``serve`` runs the demo from ``<data_dir>/demo`` while
    ``[demo] auto`` is on and ``<data_dir>`` holds no account, so the ``keys``
    commands work there too (a key created then is the one the demo accepts).
    The ``accounts`` commands always work on ``<data_dir>``: a real account
    belongs with the real data, and adding one ends demo mode at the next start.
    """
    if settings.demo.auto and await count_accounts(settings) == 0:
        demo_dir = str(settings.storage.data_dir / DEMO_DIR)
        return settings.with_overrides(origin="demo mode", storage={"data_dir": demo_dir}), True
    return settings, False


@contextlib.asynccontextmanager
async def account_pool(settings: Settings):  # noqa: ANN202 - yields an AccountPool
    """The installed providers' account pool over ``<data_dir>/flow2api.db``, loaded, closed on exit."""
    async with _operator_pool(settings) as (pool, _providers):
        yield pool


async def import_original_command(settings: Settings, args: argparse.Namespace) -> list[str]:
    """``flow2api import-original PATH [--check]``: the original flow2api's ``data/flow.db`` → accounts and settings
    of ``<data_dir>`` (:mod:`flow2api.original_import`); returns the summary lines, no secret in them."""
    from flow2api.admin.overrides import SettingsOverrides
    from flow2api.original_import import import_original

    async with _operator_pool(settings) as (pool, providers):
        overrides = SettingsOverrides(pool.repo.database, pool.repo.box)
        return await import_original(pool, overrides, providers, args.path, check=args.check)


@contextlib.asynccontextmanager
async def _operator_pool(settings: Settings):  # noqa: ANN202 - yields (AccountPool, providers)
    """:func:`account_pool` with the providers; on the ``[coordination]`` backend, so ``accounts refresh`` takes the
    serving instances' refresh lock."""
    prepared = prepare(settings)
    settings, providers = prepared.settings, prepared.providers
    data_dir = settings.storage.data_dir
    secret = settings.storage.secret_key.get_secret_value() if settings.storage.secret_key else None
    database = Database(database_url(settings.storage))
    http = HttpSessions()
    coordination = create_coordinator(settings.coordination)
    await database.open()
    try:
        repo = AccountRepository(database, SecretBox(load_or_create_key(data_dir, secret)))
        pool = AccountPool(repo, settings=SettingsHolder(settings), families=families_of(providers), http=http,
                           coordination=coordination)
        await pool.load()
        yield pool, providers
    finally:
        await coordination.close()
        await http.close()
        await database.close()


async def add_account(settings: Settings, family: str, credentials: dict[str, str], **fields: object) -> str:
    """Check and store one account; returns a one-line summary without secrets."""
    async with account_pool(settings) as pool:
        record = await pool.add(family, credentials, **fields)
    return f"account {record.id} ({record.family}) {record.email}: tier {record.tier}, credits {record.credits}"


#: The columns of ``flow2api accounts list`` (tab-separated, one header line).
ACCOUNT_COLUMNS = ("id", "family", "email", "tier", "credits", "state", "image", "video", "proxy", "secret")


async def list_accounts(settings: Settings) -> list[str]:
    """One tab-separated line per stored account (columns :data:`ACCOUNT_COLUMNS`), secrets masked.

    ``image``/``video``: the account's concurrent slots of that kind (``off`` when the kind is disabled for it,
    ``unlimited`` for ``-1``, as the admin site's "-1 = unlimited"). ``proxy``: the account's own proxy without
    its credentials (``socks5://***@host:1080``), else ``global`` when ``[proxy]`` is on (what it then uses,
    docs/architecture.md step 6), else ``direct``.
    """
    from flow2api.original_import import slot_limit   # imported when used, as import_original below

    fallback = "global" if settings.global_proxy_url else "direct"
    async with account_pool(settings) as pool:
        lines = []
        for r in pool.records():
            state = "enabled" if r.enabled else f"disabled ({r.ban_reason or 'by operator'})"
            proxy = redact_proxy(r.proxy_url, keep_user=False) if r.proxy_url else fallback
            fields = (r.id, r.family, r.email, r.tier or "-", "-" if r.credits is None else r.credits, state,
                      slot_limit(r.image_enabled, r.image_concurrency), slot_limit(r.video_enabled, r.video_concurrency),
                      proxy, mask(next(iter(r.secrets.values()), "")))
            lines.append("\t".join(map(str, fields)))
        return lines


async def manage_account(settings: Settings, args: argparse.Namespace) -> list[str]:
    """``flow2api accounts import|export|enable|disable|delete|refresh|edit``; returns the lines to print.

    Import and export use the same formats as the admin site (the original
    project's ``{"tokens": [...]}`` included); export leaves credentials out
    unless ``--with-secrets``. Raises ``KeyError`` for an unknown account id.
    """
    import json

    from flow2api.admin.transfer import build_export, parse_import, run_import

    async with account_pool(settings) as pool:
        if args.action == "import":
            items, problems = parse_import(Path(args.file).read_text(encoding="utf-8"))
            report = (await run_import(pool, items)).as_json()
            errors = problems + report["errors"]
            return [f"{report['added']} added, {report['updated']} updated, {len(errors)} failed"] + [
                f"item {e.get('item', '?')}: {e.get('error', e)}" for e in errors
            ]
        if args.action == "export":
            text = json.dumps(build_export(pool, include_secrets=args.with_secrets), indent=2, ensure_ascii=False)
            if args.output:
                Path(args.output).write_text(text + "\n", encoding="utf-8")
                return [f"{len(pool.records())} accounts written to {args.output}"]
            return [text]
        if args.id not in pool.account_ids():
            raise KeyError(args.id)
        if args.action == "delete":
            await pool.delete(args.id)
            return [f"account {args.id} deleted"]
        if args.action == "refresh":
            await pool.refresh_now(args.id)
            record = next(r for r in pool.records() if r.id == args.id)
            return [f"account {args.id} refreshed: tier {record.tier}, credits {record.credits}"]
        if args.action in ("enable", "disable"):
            enable = args.action == "enable"
            changes = {"enabled": enable, "ban_reason": None if enable else "disabled by operator"}
            if enable:
                changes.update(consecutive_errors=0, cooldown_until=None)
            await pool.update(args.id, **changes)
            return [f"account {args.id} {args.action}d"]
        changes = {
            key: value for key, value in {
                "remark": args.remark, "proxy_url": args.proxy, "image_concurrency": args.image_concurrency,
                "video_concurrency": args.video_concurrency, "image_enabled": args.image, "video_enabled": args.video,
            }.items() if value is not None
        }
        if changes.get("proxy_url"):
            from flow2api.proxies import validate_proxy_url

            validate_proxy_url(changes["proxy_url"])
        await pool.update(args.id, **changes)
        return [f"account {args.id} updated: {', '.join(sorted(changes)) or 'nothing to change'}"]


def parse_expiry(text: str, *, now: float | None = None) -> float:
    """Unix seconds for ``--expires``: ISO 8601 (``2027-01-31`` or with a time, UTC unless an offset is given)
    or a duration from now (``30d``, ``12h``, ``45m``). Raises ``ValueError`` with a readable message."""
    import re
    import time
    from datetime import datetime, timezone

    now = time.time() if now is None else now
    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if match:
        return now + int(match.group(1)) * {"d": 86400, "h": 3600, "m": 60}[match.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--expires {text!r}: use a date like 2027-01-31, a timestamp, or a duration like 30d") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


@contextlib.asynccontextmanager
async def key_store(settings: Settings):  # noqa: ANN202 - yields an ApiKeyStore
    """The API key store over ``<data_dir>/flow2api.db``, loaded, closed on exit."""
    from flow2api.apikeys import ApiKeyStore

    database = Database(database_url(settings.storage))
    await database.open()
    try:
        store = ApiKeyStore(database)
        await store.load()
        yield store
    finally:
        await database.close()


async def keys_command(settings: Settings, args: argparse.Namespace) -> list[str]:
    """Run ``flow2api keys create|list|revoke`` on the data directory the server serves (:func:`served_settings`);
    returns the lines to print (the new key only once, on create; a note first in demo mode)."""
    settings, demo = await served_settings(settings)
    note = [f"(demo mode: keys of {settings.storage.data_dir}, which `flow2api serve` uses while no account is "
            "stored; they stop working once one is added)"] if demo else []
    async with key_store(settings) as store:
        if args.action == "create":
            models = [m.strip() for m in (args.models or "").split(",") if m.strip()]
            expires = parse_expiry(args.expires) if args.expires else None
            record, key = await store.create(
                args.name, rpm=args.rpm, concurrency=args.concurrency, models=models, expires_at=expires,
            )
            return note + [f"created key {record.id} ({record.name}); copy it now, it is not shown again:", key]
        if args.action == "revoke":
            return note + [f"key {args.id} revoked" if await store.revoke(args.id) else f"no key {args.id}"]
        lines = note + ["id\tname\tprefix\trpm\tconcurrency\tmodels\texpires (UTC)\tenabled"]
        for r in await store.list():
            lines.append(
                f"{r.id}\t{r.name}\t{r.prefix}…\t{r.rpm or '-'}\t{r.concurrency or '-'}\t"
                f"{','.join(r.models) or 'all'}\t{format_moment(r.expires_at)}\t{'yes' if r.enabled else 'no'}"
            )
        return lines


def format_moment(unix: float | None) -> str:
    """``2027-01-31 12:00`` (UTC, minutes) for Unix seconds; ``-`` for none (``keys list``'s expiry column)."""
    from datetime import datetime, timezone

    return "-" if unix is None else datetime.fromtimestamp(unix, timezone.utc).strftime("%Y-%m-%d %H:%M")


def _shown(url: str) -> str:
    """A database URL as the CLI may print it: without its password."""
    from flow2api.storage.database import engine_url

    return engine_url(url).render_as_string(hide_password=True)


async def db_command(settings: Settings, args: argparse.Namespace) -> list[str]:
    """``flow2api db upgrade`` (migrate ``[storage] url`` to the newest revision) and ``flow2api db copy
    [--from URL] [--to URL]`` (every table; ``--from`` defaults to the data dir's SQLite file, ``--to`` to
    ``[storage] url``); returns the lines to print, URLs without passwords. Raises ``ValueError`` when the
    copy's target is not empty or both are the same."""
    from flow2api.storage.copy import copy_database

    if args.action == "upgrade":
        url = database_url(settings.storage)
        database = Database(url)
        await database.open()  # migrates
        try:
            return [f"{_shown(url)}: at revision {await database.migrate()}"]
        finally:
            await database.close()
    source = args.source or database_url(settings.storage.model_copy(update={"url": ""}))
    target = args.target or database_url(settings.storage)
    if _shown(source) == _shown(target):
        raise ValueError("db copy: --from and --to are the same database (set --to or [storage] url)")
    copied = await copy_database(source, target)
    return [f"copied {_shown(source)} to {_shown(target)}:"] + [f"{name}\t{rows}" for name, rows in copied.items()]
