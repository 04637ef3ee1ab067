"""Read-only statistics of ``request_logs`` and ``tasks`` behind the admin Logs, Tasks and Dashboard views.

The repositories in :mod:`flow2api.storage.tasks` write these tables; this
one only reads them, with the filters an operator needs. Request-log rows are
written behind the answers (group commit, not awaited), so every request-log
query first waits for the rows queued before it. Times are Unix seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, Table, and_, case, func, select, true

from flow2api.storage.database import Database
from flow2api.storage.schema import accounts, request_logs, tasks

_LOG_COLUMNS = [request_logs.c[name] for name in (
    "id", "request_id", "method", "path", "model", "status", "duration_ms", "account_id", "api_key", "error",
    "created_at")]
_TASK_COLUMNS = [tasks.c[name] for name in (
    "id", "kind", "model", "prompt", "status", "progress", "account_id", "api_key", "result", "error", "created_at",
    "updated_at", "completed_at")]
# A 4xx is the client's doing (a bad prompt, an unknown model, a content-policy refusal); only a 5xx says the
# gateway, its account or upstream failed (issue 19 item 8: client errors are not account failures).
_FAILURES = func.sum(case((request_logs.c.status >= 500, 1), else_=0))
_CLIENT_ERRORS = func.sum(case((and_(request_logs.c.status >= 400, request_logs.c.status < 500), 1), else_=0))


def where_equal(table: Table, pairs: Iterable[tuple[str, Any]]) -> list[ColumnElement[bool]]:
    """``column = value`` conditions of ``table`` for the pairs whose value is set (not ``None`` or empty); always
    at least one (``true``), so the list joins into a valid ``WHERE``."""
    return [true()] + [table.c[column] == value for column, value in pairs if value is not None and value != ""]


def status_clause(status: str) -> ColumnElement[bool] | None:
    """The condition for a status filter: a code (``429``), a class (``4xx``), ``error`` (≥ 400) or empty (any:
    ``None``); ``failed`` is ≥ 500 (the gateway's, an account's or upstream's failure, not the client's).
    Raises ``ValueError`` for anything else.
    """
    status = status.strip().lower()
    column = request_logs.c.status
    if not status:
        return None
    if status == "error":
        return column >= 400
    if status == "failed":
        return column >= 500
    if len(status) == 3 and status.endswith("xx") and status[0].isdigit():
        low = int(status[0]) * 100
        return and_(column >= low, column < low + 100)
    if status.isdigit():
        return column == int(status)
    raise ValueError("status filter: use a code like 429, a class like 4xx, 'error' or 'failed'")


class StatsRepository:
    """The admin site's queries; raises ``sqlalchemy.exc.SQLAlchemyError``. Rows are mappings."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def request_logs(
        self, *, key: str = "", model: str = "", status: str = "", account_id: int | None = None, limit: int = 100,
    ) -> list[RowMapping]:
        """Request-log rows newest first (columns as in :data:`_LOG_COLUMNS`), at most ``limit``; ``key`` is the
        key's display name, ``status`` as :func:`status_clause` (``ValueError`` when bad)."""
        where = where_equal(request_logs, (("api_key", key), ("model", model), ("account_id", account_id)))
        clause = status_clause(status)
        if clause is not None:
            where.append(clause)
        await self._db.writes.flushed()
        query = select(*_LOG_COLUMNS).where(*where).order_by(request_logs.c.id.desc()).limit(limit)
        return [row._mapping for row in await self._db.fetch_all(query)]

    async def request_totals(self, since: float) -> tuple[int, int, int]:
        """``(requests, client_errors, failures)`` logged since ``since``: statuses 4xx and ≥ 500."""
        await self._db.writes.flushed()
        total, client, failures = await self._db.fetch_one(select(func.count(), _CLIENT_ERRORS, _FAILURES)
                                                           .select_from(request_logs)
                                                           .where(request_logs.c.created_at >= since))
        return total or 0, client or 0, failures or 0

    async def requests_by_account(self, since: float) -> dict[int, tuple[int, int]]:
        """Per account id: ``(requests, failures)`` logged since ``since`` (failures: status ≥ 500; requests
        without an account left out)."""
        await self._db.writes.flushed()
        account = request_logs.c.account_id
        rows = await self._db.fetch_all(select(account, func.count(), _FAILURES).where(
            request_logs.c.created_at >= since, account.isnot(None)).group_by(account))
        return {row[0]: (row[1], row[2] or 0) for row in rows}

    async def tasks(
        self, *, status: str = "", kind: str = "", model: str = "", account_id: int | None = None, limit: int = 100,
    ) -> list[RowMapping]:
        """Task rows newest first (``result`` is the stored JSON text), at most ``limit``; empty filters mean any."""
        where = where_equal(tasks, (("status", status), ("kind", kind), ("model", model), ("account_id", account_id)))
        query = select(*_TASK_COLUMNS).where(*where).order_by(tasks.c.created_at.desc()).limit(limit)
        return [row._mapping for row in await self._db.fetch_all(query)]

    async def task_counts(self, since: float) -> dict[str, int]:
        """Tasks per status created since ``since``."""
        rows = await self._db.fetch_all(
            select(tasks.c.status, func.count()).where(tasks.c.created_at >= since).group_by(tasks.c.status))
        return {row[0]: row[1] for row in rows}

    async def account_count(self) -> int:
        """How many accounts are stored."""
        return (await self._db.fetch_one(select(func.count()).select_from(accounts)))[0]
