"""Admin JSON API: overview, catalog, settings, logs, tasks, proxy test.

=======  =======================  ======================================================================
GET      /api/overview            the dashboard's data (accounts by state, credits, in-flight, 24 h totals,
                                  catalog, version)
GET      /api/models              ``{"catalog": state, "data": [model], "aliases": [alias]}``
POST     /api/catalog/reload      ``{"reloaded": bool, "catalog": state}``; a bad file keeps the running
                                  catalog, ``reloaded`` is false and ``catalog.last_error`` lists
                                  ``<file>:<line>: <field>: <message>``
GET      /api/settings            ``{"fields": [field], "source"}`` (secrets as ``set`` only)
PATCH    /api/settings            ``{section: {key: value}}`` → ``{"changed": {section: [keys]}, "fields"}``;
                                  400 ``invalid_settings`` naming section and key
GET      /api/logs                ``?key=&model=&status=&account=&limit=`` → ``{"data": [row]}``
GET      /api/tasks               ``?status=&kind=&model=&account=&limit=`` → ``{"data": [task]}``
POST     /api/proxies/test        :class:`~flow2api.admin.forms.ProxyTest` → ``{"ok", "stage": "proxy" |
                                  "target" | "timeout", "status", "message", "proxy", "elapsed_ms"}``
=======  =======================  ======================================================================
"""

from __future__ import annotations

from aiohttp import web

from flow2api.admin.api.common import json_response, read_json
from flow2api.admin.forms import ProxyTest, parse
from flow2api.admin.pages.dashboard import overview
from flow2api.admin.pages.logs import cursors, int_param, log_filter
from flow2api.admin.pages.models import alias_rows, catalog_rows, catalog_state
from flow2api.admin.proxytest import try_proxy
from flow2api.admin.queries import request_page, task_page
from flow2api.admin.settings_edit import SETTINGS_EDITOR
from flow2api.catalog import CATALOG
from flow2api.errors import InvalidRequestError
from flow2api.settings import SettingsError
from flow2api.storage import DATABASE

routes = web.RouteTableDef()  # filled by the decorators below, in source order; installed by setup_system_api


@routes.get("/overview")
async def get_overview(request: web.Request) -> web.Response:
    """``GET /api/overview``."""
    return json_response(await overview(request))


@routes.get("/models")
async def get_models(request: web.Request) -> web.Response:
    """``GET /api/models``: the catalog in force."""
    holder = request.config_dict[CATALOG]
    return json_response({
        "catalog": catalog_state(holder), "data": catalog_rows(holder.current), "aliases": alias_rows(holder.current),
    })


@routes.post("/catalog/reload")
async def reload_catalog(request: web.Request) -> web.Response:
    """``POST /api/catalog/reload``: re-read ``models.yaml`` now."""
    holder = request.config_dict[CATALOG]
    reloaded = await holder.reload()
    return json_response({"reloaded": reloaded, "catalog": catalog_state(holder)})


@routes.get("/settings")
async def get_settings(request: web.Request) -> web.Response:
    """``GET /api/settings``: every editable setting."""
    editor = request.config_dict[SETTINGS_EDITOR]
    return json_response({"fields": [f.as_json() for f in editor.fields()], "source": editor.holder.current.source})


@routes.patch("/settings")
async def patch_settings(request: web.Request) -> web.Response:
    """``PATCH /api/settings``: validate, apply (core at once, plugin sections after restart) and store."""
    editor = request.config_dict[SETTINGS_EDITOR]
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidRequestError("The body must be an object of sections: {\"generation\": {\"image_timeout\": 200}}")
    try:
        changed = await editor.apply(body)
    except SettingsError as exc:
        err = InvalidRequestError(str(exc))
        err.code = "invalid_settings"
        raise err from None
    return json_response({"changed": changed, "fields": [f.as_json() for f in editor.fields()]})


@routes.get("/logs")
async def get_logs(request: web.Request) -> web.Response:
    """``GET /api/logs``: one page of request log rows, newest first: ``{"data": [...], "older", "newer"}`` —
    row ids to pass as ``?before=`` / ``?after=`` for the pages beside it (``null`` where there is none)."""
    try:
        page = await request_page(request.config_dict[DATABASE], log_filter(request), **cursors(request, numeric=True))
    except ValueError as exc:
        raise InvalidRequestError(str(exc), param="status") from None
    return json_response({"data": page.rows, "older": page.older, "newer": page.newer})


@routes.get("/tasks")
async def get_tasks(request: web.Request) -> web.Response:
    """``GET /api/tasks``: one page of tasks, newest first, with ``media`` links: ``{"data", "older", "newer"}``
    (task ids for ``?before=`` / ``?after=``); ``prompt`` and ``error`` are cut to 500 characters."""
    q = request.query
    page = await task_page(
        request.config_dict[DATABASE], status=q.get("status", ""), kind=q.get("kind", ""), model=q.get("model", ""),
        account_id=int_param(q.get("account"), "account"), limit=int_param(q.get("limit"), "limit", 50) or 50,
        **cursors(request),
    )
    return json_response({"data": page.rows, "older": page.older, "newer": page.newer})


@routes.post("/proxies/test")
async def test_proxy(request: web.Request) -> web.Response:
    """``POST /api/proxies/test``: 200 with the outcome (a failed test is a result, not an error)."""
    data = parse(ProxyTest, await read_json(request))
    return json_response(await try_proxy(data.proxy_url, data.target_url, timeout=data.timeout))


def setup_system_api(api: web.Application) -> None:
    """Register the overview, catalog, settings, logs, tasks and proxy endpoints on the ``/api`` sub-app."""
    api.router.add_routes(routes)
