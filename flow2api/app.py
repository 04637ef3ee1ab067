"""The application factory: root app with the ``/v1`` sub-app, resources, routes.

Objects are built here, before start-up (app state is frozen after it); the
``cleanup_ctx`` generators open and close them in dependency order::

    http_sessions → database → account_pool → catalog_watch → media_janitor

Nothing imports this module but the CLI and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence

from aiohttp import web

from flow2api.api.health import setup_health_routes
from flow2api.api.media import setup_media_routes
from flow2api.api.models import setup_model_routes
from flow2api.api.openai import setup_openai_routes
from flow2api.catalog import CatalogHolder
from flow2api.discovery import build_providers, families_of, installed_factories
from flow2api.keys import (
    CATALOG, DATABASE, DEMO, HTTP_SESSIONS, MEDIA, POOL, PROVIDERS, RATE_LIMITER, REQUEST_LOGS, SETTINGS, TASKS,
)
from flow2api.limits import NoLimits
from flow2api.logs import register_secrets
from flow2api.media import MediaCache
from flow2api.pipeline import API_MIDDLEWARES, ROOT_MIDDLEWARES
from flow2api.plugin import Provider
from flow2api.pool import AccountPool
from flow2api.proxies import HttpSessions
from flow2api.settings import Settings, SettingsHolder
from flow2api.storage import Database, SecretBox, load_or_create_key
from flow2api.storage.accounts import AccountRepository
from flow2api.storage.tasks import RequestLogRepository, TaskRepository

log = logging.getLogger(__name__)

DemoAccount = tuple[str, Mapping[str, str]]


def create_app(
    settings: Settings,
    *,
    providers: Mapping[str, Provider] | None = None,
    demo_accounts: Sequence[DemoAccount] = (),
) -> web.Application:
    """Build the flow2api application.

    ``providers`` skips entry-point discovery (tests, embedding); by default the
    installed ``flow2api.providers`` plugins are used. ``demo_accounts`` are
    ``(family, credentials)`` pairs added to the pool at start-up (demo mode).
    Raises ``SettingsError`` / ``CatalogError`` / ``ValueError`` (bad secrets
    key) before anything starts.
    """
    if providers is None:
        providers = build_providers(settings, installed_factories())
    data_dir = settings.storage.data_dir
    secret = settings.storage.secret_key.get_secret_value() if settings.storage.secret_key else None
    box = SecretBox(load_or_create_key(data_dir, secret))
    http = HttpSessions()
    holder = SettingsHolder(settings)
    database = Database(data_dir / "flow2api.db")

    app = web.Application(middlewares=ROOT_MIDDLEWARES, client_max_size=settings.server.max_body_bytes)
    app[SETTINGS] = holder
    app[PROVIDERS] = dict(providers)
    app[DEMO] = bool(demo_accounts)
    app[HTTP_SESSIONS] = http
    app[DATABASE] = database
    app[TASKS] = TaskRepository(database)
    app[REQUEST_LOGS] = RequestLogRepository(database)
    app[POOL] = AccountPool(
        AccountRepository(database, box), settings=holder, families=families_of(providers), http=http,
    )
    app[CATALOG] = CatalogHolder.load(settings.catalog.path, providers)
    app[MEDIA] = MediaCache(data_dir / "media", ttl=settings.cache.timeout)
    app[RATE_LIMITER] = NoLimits()

    app.cleanup_ctx.append(_http_sessions)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_account_pool(demo_accounts))
    app.cleanup_ctx.append(_catalog_watch)
    app.cleanup_ctx.append(_media_janitor)

    v1 = web.Application(middlewares=API_MIDDLEWARES)
    setup_model_routes(v1)
    setup_openai_routes(v1)
    app.add_subapp("/v1", v1)
    setup_media_routes(app)
    setup_health_routes(app)
    return app


async def _http_sessions(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[HTTP_SESSIONS].close()


async def _database(app: web.Application) -> AsyncIterator[None]:
    await app[DATABASE].open()
    yield
    await app[DATABASE].close()


def _account_pool(demo_accounts: Sequence[DemoAccount]):  # noqa: ANN202 - a cleanup_ctx factory
    async def account_pool(app: web.Application) -> AsyncIterator[None]:
        pool = app[POOL]
        await pool.load()
        for family, credentials in demo_accounts:
            await pool.add(family, credentials, remark="demo account (bundled emulator)")
        for record in pool.records():
            register_secrets(*record.secrets.values())
        yield

    return account_pool


async def _catalog_watch(app: web.Application) -> AsyncIterator[None]:
    if not app[SETTINGS].current.catalog.watch:
        yield
        return
    task = asyncio.create_task(app[CATALOG].watch(), name="catalog-watch")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _media_janitor(app: web.Application) -> AsyncIterator[None]:
    cache = app[MEDIA]

    async def sweep() -> None:
        while True:
            await asyncio.to_thread(cache.purge_expired)
            await asyncio.sleep(300)

    task = asyncio.create_task(sweep(), name="media-janitor") if cache.ttl else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


__all__ = ["create_app"]
