"""Read-only statistics of ``request_logs`` and ``tasks`` behind the admin Logs, Tasks and Dashboard views.

The repositories in :mod:`flow2api.storage.tasks` write these tables; this
one only reads them, with the filters an operator needs. Request-log rows are
written behind the answers (group commit, not awaited), so every request-log
query first waits for the rows queued before it. Times are Unix seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, ColumnElement, RowMapping, Table, and_, case, func, or_, select, true

from flow2api.storage.database import Database
from flow2api.storage.schema import accounts, request_logs, tasks

PREVIEW_CHARS = 500


def preview(column: Column[str]) -> ColumnElement[str]:
    """The first :data:`PREVIEW_CHARS` characters of a text column, under its own name: a list page stays small
    whatever a row holds (rows stored before ``[generation] max_prompt_chars`` may hold a 31 MB prompt)."""
    return func.substr(column, 1, PREVIEW_CHARS).label(column.name)


_LOG_COLUMNS = [request_logs.c[name] for name in (
    "id", "request_id", "method", "path", "model", "status", "duration_ms", "account_id", "api_key")] + [
    preview(request_logs.c.error), request_logs.c.created_at]
_TASK_COLUMNS = [tasks.c[name] for name in ("id", "kind", "model")] + [preview(tasks.c.prompt)] + [
    tasks.c[name] for name in ("status", "progress", "account_id", "api_key", "result")] + [
    preview(tasks.c.error)] + [tasks.c[name] for name in ("created_at", "updated_at", "completed_at")]
# A 4xx is the client's doing (a bad prompt, an unknown model, a content-policy refusal); only a 5xx says the
# gateway, its account or upstream failed (issue 19 item 8: client errors are not account failures).
_FAILURES = func.sum(case((request_logs.c.status >= 500, 1), else_=0))
_CLIENT_ERRORS = func.sum(case((and_(request_logs.c.status >= 400, request_logs.c.status < 500), 1), else_=0))


def where_equal(table: Table, pairs: Iterable[tuple[str, Any]]) -> list[ColumnElement[bool]]:
    """``column = value`` conditions of ``table`` for the pairs whose value is set (not ``None`` or empty); always
    at least one (``true``), so the list joins into a valid ``WHERE``."""
    return [true()] + [table.c[column] == value for column, value in pairs if value is not None and value != ""]


def beyond(columns: tuple[ColumnElement[Any], ...], values: tuple[Any, ...], *, older: bool) -> ColumnElement[bool]:
    """Keyset condition: rows strictly after ``values`` in the descending order of ``columns`` (``older``), or
    strictly before them (``not older``); ``(created_at, id)`` orders tasks, ``(id,)`` the request log."""
    first, value = columns[0], values[0]
    past = first < value if older else first > value
    if len(columns) == 1:
        return past
    return or_(past, and_(first == value, beyond(columns[1:], values[1:], older=older)))


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
        before: int | None = None, after: int | None = None,
    ) -> list[RowMapping]:
        """Request-log rows newest first (columns as in :data:`_LOG_COLUMNS`, ``error`` cut to
        :data:`PREVIEW_CHARS`), at most ``limit``; ``key`` is the key's display name, ``status`` as
        :func:`status_clause` (``ValueError`` when bad). ``before``/``after`` are row ids (keyset cursors): only
        older rows, or only the ``limit`` newer rows nearest to ``after``."""
        where = where_equal(request_logs, (("api_key", key), ("model", model), ("account_id", account_id)))
        clause = status_clause(status)
        if clause is not None:
            where.append(clause)
        await self._db.writes.flushed()
        return await self._keyset(select(*_LOG_COLUMNS).where(*where), (request_logs.c.id,),
                                  (before,) if before is not None else (after,) if after is not None else None,
                                  older=after is None, limit=limit)

    async def _keyset(self, query: Any, order: tuple[ColumnElement[Any], ...], cursor: tuple[Any, ...] | None, *,
                      older: bool, limit: int) -> list[RowMapping]:
        """``query``'s rows past ``cursor`` in the descending ``order`` (``older``) or before it, ``limit`` of
        them nearest to the cursor, returned newest first."""
        if cursor is not None:
            query = query.where(beyond(order, cursor, older=older))
        query = query.order_by(*(c.desc() if older else c.asc() for c in order)).limit(limit)
        rows = [row._mapping for row in await self._db.fetch_all(query)]
        return rows if older else rows[::-1]

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
        before: str | None = None, after: str | None = None,
    ) -> list[RowMapping]:
        """Task rows newest first (``result`` is the stored JSON text; ``prompt`` and ``error`` cut to
        :data:`PREVIEW_CHARS`), at most ``limit``; empty filters mean any. ``before``/``after`` are task ids
        (keyset cursors on ``(created_at, id)``): only older tasks, or only the ``limit`` newer ones nearest to
        ``after``; an unknown id (pruned meanwhile) is no cursor."""
        where = where_equal(tasks, (("status", status), ("kind", kind), ("model", model), ("account_id", account_id)))
        cursor = None
        if before or after:
            task_id = before or after
            found = await self._db.fetch_one(select(tasks.c.created_at).where(tasks.c.id == task_id))
            cursor = (found[0], task_id) if found is not None else None
        return await self._keyset(select(*_TASK_COLUMNS).where(*where), (tasks.c.created_at, tasks.c.id), cursor,
                                  older=not after, limit=limit)

    async def task_counts(self, since: float) -> dict[str, int]:
        """Tasks per status created since ``since``."""
        rows = await self._db.fetch_all(
            select(tasks.c.status, func.count()).where(tasks.c.created_at >= since).group_by(tasks.c.status))
        return {row[0]: row[1] for row in rows}

    async def account_count(self) -> int:
        """How many accounts are stored."""
        return (await self._db.fetch_one(select(func.count()).select_from(accounts)))[0]
