"""The dashboard (``GET /admin/``): the pool at a glance, the catalog's state, the version.

Data: :meth:`AccountPool.records`/``in_flight`` (live), request totals of the
last 24 h from the request log, task counts of the last 24 h, the catalog
holder (digest, loaded-at, last reload error), the live instances on this
database (:mod:`flow2api.jobs.instances`, read at each view). The account table refreshes
itself every 10 s (a small script swapping the table, progressive
enhancement; the page works without it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from aiohttp import web

from flow2api import __version__
from flow2api.admin.queries import request_totals, requests_by_account, task_counts
from flow2api.admin.render import render
from flow2api.admin.views import ACCOUNT_STATES, account_view
from flow2api.catalog import CATALOG
from flow2api.discovery import PROVIDERS
from flow2api.jobs.instances import INSTANCES
from flow2api.pool import POOL
from flow2api.storage import DATABASE


async def overview(request: web.Request) -> dict[str, Any]:
    """The dashboard's data (also ``GET /api/overview``): ``accounts``, ``states``, ``credits``, ``in_flight``,
    ``requests_24h``, ``tasks_24h``, ``catalog``, ``version``, ``providers``, ``instances`` (the live ones,
    oldest start first: ``instance_id``, ``host``, ``pid``, ``version``, ``started_at``, ``last_seen`` in Unix s,
    ``this``: whether it is the instance answering); no secrets."""
    config = request.config_dict
    pool = config[POOL]
    db = config[DATABASE]
    holder = config[CATALOG]
    per_account = await requests_by_account(db)
    accounts = []
    for record in pool.records():
        view = account_view(record, pool)
        view["requests_24h"] = per_account.get(record.id, {"requests": 0, "failures": 0})
        accounts.append(view)
    states = Counter(a["state"] for a in accounts)
    catalog = holder.current
    heartbeat = config[INSTANCES]
    instances = [{**asdict(one), "this": one.instance_id == heartbeat.instance} for one in await heartbeat.live_now()]
    return {
        "accounts": accounts,
        "states": {state: states.get(state, 0) for state in ACCOUNT_STATES},
        "credits": sum(a["credits"] or 0 for a in accounts if a["enabled"]),
        "in_flight": {
            "image": sum(a["in_flight"]["image"] for a in accounts), "video": sum(a["in_flight"]["video"] for a in accounts),
        },
        "requests_24h": await request_totals(db),
        "tasks_24h": await task_counts(db),
        "catalog": {
            "digest": catalog.digest, "loaded_at": catalog.loaded_at, "source": catalog.source,
            "models": len(catalog.entries), "aliases": len(catalog.aliases), "warnings": list(catalog.warnings),
            "last_error": holder.last_error, "last_attempt": holder.last_attempt,
        },
        "version": __version__,
        "providers": sorted(config[PROVIDERS]),
        "instances": instances,
    }


async def dashboard(request: web.Request) -> web.StreamResponse:
    """``GET /admin/``: the dashboard page; ``?fragment=accounts`` answers only the account table (auto-refresh)."""
    data = await overview(request)
    if request.query.get("fragment") == "accounts":
        return await render(request, "_dashboard_accounts.html", data)
    return await render(request, "dashboard.html", data, active="dashboard")


async def admin_root(request: web.Request) -> web.StreamResponse:
    """``GET /admin`` → ``/admin/``."""
    raise web.HTTPMovedPermanently("/admin/")


def setup_dashboard_routes(admin_app: web.Application) -> None:
    """``/admin`` and ``/admin/``."""
    admin_app.router.add_get("", admin_root)
    admin_app.router.add_get("/", dashboard)
