"""The admin Logs, Tasks and Dashboard views' data, from :class:`~flow2api.storage.stats.StatsRepository`.

The repositories in :mod:`flow2api.storage.tasks` own writing ``request_logs``
and ``tasks``; the admin site only reads them, with filters an operator needs:
by API key name, model, status (``200``, ``4xx``, ``5xx`` or ``error`` = any
≥ 400) and account. Every list is newest first and bounded (``limit`` ≤ 500);
:func:`task_page` and :func:`request_page` are pages of :data:`PAGE_SIZE` rows
with keyset cursors (``before`` / ``after``: the id of a row on the page next
to it), so a page costs the same whatever the table holds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from flow2api.storage import Database
from flow2api.storage.stats import StatsRepository

MAX_LIMIT = 500
PAGE_SIZE = 50
DAY_S = 86400


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Filters of the request log; empty strings and ``None`` mean "any"."""

    key: str = ""
    model: str = ""
    status: str = ""
    account_id: int | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list, newest first: ``rows``, and the cursors of the pages beside it — ``older`` (pass as
    ``?before=``) and ``newer`` (pass as ``?after=``), ``None`` where there is none."""

    rows: list[dict[str, Any]]
    older: Any = None
    newer: Any = None


Fetch = Callable[..., Awaitable[list[dict[str, Any]]]]


async def keyset_page(fetch: Fetch, *, limit: int, before: Any = None, after: Any = None) -> Page:
    """A :class:`Page` of ``limit`` rows from ``fetch(limit=, before=, after=)`` (rows newest first, with ``id``).

    One row more than shown is asked for, to know whether a page follows. Paging newer past the newest rows
    gives the first page (not a short one).
    """
    limit = max(1, min(limit, MAX_LIMIT - 1))  # the one extra row must fit under the query's cap
    if after is not None:
        rows = await fetch(limit=limit + 1, after=after)
        if len(rows) > limit:
            rows = rows[1:]  # the extra row is the newest: it begins the page before this one
            return Page(rows, older=rows[-1]["id"], newer=rows[0]["id"])
        return await keyset_page(fetch, limit=limit)
    rows = await fetch(limit=limit + 1, before=before)
    more, rows = len(rows) > limit, rows[:limit]
    return Page(rows, older=rows[-1]["id"] if more else None, newer=rows[0]["id"] if before is not None and rows
                else None)


def _limit(limit: int) -> int:
    return max(1, min(limit, MAX_LIMIT))


def _since(since: float | None) -> float:
    return time.time() - DAY_S if since is None else since


async def recent_requests(db: Database, flt: LogFilter, *, before: int | None = None,
                          after: int | None = None) -> list[dict[str, Any]]:
    """Request log rows matching ``flt``, newest first: ``id, request_id, method, path, model, status,
    duration_ms, account_id, api_key, error`` (cut to 500 characters), ``created_at``; ``before``/``after``
    are row ids (cursors). Raises ``ValueError`` for a bad status filter."""
    rows = await StatsRepository(db).request_logs(
        key=flt.key, model=flt.model, status=flt.status, account_id=flt.account_id, limit=_limit(flt.limit),
        before=before, after=after,
    )
    return [dict(row) for row in rows]


async def request_page(db: Database, flt: LogFilter, *, before: int | None = None,
                       after: int | None = None) -> Page:
    """A :class:`Page` of :func:`recent_requests` (``flt.limit`` rows; cursors are row ids)."""
    async def fetch(**cursor: Any) -> list[dict[str, Any]]:
        return await recent_requests(db, replace(flt, limit=cursor.pop("limit")), **cursor)

    return await keyset_page(fetch, limit=flt.limit, before=before, after=after)


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
    before: str | None = None, after: str | None = None,
) -> list[dict[str, Any]]:
    """Tasks newest first: ``id, kind, model, prompt, status, progress, account_id, api_key, error, created_at,
    updated_at, completed_at`` and ``media`` (links under ``/media/``); ``prompt`` and ``error`` are cut to
    500 characters. ``before``/``after`` are task ids (cursors)."""
    rows = await StatsRepository(db).tasks(status=status, kind=kind, model=model, account_id=account_id,
                                           limit=_limit(limit), before=before, after=after)
    return [_task(row) for row in rows]


async def task_page(db: Database, *, limit: int = PAGE_SIZE, before: str | None = None, after: str | None = None,
                    **filters: Any) -> Page:
    """A :class:`Page` of :func:`recent_tasks` with ``filters`` (``status``, ``kind``, ``model``, ``account_id``);
    cursors are task ids."""
    async def fetch(**cursor: Any) -> list[dict[str, Any]]:
        return await recent_tasks(db, **filters, **cursor)

    return await keyset_page(fetch, limit=limit, before=before, after=after)


async def task_counts(db: Database, *, since: float | None = None) -> dict[str, int]:
    """Tasks per status created since ``since`` (default the last 24 h)."""
    return await StatsRepository(db).task_counts(_since(since))
