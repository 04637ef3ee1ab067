"""The admin Logs, Tasks and Dashboard views' data, from :class:`~flow2api.storage.stats.StatsRepository`.

The repositories in :mod:`flow2api.storage.tasks` own writing ``request_logs``
and ``tasks``; the admin site only reads them, with filters an operator needs:
by API key name, model, status (``200``, ``4xx``, ``5xx`` or ``error`` = any
≥ 400) and account. Every list is newest first and bounded (``limit`` ≤ 500).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from flow2api.storage import Database
from flow2api.storage.stats import StatsRepository

MAX_LIMIT = 500
DAY_S = 86400


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Filters of the request log; empty strings and ``None`` mean "any"."""

    key: str = ""
    model: str = ""
    status: str = ""
    account_id: int | None = None
    limit: int = 100


def _limit(limit: int) -> int:
    return max(1, min(limit, MAX_LIMIT))


def _since(since: float | None) -> float:
    return time.time() - DAY_S if since is None else since


async def recent_requests(db: Database, flt: LogFilter) -> list[dict[str, Any]]:
    """Request log rows matching ``flt``, newest first: ``id, request_id, method, path, model, status,
    duration_ms, account_id, api_key, error, created_at``. Raises ``ValueError`` for a bad status filter."""
    rows = await StatsRepository(db).request_logs(
        key=flt.key, model=flt.model, status=flt.status, account_id=flt.account_id, limit=_limit(flt.limit),
    )
    return [dict(row) for row in rows]


async def request_totals(db: Database, *, since: float | None = None) -> dict[str, int]:
    """``{"requests", "client_errors", "failures"}`` (statuses 4xx and ≥ 500) since ``since`` (Unix s; default the
    last 24 h)."""
    total, client, failures = await StatsRepository(db).request_totals(_since(since))
    return {"requests": total, "client_errors": client, "failures": failures}


async def requests_by_account(db: Database, *, since: float | None = None) -> dict[int, dict[str, int]]:
    """Per account id: ``{"requests", "failures"}`` (status ≥ 500) since ``since`` (default the last 24 h)."""
    counts = await StatsRepository(db).requests_by_account(_since(since))
    return {account: {"requests": total, "failures": failures} for account, (total, failures) in counts.items()}


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
    rows = await StatsRepository(db).tasks(status=status, kind=kind, model=model, account_id=account_id,
                                           limit=_limit(limit))
    return [_task(row) for row in rows]


async def task_counts(db: Database, *, since: float | None = None) -> dict[str, int]:
    """Tasks per status created since ``since`` (default the last 24 h)."""
    return await StatsRepository(db).task_counts(_since(since))
