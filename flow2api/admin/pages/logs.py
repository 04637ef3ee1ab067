"""Logs and tasks pages: recent API requests (filter by key, model, status) and generation tasks.

``/admin/logs?key=&model=&status=&account=`` lists request log rows (status
``429``, a class ``4xx``/``5xx``, or ``error`` for any failure);
``/admin/tasks?status=&kind=&model=`` lists tasks with their state and links
to their media. Per-account error history is on each account's page.

Both are pages of 50 rows (``limit`` changes it), newest first, with "Newer"
and "Older" links: keyset cursors ``?before=<id>`` / ``?after=<id>`` (the id of
the row at the page's edge) that keep the filters. A cursor costs one index
range whatever the table holds, where ``?page=N`` would make the database skip
N × 50 rows.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from flow2api.admin.queries import PAGE_SIZE, LogFilter, Page, request_page, task_page
from flow2api.admin.render import render
from flow2api.errors import InvalidRequestError
from flow2api.storage import DATABASE
from flow2api.storage.tasks import FAILED, QUEUED, RUNNING, SUCCEEDED

TASK_STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED)


def int_param(value: str | None, name: str, default: int | None = None) -> int | None:
    """A whole-number query parameter, ``default`` when absent; 400 naming ``name`` when not a number."""
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidRequestError(f"{name} must be a whole number", param=name) from None


def log_filter(query: dict[str, str] | web.Request) -> LogFilter:
    """A :class:`LogFilter` from query parameters ``key``, ``model``, ``status``, ``account``, ``limit``; 400 on bad numbers."""
    q = query.query if isinstance(query, web.Request) else query
    return LogFilter(
        key=q.get("key", "").strip(), model=q.get("model", "").strip(), status=q.get("status", "").strip(),
        account_id=int_param(q.get("account"), "account"),
        limit=int_param(q.get("limit"), "limit", PAGE_SIZE) or PAGE_SIZE,
    )


def cursors(request: web.Request, *, numeric: bool = False) -> dict[str, Any]:
    """The ``before`` / ``after`` cursors of the query (``None`` when absent); ``numeric`` ones (request-log
    ids) are whole numbers, 400 otherwise."""
    q = request.query
    if numeric:
        return {name: int_param(q.get(name), name) for name in ("before", "after")}
    return {name: q.get(name) or None for name in ("before", "after")}


def page_links(request: web.Request, page: Page) -> dict[str, str | None]:
    """``{"newer", "older"}``: this URL with the filters kept and the cursor of the page beside it, or ``None``."""
    kept = {k: v for k, v in request.query.items() if k not in ("before", "after")}

    def link(name: str, cursor: Any) -> str | None:
        return str(request.rel_url.with_query({**kept, name: str(cursor)})) if cursor is not None else None

    return {"newer": link("after", page.newer), "older": link("before", page.older)}


async def logs_page(request: web.Request) -> web.StreamResponse:
    """``GET /admin/logs``: the request log with filters."""
    flt = log_filter(request)
    error = None
    try:
        page = await request_page(request.config_dict[DATABASE], flt, **cursors(request, numeric=True))
    except ValueError as exc:
        page, error = Page([]), str(exc)
    return await render(request, "logs.html", {
        "rows": page.rows, "f": flt, "error": error, "links": page_links(request, page),
    }, active="logs")


async def tasks_page(request: web.Request) -> web.StreamResponse:
    """``GET /admin/tasks``: one page of tasks (newest first) with state, account and result links."""
    q = request.query
    status, kind, model = q.get("status", ""), q.get("kind", ""), q.get("model", "").strip()
    page = await task_page(request.config_dict[DATABASE], status=status, kind=kind, model=model,
                           limit=int_param(q.get("limit"), "limit", PAGE_SIZE) or PAGE_SIZE, **cursors(request))
    return await render(request, "tasks.html", {
        "rows": page.rows, "status": status, "kind": kind, "model": model, "states": TASK_STATES,
        "links": page_links(request, page),
    }, active="tasks")


def setup_log_routes(admin_app: web.Application) -> None:
    """Register the logs and tasks pages on the admin sub-app."""
    admin_app.router.add_get("/logs", logs_page)
    admin_app.router.add_get("/tasks", tasks_page)
