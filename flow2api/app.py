"""The application factory: root app with the ``/v1`` sub-app, resources, routes.

Objects are built here, before start-up (app state is frozen after it); the
``cleanup_ctx`` generators open and close them in dependency order::

    http_sessions → database → instance_heartbeat → coordination → account_pool → change_watch → catalog_watch → media_janitor → video_jobs
        → retention → webhook_delivery → one per workflow plugin (its lifespan)

Nothing imports this module but the CLI and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence

from aiohttp import web

from flow2api.admin.settings_edit import SETTINGS_EDITOR
from flow2api.admin.site import setup_admin
from flow2api.api.gemini import create_gemini_app, setup_generate_routes
from flow2api.api.health import setup_health_routes
from flow2api.api.images import setup_image_routes
from flow2api.api.landing import setup_landing_routes
from flow2api.api.media import setup_media_routes
from flow2api.api.models import setup_model_routes
from flow2api.api.openai import setup_openai_routes
from flow2api.api.video_sources import setup_video_source_routes
from flow2api.api.videos import setup_video_routes
from flow2api.apikeys import API_KEYS, ApiKeyStore
from flow2api.catalog import CATALOG, CatalogHolder, catalog_path
from flow2api.admin.workflow_pages import WorkflowAdminPages
from flow2api.coordination import COORDINATION, create_coordinator, create_rate_limiter
from flow2api.discovery import (
    PROVIDERS, WORKFLOW_GROUP, build_providers, build_workflows, families_of, installed_factories,
)
from flow2api.fetcher import FETCHER, AddressPolicy, GuardedFetcher
from flow2api.jobs import Collaborators, JobEngine
from flow2api.jobs.engine import ENGINE, finishing_jobs
from flow2api.jobs.instances import setup_instances
from flow2api.jobs.retention import setup_retention
from flow2api.jobs.runner import SURFACE as VIDEO_SURFACE, VIDEO_JOBS, VideoJobRunner
from flow2api.jobs.webhooks import WEBHOOKS, WorkflowWebhooks, setup_webhooks
from flow2api.jobs.workflows import EngineImageJobs
from flow2api.limits import IN_FLIGHT, RATE_LIMITER, InFlightLimit
from flow2api.media import MEDIA, VIDEO_INPUTS, InputStore, open_media_store
from flow2api.media.files import private_dir
from flow2api.metrics import METRICS, Metrics, setup_metrics
from flow2api.pipeline import API_MIDDLEWARES, ROOT_MIDDLEWARES
from flow2api.pipeline.context import stamp_request_id
from flow2api.plugin import MountedWorkflow, Provider, Workflow, WorkflowHost
from flow2api.pool import POOL, AccountPool
from flow2api.pool.maintenance import run_maintenance
from flow2api.proxies import HTTP_SESSIONS, HttpSessions
from flow2api.settings import SETTINGS, Settings, SettingsHolder
from flow2api.startup import DEMO, DemoAccount
from flow2api.storage import DATABASE, Database, SecretBox, changes, database_url, load_or_create_key
from flow2api.storage.accounts import AccountRepository
from flow2api.storage.leases import JobLeases
from flow2api.storage.tasks import REQUEST_LOGS, TASKS, RequestLogRepository, TaskRepository
from flow2api.storage.usage import USAGE, UsageRepository
from flow2api.storage.workflows import WorkflowDocuments

log = logging.getLogger(__name__)



def create_app(
    settings: Settings,
    *,
    providers: Mapping[str, Provider] | None = None,
    demo_accounts: Sequence[DemoAccount] = (),
    workflows: Mapping[str, Workflow] | None = None,
) -> web.Application:
    """Build the flow2api application from final settings (:func:`flow2api.startup.prepare` lays the admin
    site's stored changes over the file's and builds the providers; this factory applies nothing more).

    ``providers`` skips entry-point discovery (tests, embedding); by default the
    installed ``flow2api.providers`` plugins are built from ``settings``. ``demo_accounts`` are
    ``(family, credentials)`` pairs added to the pool at start-up (demo mode).
    ``workflows`` are workflow plugins to mount (``flow2api.workflows``; discovered
    only when ``providers`` is too, else none unless given).
    Raises ``SettingsError`` / ``CatalogError`` / ``ValueError`` (bad secrets
    key) before anything starts.
    """
    if providers is None:
        if workflows is None:
            workflows = build_workflows(settings, installed_factories(WORKFLOW_GROUP))  # type: ignore[arg-type]
        providers = build_providers(settings, installed_factories(), workflows)  # type: ignore[arg-type]
    data_dir = private_dir(settings.storage.data_dir)  # 0700: it holds the database, keys and results
    secret = settings.storage.secret_key.get_secret_value() if settings.storage.secret_key else None
    box = SecretBox(load_or_create_key(data_dir, secret))
    http = HttpSessions()
    holder = SettingsHolder(settings)
    database = Database(database_url(settings.storage))
    coordination = create_coordinator(settings.coordination)

    app = web.Application(middlewares=ROOT_MIDDLEWARES, client_max_size=settings.server.max_body_bytes)
    app.on_response_prepare.append(stamp_request_id)
    app[SETTINGS] = holder
    app[PROVIDERS] = dict(providers)
    app[DEMO] = bool(demo_accounts)
    app[HTTP_SESSIONS] = http
    app[FETCHER] = GuardedFetcher(AddressPolicy(settings.inputs.allow_networks), timeout=settings.inputs.fetch_timeout)
    app[DATABASE] = database
    app[COORDINATION] = coordination
    app[TASKS] = TaskRepository(database, settings.server.instance_id)
    app[REQUEST_LOGS] = RequestLogRepository(database)
    app[POOL] = AccountPool(
        AccountRepository(database, box), settings=holder, families=families_of(providers), http=http,
        coordination=coordination,
    )
    app[CATALOG] = CatalogHolder.load(catalog_path(settings.catalog.path), providers)
    app[MEDIA] = open_media_store(settings.cache, data_dir)
    app[USAGE] = UsageRepository(database)
    app[METRICS] = Metrics()
    app[ENGINE] = JobEngine(Collaborators.of(app))
    app[VIDEO_INPUTS] = InputStore(app[MEDIA], legacy=data_dir / "inputs")  # readable by every instance
    app[VIDEO_JOBS] = VideoJobRunner(app, JobLeases(database, VIDEO_SURFACE))
    app[RATE_LIMITER] = create_rate_limiter(coordination, lambda: holder.current.rate_limit)
    app[IN_FLIGHT] = InFlightLimit(lambda: holder.current.server)
    app[API_KEYS] = ApiKeyStore(database)

    app.cleanup_ctx.append(_http_sessions)
    app.cleanup_ctx.append(_database)
    setup_instances(app)  # this instance's heartbeat row; the rows of instances gone failed (flow2api.jobs.instances)
    app.cleanup_ctx.append(_coordination)
    app.cleanup_ctx.append(_account_pool(demo_accounts))
    app.cleanup_ctx.append(_change_watch)
    app.cleanup_ctx.append(_catalog_watch)
    app.cleanup_ctx.append(_media_store)
    app.cleanup_ctx.append(finishing_jobs)  # closed after the video runner, whose jobs it may be finishing
    app.cleanup_ctx.append(_video_jobs)
    setup_retention(app)  # finished tasks, request logs, usage past [storage] retention_days
    setup_webhooks(app, box)  # the signed-webhook outbox and its sender (flow2api.jobs.webhooks)

    v1 = web.Application(middlewares=API_MIDDLEWARES)
    setup_model_routes(v1)
    setup_openai_routes(v1)
    setup_image_routes(v1)
    setup_video_routes(v1)
    setup_video_source_routes(v1)
    setup_generate_routes(v1)
    mounted = _mount_workflows(app, v1, workflows or {})
    app.add_subapp("/v1", v1)
    app.add_subapp("/v1beta", create_gemini_app())
    setup_media_routes(app)
    setup_metrics(app, app[VIDEO_JOBS].counts)
    setup_health_routes(app)
    setup_landing_routes(app)  # GET /: links to the admin site, the API bases, the docs
    _mount_family_apps(app, providers)  # /api/<family>: the optional AccountFamily.web_app hook (flow2api.plugin)
    # /login, /admin and /api sub-apps; after _database in cleanup order
    setup_admin(app, box, pages=[r for m in mounted for r in m.admin], nav=tuple(m.nav for m in mounted if m.nav))
    return app


def _mount_workflows(app: web.Application, v1: web.Application, workflows: Mapping[str, Workflow]) -> list[MountedWorkflow]:
    """Hand each workflow its :class:`~flow2api.plugin.WorkflowHost`, add its API routes to ``/v1`` (frozen at
    start-up, so before ``add_subapp``'s freeze) and its lifespan to ``cleanup_ctx`` (after the video runner)."""
    mounted = []
    jobs = EngineImageJobs(app)
    for name, workflow in workflows.items():
        host = WorkflowHost(jobs=jobs, store=WorkflowDocuments(app[DATABASE], name),
                            admin=WorkflowAdminPages(name), data_dir=app[SETTINGS].current.storage.data_dir,
                            events=WorkflowWebhooks(app[WEBHOOKS], name))
        one = workflow.mount(host)
        v1.add_routes(one.api)
        app.cleanup_ctx.append(_lifespan(workflow))
        mounted.append(one)
    return mounted


def _lifespan(workflow: Workflow):  # noqa: ANN202 - a cleanup_ctx factory
    async def workflow_lifespan(app: web.Application) -> AsyncIterator[None]:
        async with workflow.lifespan():
            yield

    return workflow_lifespan


def _mount_family_apps(app: web.Application, providers: Mapping[str, Provider]) -> None:
    """Mount each family's optional ``web_app()`` at ``/api/<family name>`` (see ``flow2api.plugin.AccountFamily``)."""
    for family in families_of(providers).values():
        routes = family.web_app()
        if routes is not None:
            app.add_subapp(f"/api/{family.name}", routes)


async def _http_sessions(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[HTTP_SESSIONS].close()
    await app[FETCHER].close()


async def _database(app: web.Application) -> AsyncIterator[None]:
    await app[DATABASE].open()
    await app[DATABASE].changes.prime()  # before loading: a change made meanwhile is seen by the watch
    await app[API_KEYS].load()
    yield
    await app[DATABASE].close()


async def _coordination(app: web.Application) -> AsyncIterator[None]:
    """Slots, limits, cool-downs, refresh locks shared with other instances (``[coordination]``); closed after
    everything that holds a slot."""
    await app[COORDINATION].start()
    yield
    await app[COORDINATION].close()


def _account_pool(demo_accounts: Sequence[DemoAccount]):  # noqa: ANN202 - a cleanup_ctx factory
    async def account_pool(app: web.Application) -> AsyncIterator[None]:
        pool = app[POOL]
        await pool.load()
        for family, credentials in demo_accounts:
            await pool.add(family, credentials, remark="demo account (bundled emulator)")
        maintenance = asyncio.create_task(run_maintenance(pool), name="account-maintenance")
        yield
        maintenance.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await maintenance

    return account_pool


async def _change_watch(app: web.Application) -> AsyncIterator[None]:
    """Keys, accounts and settings changed by another process (the CLI, another instance) take effect here
    within ``[storage] change_poll_interval`` seconds plus one reload (flow2api.storage.changes)."""
    reloads = {changes.API_KEYS: app[API_KEYS].load, changes.ACCOUNTS: app[POOL].reload}
    if SETTINGS_EDITOR in app:
        reloads[changes.SETTINGS] = app[SETTINGS_EDITOR].reload
    interval = app[SETTINGS].current.storage.change_poll_interval
    task = asyncio.create_task(app[DATABASE].changes.watch(reloads, interval), name="change-watch")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _catalog_watch(app: web.Application) -> AsyncIterator[None]:
    if not app[SETTINGS].current.catalog.watch:
        yield
        return
    task = asyncio.create_task(app[CATALOG].watch(), name="catalog-watch")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _media_store(app: web.Application) -> AsyncIterator[None]:
    """The media store: connected (S3: the client and the shared signing key) and swept every
    ``[cache] sweep_interval`` seconds while it has a TTL (S3: or a size cap) to enforce; closed at stop."""
    store = app[MEDIA]
    await store.start()
    interval = app[SETTINGS].current.cache.sweep_interval

    async def sweep() -> None:
        while True:
            try:
                await store.sweep()
            except OSError as exc:  # a bucket briefly unreachable: the next sweep catches up
                log.warning("media sweep failed: %s", exc)
            await asyncio.sleep(interval)

    task = asyncio.create_task(sweep(), name="media-janitor") if store.sweeps else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await store.close()


async def _video_jobs(app: web.Application) -> AsyncIterator[None]:
    """Background Videos API jobs: unfinished ones are taken up at start, all are cancelled (kept resumable) at stop."""
    await app[VIDEO_JOBS].start()
    yield
    await app[VIDEO_JOBS].close()


__all__ = ["create_app"]
