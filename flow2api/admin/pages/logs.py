"""Logs and tasks pages: recent API requests (filter by key, model, status) and generation tasks.

``/admin/logs?key=&model=&status=&account=`` lists request log rows (status
``429``, a class ``4xx``/``5xx``, or ``error`` for any failure);
``/admin/tasks?status=&kind=&model=`` lists tasks with their state and links
to their media. Per-account error history is on each account's page.
"""

from __future__ import annotations

from aiohttp import web

from flow2api.admin.queries import LogFilter, recent_requests, recent_tasks
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
        account_id=int_param(q.get("account"), "account"), limit=int_param(q.get("limit"), "limit", 100) or 100,
    )


async def logs_page(request: web.Request) -> web.StreamResponse:
    """``GET /admin/logs``: the request log with filters."""
    flt = log_filter(request)
    error = None
    try:
        rows = await recent_requests(request.config_dict[DATABASE], flt)
    except ValueError as exc:
        rows, error = [], str(exc)
    return await render(request, "logs.html", {"rows": rows, "f": flt, "error": error}, active="logs")


async def tasks_page(request: web.Request) -> web.StreamResponse:
    """``GET /admin/tasks``: recent tasks with state, account and result links."""
    q = request.query
    status, kind, model = q.get("status", ""), q.get("kind", ""), q.get("model", "").strip()
    rows = await recent_tasks(request.config_dict[DATABASE], status=status, kind=kind, model=model,
                              limit=int_param(q.get("limit"), "limit", 100) or 100)
    return await render(request, "tasks.html", {
        "rows": rows, "status": status, "kind": kind, "model": model, "states": TASK_STATES,
    }, active="tasks")


def setup_log_routes(admin_app: web.Application) -> None:
    """Register the logs and tasks pages on the admin sub-app."""
    admin_app.router.add_get("/logs", logs_page)
    admin_app.router.add_get("/tasks", tasks_page)
