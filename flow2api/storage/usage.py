"""Daily usage statistics per account, per API key and per model (table ``usage_daily``).

One row per ``(day, account_id, api_key_id, model)``; ``day`` is the UTC date
``YYYY-MM-DD``. Every generation *attempt* on an account adds to its row:
``attempts`` always, then ``succeeded`` with the number of ``outputs``, or
``failed`` (an attempt that failed over to another account counts as a
failure of the first account and a success of the second). ``duration_ms`` is
the summed attempt time in milliseconds. The settings' key is ``api_key_id`` 0
(display name ``global``). ``api_key`` holds the key's display name, never the key.

The query is what the admin site shows: :meth:`UsageRepository.daily` (rows
grouped by any of the dimensions).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web
from sqlalchemy import bindparam, func, select

from flow2api.storage.database import Database
from flow2api.storage.schema import delete_batch, upsert, usage_daily

DIMENSIONS = ("day", "account_id", "api_key_id", "api_key", "model", "kind")
_SUMMED = ("attempts", "succeeded", "failed", "outputs", "duration_ms")
_PRUNE = delete_batch(usage_daily, usage_daily.c.day < bindparam("day"))


def utc_day(at: float | None = None) -> str:
    """The UTC date of Unix time ``at`` (default now) as ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(time.time() if at is None else at, UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Summed usage for one group; ``group`` maps the grouped dimensions to their values."""

    group: dict[str, Any]
    attempts: int
    succeeded: int
    failed: int
    outputs: int
    duration_ms: float


class UsageRepository:
    """Record attempts and query the daily statistics."""

    def __init__(self, db: Database) -> None:
        self._db = db
        insert = upsert(db.dialect, usage_daily)
        self._add = insert.on_conflict_do_update(
            index_elements=[usage_daily.c.day, usage_daily.c.account_id, usage_daily.c.api_key_id, usage_daily.c.model],
            set_={**{name: usage_daily.c[name] + insert.excluded[name] for name in _SUMMED},
                  "api_key": insert.excluded.api_key},
        )

    def record(
        self,
        *,
        account_id: int,
        api_key_id: int | None,
        api_key: str | None,
        model: str,
        kind: str,
        ok: bool,
        outputs: int = 0,
        duration_ms: float = 0.0,
        at: float | None = None,
    ) -> None:
        """Add one attempt to today's row (UTC) of this account, key and model.

        Queued in the database's group commit and not awaited (statistics must not
        slow the answer); :meth:`daily` waits for queued rows before reading.
        """
        self._db.writes.write_later(self._add, {
            "day": utc_day(at), "account_id": account_id, "api_key_id": api_key_id or 0, "api_key": api_key or "global",
            "model": model, "kind": kind, "attempts": 1, "succeeded": 1 if ok else 0, "failed": 0 if ok else 1,
            "outputs": outputs if ok else 0, "duration_ms": duration_ms,
        })

    async def daily(
        self,
        *,
        group_by: tuple[str, ...] = ("day",),
        since: str | None = None,
        until: str | None = None,
        account_id: int | None = None,
        api_key_id: int | None = None,
        model: str | None = None,
    ) -> list[UsageRow]:
        """Usage summed over ``group_by`` (any of :data:`DIMENSIONS`), ordered by those dimensions.

        ``since``/``until`` are inclusive UTC dates (``YYYY-MM-DD``); the other
        arguments filter. Raises ``ValueError`` for an unknown dimension.
        """
        bad = [d for d in group_by if d not in DIMENSIONS]
        if bad:
            raise ValueError(f"unknown usage dimension(s): {', '.join(bad)}")
        await self._db.writes.flushed()
        columns = [usage_daily.c[d] for d in group_by]
        query = select(*columns, *(func.sum(usage_daily.c[name]) for name in _SUMMED))
        for column, value in (("account_id", account_id), ("api_key_id", api_key_id), ("model", model)):
            if value is not None:
                query = query.where(usage_daily.c[column] == value)
        if since:
            query = query.where(usage_daily.c.day >= since)
        if until:
            query = query.where(usage_daily.c.day <= until)
        if group_by:
            query = query.group_by(*columns).order_by(*columns)
        rows = await self._db.fetch_all(query)
        out: list[UsageRow] = []
        for row in rows:
            values = tuple(row)
            group = dict(zip(group_by, values[: len(group_by)]))
            attempts, succeeded, failed, outputs, duration = values[len(group_by):]
            if attempts is None:  # no rows at all without GROUP BY
                continue
            out.append(UsageRow(group, attempts, succeeded, failed, outputs, duration or 0.0))
        return out

    async def prune_before(self, cutoff: float, limit: int = 500) -> int:
        """Delete at most ``limit`` rows of UTC days that ended before Unix time ``cutoff`` (the day of ``cutoff``
        itself is kept whole); returns how many went (fewer than ``limit``: none is left). In the group commit,
        after the attempts queued before it; raises ``sqlalchemy.exc.SQLAlchemyError``."""
        return len(await self._db.writes.write_one(_PRUNE, {"day": utc_day(cutoff), "limit": limit}))


USAGE: Final = web.AppKey("usage", UsageRepository)
