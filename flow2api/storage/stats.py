"""Read-only statistics of ``request_logs`` and ``tasks`` behind the admin Logs, Tasks and Dashboard views.

The repositories in :mod:`flow2api.storage.tasks` write these tables; this
one only reads them, with the filters an operator needs. Request-log rows are
written behind the answers (group commit, not awaited), so every request-log
query first waits for the rows queued before it. Times are Unix seconds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from flow2api.storage.database import Database

_LOG_COLUMNS = "id, request_id, method, path, model, status, duration_ms, account_id, api_key, error, created_at"
_TASK_COLUMNS = ("id, kind, model, prompt, status, progress, account_id, api_key, result, error, created_at, updated_at,"
                 " completed_at")
_ERRORS = "SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END)"


def where_equal(pairs: Iterable[tuple[str, Any]]) -> tuple[list[str], list[Any]]:
    """``column = ?`` conditions (and their values) for the pairs whose value is set (not ``None`` or empty);
    always at least ``1 = 1``, so the list joins into a valid ``WHERE``."""
    where, params = ["1 = 1"], []
    for column, value in pairs:
        if value is not None and value != "":
            where.append(f"{column} = ?")
            params.append(value)
    return where, params


def status_clause(status: str) -> tuple[str, list[Any]]:
    """The condition for a status filter: a code (``429``), a class (``4xx``), ``error`` (≥ 400) or empty (any).

    Raises ``ValueError`` for anything else.
    """
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


class StatsRepository:
    """The admin site's queries; raises ``sqlite3.Error``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def request_logs(
        self, *, key: str = "", model: str = "", status: str = "", account_id: int | None = None, limit: int = 100,
    ) -> list[sqlite3.Row]:
        """Request-log rows newest first (columns as in :data:`_LOG_COLUMNS`), at most ``limit``; ``key`` is the
        key's display name, ``status`` as :func:`status_clause` (``ValueError`` when bad)."""
        where, params = where_equal((("api_key", key), ("model", model), ("account_id", account_id)))
        clause, values = status_clause(status)
        if clause:
            where.append(clause)
            params += values
        await self._db.writes.flushed()
        return await self._db.fetch_all(
            f"SELECT {_LOG_COLUMNS} FROM request_logs WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )

    async def request_totals(self, since: float) -> tuple[int, int]:
        """``(requests, errors)`` logged since ``since``; errors are statuses ≥ 400."""
        await self._db.writes.flushed()
        total, errors = await self._db.fetch_one(
            f"SELECT COUNT(*), {_ERRORS} FROM request_logs WHERE created_at >= ?", (since,),
        )
        return total or 0, errors or 0

    async def requests_by_account(self, since: float) -> dict[int, tuple[int, int]]:
        """Per account id: ``(requests, errors)`` logged since ``since`` (requests without an account left out)."""
        await self._db.writes.flushed()
        rows = await self._db.fetch_all(
            f"SELECT account_id, COUNT(*), {_ERRORS} FROM request_logs"
            " WHERE created_at >= ? AND account_id IS NOT NULL GROUP BY account_id",
            (since,),
        )
        return {row[0]: (row[1], row[2] or 0) for row in rows}

    async def tasks(
        self, *, status: str = "", kind: str = "", model: str = "", account_id: int | None = None, limit: int = 100,
    ) -> list[sqlite3.Row]:
        """Task rows newest first (``result`` is the stored JSON text), at most ``limit``; empty filters mean any."""
        where, params = where_equal((("status", status), ("kind", kind), ("model", model), ("account_id", account_id)))
        return await self._db.fetch_all(
            f"SELECT {_TASK_COLUMNS} FROM tasks WHERE {' AND '.join(where)} ORDER BY created_at DESC LIMIT ?",
            (*params, limit),
        )

    async def task_counts(self, since: float) -> dict[str, int]:
        """Tasks per status created since ``since``."""
        rows = await self._db.fetch_all("SELECT status, COUNT(*) FROM tasks WHERE created_at >= ? GROUP BY status",
                                        (since,))
        return {row[0]: row[1] for row in rows}

    async def account_count(self) -> int:
        """How many accounts are stored."""
        return (await self._db.fetch_one("SELECT COUNT(*) FROM accounts"))[0]
