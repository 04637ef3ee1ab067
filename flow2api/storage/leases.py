"""Leases of background Videos API jobs between instances on one database (issue 17 item 4): who runs a job row
and until when.

A running or queued job row carries ``lease_owner`` (the ``[server] instance_id``
of the instance running it) and ``lease_until`` (Unix seconds). The owner renews
the lease while it holds the job (:meth:`JobLeases.renew`); a row whose lease
is unset or has expired is free, and any instance may take it with
:meth:`JobLeases.claim`. Each method is one statement, so it is atomic on both
databases: on PostgreSQL the rows to take are picked with ``SELECT … FOR UPDATE
SKIP LOCKED`` (two instances claiming at once take different rows, neither
waits for the other), and the ``UPDATE`` repeats the condition, which
PostgreSQL re-checks on a row another transaction changed meanwhile; SQLite
runs one writer at a time, so its conditional ``UPDATE … RETURNING`` cannot
interleave with another. Clocks: the times compared are the instances' own,
so their clocks must agree to well within a lease (NTP; docs/deployment.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, and_, bindparam, or_, select, update

from flow2api.storage.database import Database
from flow2api.storage.schema import tasks
from flow2api.storage.tasks import UNFINISHED

_NOW = bindparam("b_now")
_OWNER = bindparam("b_owner")
_SURFACE = bindparam("b_surface")
_OPEN = and_(tasks.c.surface == _SURFACE, tasks.c.status.in_(UNFINISHED), tasks.c.deleted_at.is_(None))


def _free(table: Any = tasks) -> Any:
    """The condition of a job nobody holds: unfinished, not deleted, its lease unset or expired."""
    columns = table.c
    return and_(columns.surface == _SURFACE, columns.status.in_(UNFINISHED), columns.deleted_at.is_(None),
                or_(columns.lease_until.is_(None), columns.lease_until < _NOW))


_CANDIDATES = tasks.alias("candidates")  # the subquery's own name, so it is not correlated with the UPDATE's table
_PICK = (select(_CANDIDATES.c.id).where(_free(_CANDIDATES))
         .order_by(_CANDIDATES.c.created_at, _CANDIDATES.c.id)
         .limit(bindparam("b_limit", type_=Integer))
         .with_for_update(skip_locked=True))  # PostgreSQL only; SQLite's compiler leaves it out
_CLAIM = (update(tasks).where(tasks.c.id.in_(_PICK.scalar_subquery()), _free())
          .values(lease_owner=_OWNER, lease_until=bindparam("b_until")).returning(tasks.c.id))
_RENEW = (update(tasks).where(_OPEN, tasks.c.lease_owner == _OWNER)
          .values(lease_until=bindparam("b_until")).returning(tasks.c.id))
_RELEASE = (update(tasks).where(_OPEN, tasks.c.lease_owner == _OWNER)
            .values(lease_owner=None, lease_until=None).returning(tasks.c.id))


class JobLeases:
    """Claim, renew and release the leases of one surface's job rows (``surface="videos"``)."""

    def __init__(self, db: Database, surface: str) -> None:
        self._db = db
        self._surface = surface

    async def claim(self, owner: str, *, now: float, until: float, limit: int) -> list[str]:
        """Take up to ``limit`` free jobs (unfinished, not deleted, lease unset or expired before ``now``),
        oldest first, for ``owner`` until Unix time ``until``; returns their ids (``[]`` when none is free).

        Never takes a job whose lease is still running, whoever holds it. Raises ``sqlalchemy.exc.SQLAlchemyError``.
        """
        if limit <= 0:
            return []
        rows = await self._db.writes.write_one(_CLAIM, {
            "b_surface": self._surface, "b_now": now, "b_owner": owner, "b_until": until, "b_limit": limit,
        })
        return [row.id for row in rows]

    async def renew(self, owner: str, *, until: float) -> set[str]:
        """Extend to ``until`` the lease of every unfinished job ``owner`` holds; returns their ids. A job missing
        from the answer is no longer ``owner``'s (finished, or taken over after its lease expired).
        Raises ``sqlalchemy.exc.SQLAlchemyError``."""
        rows = await self._db.writes.write_one(_RENEW, {"b_surface": self._surface, "b_owner": owner, "b_until": until})
        return {row.id for row in rows}

    async def release(self, owner: str) -> int:
        """Give up every unfinished job ``owner`` holds (graceful shutdown: another instance, or this one restarted,
        takes them at once instead of after the lease); returns how many. Raises ``sqlalchemy.exc.SQLAlchemyError``."""
        return len(await self._db.writes.write_one(_RELEASE, {"b_surface": self._surface, "b_owner": owner}))
