"""Read-only queries behind the admin Logs, Tasks and Dashboard views (``request_logs`` and ``tasks``).

The repositories in :mod:`flow2api.storage.tasks` own writing these tables;
the admin site only reads them, with filters an operator needs: by API key
name, model, status (``200``, ``4xx``, ``5xx`` or ``error`` = any ≥ 400) and
account. Every list is newest first and bounded (``limit`` ≤ 500).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from flow2api.storage import Database

MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Filters of the request log; empty strings and ``None`` mean "any"."""

    key: str = ""
    model: str = ""
    status: str = ""
    account_id: int | None = None
    limit: int = 100


def _status_clause(status: str) -> tuple[str, list[Any]]:
    status = status.strip().lower()
    if not status:
        return "", []
    if status == "error":
        return "status >= ?", [400]
    if len(status) == 3 and status.endswith("xx") and status[0].isdigit():
        low = int(status[0]) * 100
        return "status >= ? AND status < ?", [low, low + 100]
    if status.isdigit():
        return "status = ?", [int(status)]
    raise ValueError("status filter: use a code like 429, a class like 4xx, or 'error'")


async def recent_requests(db: Database, flt: LogFilter) -> list[dict[str, Any]]:
    """Request log rows matching ``flt``, newest first: ``id, request_id, method, path, model, status,
    duration_ms, account_id, api_key, error, created_at``. Raises ``ValueError`` for a bad status filter."""
    where, params = ["1 = 1"], []
    if flt.key:
        where.append("api_key = ?")
        params.append(flt.key)
    if flt.model:
        where.append("model = ?")
        params.append(flt.model)
    if flt.account_id is not None:
        where.append("account_id = ?")
        params.append(flt.account_id)
    clause, values = _status_clause(flt.status)
    if clause:
        where.append(clause)
        params += values
    limit = max(1, min(flt.limit, MAX_LIMIT))
    await db.writes.flushed()  # request-log rows are written behind the answers
    async with db.conn.execute(
        "SELECT id, request_id, method, path, model, status, duration_ms, account_id, api_key, error, created_at"
        f" FROM request_logs WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
        (*params, limit),
    ) as cur:
        return [dict(row) for row in await cur.fetchall()]


async def request_totals(db: Database, *, since: float | None = None) -> dict[str, int]:
    """``{"requests", "errors"}`` (errors = status ≥ 400) since ``since`` (Unix s; default the last 24 h)."""
    since = time.time() - 86400 if since is None else since
    await db.writes.flushed()  # request-log rows are written behind the answers
    async with db.conn.execute(
        "SELECT COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) FROM request_logs WHERE created_at >= ?",
        (since,),
    ) as cur:
        total, errors = await cur.fetchone()
    return {"requests": total or 0, "errors": errors or 0}


async def requests_by_account(db: Database, *, since: float | None = None) -> dict[int, dict[str, int]]:
    """Per account id: ``{"requests", "errors"}`` since ``since`` (default the last 24 h)."""
    since = time.time() - 86400 if since is None else since
    await db.writes.flushed()  # request-log rows are written behind the answers
    async with db.conn.execute(
        "SELECT account_id, COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) FROM request_logs"
        " WHERE created_at >= ? AND account_id IS NOT NULL GROUP BY account_id",
        (since,),
    ) as cur:
        return {row[0]: {"requests": row[1], "errors": row[2] or 0} for row in await cur.fetchall()}


def _task(row: Any) -> dict[str, Any]:
    data = dict(row)
    result = json.loads(data.pop("result") or "null") or {}
    names = result.get("names") or []
    data["media"] = [f"/media/{name}" for name in names if isinstance(name, str)]
    return data


async def recent_tasks(
    db: Database, *, status: str = "", kind: str = "", model: str = "", account_id: int | None = None, limit: int = 100,
) -> list[dict[str, Any]]:
    """Tasks newest first: ``id, kind, model, prompt, status, progress, account_id, api_key, error, created_at,
    updated_at, completed_at`` and ``media`` (links under ``/media/``)."""
    where, params = ["1 = 1"], []
    for column, value in (("status", status), ("kind", kind), ("model", model)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if account_id is not None:
        where.append("account_id = ?")
        params.append(account_id)
    limit = max(1, min(limit, MAX_LIMIT))
    async with db.conn.execute(
        "SELECT id, kind, model, prompt, status, progress, account_id, api_key, result, error, created_at, updated_at,"
        f" completed_at FROM tasks WHERE {' AND '.join(where)} ORDER BY created_at DESC LIMIT ?",
        (*params, limit),
    ) as cur:
        return [_task(row) for row in await cur.fetchall()]


async def task_counts(db: Database, *, since: float | None = None) -> dict[str, int]:
    """Tasks per status created since ``since`` (default the last 24 h)."""
    since = time.time() - 86400 if since is None else since
    async with db.conn.execute(
        "SELECT status, COUNT(*) FROM tasks WHERE created_at >= ? GROUP BY status", (since,)
    ) as cur:
        return {row[0]: row[1] for row in await cur.fetchall()}
