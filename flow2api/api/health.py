"""``/health`` (liveness with pool, catalog and backend state) and ``/ready`` (serving), both without auth.

Neither reveals secrets or account e-mails: only counts, the catalog digest
and its last reload error (file, line, field), and the backends' kinds (never their URLs).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web
from sqlalchemy import text

from flow2api import __version__
from flow2api.catalog import CATALOG
from flow2api.coordination import COORDINATION
from flow2api.discovery import PROVIDERS
from flow2api.jobs.runner import VIDEO_JOBS
from flow2api.media import MEDIA
from flow2api.pool import POOL
from flow2api.startup import DEMO
from flow2api.storage import DATABASE

PROBE_TIMEOUT_S = 2.0
"""Seconds a backend has to answer a ``/health`` or ``/ready`` probe."""


async def backends(app: web.Application) -> dict[str, dict[str, Any]]:
    """``{"storage": {"backend": "sqlite"|"postgresql", "reachable"}, "coordination": {"backend": "in-process"|"redis",
    "reachable"}}``: each probed now (``SELECT 1``; Redis ``PING``), within :data:`PROBE_TIMEOUT_S` each."""
    database, coordination = app[DATABASE], app[COORDINATION]

    async def storage_answers() -> bool:
        with contextlib.suppress(Exception):  # any failure of the probe means "not reachable"
            await asyncio.wait_for(database.fetch_one(text("SELECT 1")), PROBE_TIMEOUT_S)
            return True
        return False

    stored, coordinated = await asyncio.gather(storage_answers(), coordination.ping())
    return {
        "storage": {"backend": database.dialect, "reachable": stored},
        "coordination": {"backend": coordination.backend, "reachable": coordinated},
    }


async def health(request: web.Request) -> web.Response:
    """``GET /health`` → ``{"status", "version", "demo", "accounts", "catalog", "providers", "media", "video_jobs",
    "storage", "coordination"}``.

    ``catalog``: ``digest``, ``loaded_at`` (Unix s), ``models``, ``last_error``
    (list of problems or null), ``warnings``. ``media``: ``files`` and
    ``bytes`` in the media cache; ``video_jobs``: Videos API jobs ``queued``
    and ``running`` in this process. ``status`` is ``degraded`` when the last
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
        "demo": request.config_dict[DEMO],
        "accounts": counts,
        "proxy_failures": sum(pool.proxy_failures.values()),
        "catalog": {
            "digest": catalog.digest, "loaded_at": catalog.loaded_at, "models": len(catalog.entries),
            "last_error": holder.last_error, "warnings": list(catalog.warnings),
        },
        "providers": sorted(request.config_dict[PROVIDERS]),
        "media": {"files": len(media), "bytes": media.total_bytes},
        "video_jobs": request.config_dict[VIDEO_JOBS].counts(),
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
    """Register ``/health`` and ``/ready`` on the root app."""
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
