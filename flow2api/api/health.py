"""``/health`` (liveness with pool, catalog and backend state) and ``/ready`` (serving), both without auth.

Neither reveals secrets or account e-mails: only counts, the catalog digest
and its last reload error (file, line, field), and the backends' kinds (never their URLs).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Final

from aiohttp import web
from sqlalchemy import text

from flow2api import __version__
from flow2api.catalog import CATALOG
from flow2api.coordination import COORDINATION
from flow2api.discovery import PROVIDERS
from flow2api.jobs.instances import INSTANCES
from flow2api.jobs.runner import VIDEO_JOBS
from flow2api.media import MEDIA
from flow2api.pool import POOL
from flow2api.startup import DEMO
from flow2api.storage import DATABASE

PROBE_TIMEOUT_S = 2.0
"""Seconds a backend has to answer a probe."""
STORAGE_PROBE_INTERVAL_S = 1.0
"""Seconds between background ``SELECT 1`` probes of the database."""


class StorageProbe:
    """Whether the database answered its last ``SELECT 1`` (probed in the background every
    :data:`STORAGE_PROBE_INTERVAL_S` s): a probe inside ``/health`` would queue behind the group commit on the
    database's one thread (large prompts being written), and ``/health`` must answer at once."""

    def __init__(self) -> None:
        self.reachable = True  # the database opened at start-up, before this probe exists

    async def run(self, database: Any) -> None:
        """Probe forever (the app's ``storage_probe`` cleanup context cancels it)."""
        while True:
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancel that lands as the SELECT
                # answers, and the app's cleanup then waits for this loop forever
                async with asyncio.timeout(PROBE_TIMEOUT_S):
                    await database.fetch_one(text("SELECT 1"))
                self.reachable = True
            except Exception:  # noqa: BLE001 - any failure of the probe means "not reachable"
                self.reachable = False
            await asyncio.sleep(STORAGE_PROBE_INTERVAL_S)


STORAGE_PROBE: Final = web.AppKey("storage_probe", StorageProbe)


async def _storage_probe(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[STORAGE_PROBE].run(app[DATABASE]), name="storage-probe")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def backends(app: web.Application) -> dict[str, dict[str, Any]]:
    """``{"storage": {"backend": "sqlite"|"postgresql", "reachable"}, "coordination": {"backend": "in-process"|"redis",
    "reachable"}}``: storage as of its last background probe (at most :data:`STORAGE_PROBE_INTERVAL_S` s old),
    coordination probed now (Redis ``PING``, within ``[coordination] timeout``)."""
    return {
        "storage": {"backend": app[DATABASE].dialect, "reachable": app[STORAGE_PROBE].reachable},
        "coordination": {"backend": app[COORDINATION].backend, "reachable": await app[COORDINATION].ping()},
    }


async def health(request: web.Request) -> web.Response:
    """``GET /health`` → ``{"status", "version", "instance", "demo", "accounts", "catalog", "providers", "media",
    "video_jobs", "instances", "storage", "coordination"}``.

    ``catalog``: ``digest``, ``loaded_at`` (Unix s), ``models``, ``last_error``
    (list of problems or null), ``warnings``. ``media``: ``backend`` (local, s3), ``files`` and
    ``bytes`` in the media cache; ``video_jobs``: Videos API jobs ``queued``
    and ``running`` in this process; ``instance``: its ``[server] instance_id``; ``instances``: how many
    instances on this database are live, this one included, as of this instance's last heartbeat (at most a
    third of ``[jobs] lease_seconds`` old; :mod:`flow2api.jobs.instances`). ``status`` is ``degraded`` when the last
    reload failed, no account is enabled or a backend (:func:`backends`) is unreachable, else ``ok``.
    Always 200: ``/ready`` is the probe that fails.
    """
    holder = request.config_dict[CATALOG]
    pool = request.config_dict[POOL]
    counts = pool.counts()
    catalog = holder.current
    media = request.config_dict[MEDIA]
    probed = await backends(request.app)
    degraded = holder.last_error is not None or counts["enabled"] == 0 or not all(
        b["reachable"] for b in probed.values())
    return web.json_response({
        "status": "degraded" if degraded else "ok",
        "version": __version__,
        "instance": request.config_dict[VIDEO_JOBS].instance,
        "demo": request.config_dict[DEMO],
        "accounts": counts,
        "proxy_failures": sum(pool.proxy_failures.values()),
        "catalog": {
            "digest": catalog.digest, "loaded_at": catalog.loaded_at, "models": len(catalog.entries),
            "last_error": holder.last_error, "warnings": list(catalog.warnings),
        },
        "providers": sorted(request.config_dict[PROVIDERS]),
        "media": {"backend": media.backend, "files": len(media), "bytes": media.total_bytes},
        "video_jobs": request.config_dict[VIDEO_JOBS].counts(),
        "instances": len(request.config_dict[INSTANCES].live),
        **probed,
    })


async def ready(request: web.Request) -> web.Response:
    """``GET /ready`` → 200 ``{"ready": true, "storage": …, "coordination": …}`` once start-up finished and both
    backends answer; 503 with ``"ready": false`` and the same detail when either does not (a load balancer then
    stops sending work here: with Redis lost, new work would be refused anyway)."""
    probed = await backends(request.app)
    ok = all(b["reachable"] for b in probed.values())
    return web.json_response({"ready": ok, **probed}, status=200 if ok else 503)


def setup_health_routes(app: web.Application) -> None:
    """Register ``/health`` and ``/ready`` on the root app, and the storage probe (after the database in cleanup
    order: call this after the database's cleanup context is appended)."""
    app[STORAGE_PROBE] = StorageProbe()
    app.cleanup_ctx.append(_storage_probe)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
