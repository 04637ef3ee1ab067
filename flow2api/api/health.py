"""``/health`` (liveness with pool and catalog state) and ``/ready`` (serving), both without auth.

Neither reveals secrets or account e-mails: only counts, the catalog digest
and its last reload error (file, line, field).
"""

from __future__ import annotations

from aiohttp import web

from flow2api import __version__
from flow2api.catalog import CATALOG
from flow2api.discovery import PROVIDERS
from flow2api.jobs.runner import VIDEO_JOBS
from flow2api.media import MEDIA
from flow2api.pool import POOL
from flow2api.startup import DEMO


async def health(request: web.Request) -> web.Response:
    """``GET /health`` → ``{"status", "version", "instance", "demo", "accounts", "catalog", "providers", "media",
    "video_jobs"}``.

    ``catalog``: ``digest``, ``loaded_at`` (Unix s), ``models``, ``last_error``
    (list of problems or null), ``warnings``. ``media``: ``backend`` (local, s3), ``files`` and
    ``bytes`` in the media cache; ``video_jobs``: Videos API jobs ``queued``
    and ``running`` in this process; ``instance``: its ``[server] instance_id``. ``status`` is ``degraded`` when the last
    reload failed or no account is enabled, else ``ok``.
    """
    holder = request.config_dict[CATALOG]
    pool = request.config_dict[POOL]
    counts = pool.counts()
    catalog = holder.current
    media = request.config_dict[MEDIA]
    degraded = holder.last_error is not None or counts["enabled"] == 0
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
    })


async def ready(request: web.Request) -> web.Response:
    """``GET /ready`` → 200 ``{"ready": true}`` once start-up finished (the route exists only then)."""
    return web.json_response({"ready": True})


def setup_health_routes(app: web.Application) -> None:
    """Register ``/health`` and ``/ready`` on the root app."""
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
