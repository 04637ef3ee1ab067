"""The serving instances on one database (issue 17 item 6): who is alive, and the task rows of those gone.

Each serving instance keeps one row of ``instances`` (its ``[server]
instance_id``, host, pid, version, ``started_at`` and ``last_seen``, Unix
seconds): written at start, refreshed by its heartbeat
(:mod:`flow2api.jobs.instances`), deleted on a clean stop. An instance is
**live** while its ``last_seen`` is at most ``[jobs] lease_seconds`` old — the
same bound after which its video jobs are taken over (:mod:`.leases`), so one
setting says when an instance counts as gone.

Every task row records the instance that accepted it (``tasks.instance_id``).
A chat, Gemini or Images API row is served by that instance's HTTP request
alone, so nobody else can finish it; :meth:`InstanceRepository.fail_orphaned`
closes such rows once their instance is gone, and never those of a live one.
Clocks: ``last_seen`` is the writer's clock, compared with the reader's, so
the instances' clocks must agree to well within a lease (NTP; docs/deployment.md).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from sqlalchemy import and_, bindparam, delete, or_, select, update

from flow2api.storage.database import Database
from flow2api.storage.schema import instances, tasks, upsert
from flow2api.storage.tasks import FAILED, UNFINISHED

_ME = bindparam("b_me")
_LIVE = select(instances.c.instance_id).where(instances.c.last_seen >= bindparam("b_live_since"))
# A row of this instance id (or of none: written before revision 0006) is a previous process's when it predates
# this one's start; a row of another instance is orphaned once that instance is not live (stopped, or silent for
# a lease). NULL instance_id never matches NOT IN, hence the explicit IS NULL.
_ORPHANED = and_(
    tasks.c.status.in_(UNFINISHED), tasks.c.surface.is_distinct_from(bindparam("b_keep_surface")),
    or_(and_(or_(tasks.c.instance_id.is_(None), tasks.c.instance_id == _ME), tasks.c.created_at < bindparam("b_started")),
        and_(tasks.c.instance_id != _ME, tasks.c.instance_id.not_in(_LIVE))),
)
_FAIL = (update(tasks).where(_ORPHANED)
         .values(status=FAILED, error=bindparam("b_error"), completed_at=bindparam("b_now"),
                 updated_at=bindparam("b_now"))
         .returning(tasks.c.id))
_LIST_LIVE = (select(instances).where(instances.c.last_seen >= bindparam("b_live_since"))
              .order_by(instances.c.started_at, instances.c.instance_id))
_REMOVE = delete(instances).where(instances.c.instance_id == _ME)
_PRUNE = delete(instances).where(instances.c.last_seen < bindparam("b_cutoff")).returning(instances.c.instance_id)


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """One serving instance as it last reported itself; ``started_at`` and ``last_seen`` are Unix seconds."""

    instance_id: str
    host: str
    pid: int
    version: str
    started_at: float
    last_seen: float


class InstanceRepository:
    """Heartbeat rows of the serving instances (``instances``) and the task rows their loss orphans."""

    def __init__(self, db: Database) -> None:
        self._db = db
        statement = upsert(db.dialect, instances)
        self._beat = statement.on_conflict_do_update(
            index_elements=[instances.c.instance_id],
            set_={name: statement.excluded[name] for name in ("host", "pid", "version", "started_at", "last_seen")},
        )

    async def beat(self, record: InstanceRecord) -> None:
        """Store ``record`` as its instance's row (insert, or replace the row of the same ``instance_id``: a
        restart with a fixed ``[server] instance_id`` takes its row over). Runs alone in the group commit, so a
        heartbeat is not held up behind a batch's failing neighbour; raises ``sqlalchemy.exc.SQLAlchemyError``."""
        await self._db.writes.write_one(self._beat, asdict(record))

    async def live(self, *, since: float) -> list[InstanceRecord]:
        """The instances seen at or after Unix time ``since`` (the caller passes ``now - lease_seconds``), oldest
        start first. Raises ``sqlalchemy.exc.SQLAlchemyError``."""
        rows = await self._db.fetch_all(_LIST_LIVE, {"b_live_since": since})
        return [InstanceRecord(**row._mapping) for row in rows]

    async def remove(self, instance_id: str) -> None:
        """Delete the instance's row (a clean stop: it is no longer live at once). Raises
        ``sqlalchemy.exc.SQLAlchemyError``."""
        await self._db.writes.write_one(_REMOVE, {"b_me": instance_id})

    async def prune(self, *, before: float) -> int:
        """Delete the rows of instances last seen before Unix time ``before`` (long gone); returns how many.
        A row's absence means "not live", exactly as a stale row does. Raises ``sqlalchemy.exc.SQLAlchemyError``."""
        return len(await self._db.writes.write_one(_PRUNE, {"b_cutoff": before}))

    async def fail_orphaned(
        self, instance_id: str, *, started: float, live_since: float, keep_surface: str, error: str,
    ) -> list[str]:
        """Mark ``failed`` with ``error`` every ``queued`` or ``in_progress`` row whose surface is not
        ``keep_surface`` (the Videos API's: its jobs are taken over under leases instead) and whose accepting
        instance is gone; returns their ids.

        Gone: ``instance_id`` itself when the row was created before Unix time ``started`` (a previous process
        under the same id), a row of no instance (written before revision 0006) likewise, and any other instance
        not seen since ``live_since`` (Unix s) or without a row. A row of a live instance is never touched.
        One statement in the group commit; raises ``sqlalchemy.exc.SQLAlchemyError``.
        """
        now = time.time()
        rows = await self._db.writes.write_one(_FAIL, {
            "b_me": instance_id, "b_started": started, "b_live_since": live_since, "b_keep_surface": keep_surface,
            "b_error": error, "b_now": now,
        })
        return [row.id for row in rows]

