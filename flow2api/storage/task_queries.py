"""The read side of the ``tasks`` table: the status values, :class:`TaskRecord` and the queries that read rows
(one by id or idempotency key, the unfinished ones, a page of a listing).

:class:`TaskQueries` is the base of :class:`flow2api.storage.tasks.TaskRepository`, which adds the writes (and
whose module re-exports every name here, the import path callers use); the columns are described there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, or_, select

from flow2api.storage.database import Database
from flow2api.storage.schema import tasks

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "in_progress", "completed", "failed"
UNFINISHED = (QUEUED, RUNNING)
VIDEOS_SURFACE = "videos"  # the Videos API's rows (flow2api.api.videos.SURFACE): served after they finish


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One generation task. ``result``, ``request`` and ``resume`` are JSON-able dicts; times are Unix seconds."""

    id: str
    kind: str
    model: str
    prompt: str
    status: str
    progress: float
    account_id: int | None
    api_key: str | None
    result: dict[str, Any] | None
    error: str | None
    created_at: float
    updated_at: float
    completed_at: float | None
    resume: dict[str, Any] | None = None
    surface: str | None = None
    owner: str | None = None
    api_key_id: int | None = None
    request: dict[str, Any] | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    deleted_at: float | None = None
    lease_owner: str | None = None  # the instance running a background job, and until when (flow2api.storage.leases)
    lease_until: float | None = None
    instance_id: str | None = None  # the instance that accepted it (flow2api.storage.instances)

    @property
    def finished(self) -> bool:
        """True once the task is ``completed`` or ``failed``."""
        return self.status in (SUCCEEDED, FAILED)


_JSON_COLUMNS = ("result", "resume", "request")
BY_ID = tasks.c.id == bindparam("task_id")  # the WHERE of every one-row statement, reads and writes
_GET = select(tasks).where(BY_ID)
_IDEMPOTENT = select(tasks).where(tasks.c.owner == bindparam("owner"),
                                  tasks.c.idempotency_key == bindparam("idempotency_key"))
_UNFINISHED = select(tasks).where(
    tasks.c.surface == bindparam("surface"), tasks.c.status.in_(UNFINISHED), tasks.c.deleted_at.is_(None),
).order_by(tasks.c.created_at, tasks.c.id)


def _record(row: Any) -> TaskRecord:
    data = dict(row._mapping)
    for name in _JSON_COLUMNS:
        data[name] = json.loads(data[name]) if data.get(name) else None
    return TaskRecord(**data)


class TaskQueries:
    """Read task rows of one database; every method raises ``sqlalchemy.exc.SQLAlchemyError``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, task_id: str) -> TaskRecord | None:
        """The task, or ``None`` (deleted ones included)."""
        row = await self._db.fetch_one(_GET, {"task_id": task_id})
        return _record(row) if row is not None else None

    async def find_idempotent(self, owner: str, idempotency_key: str) -> TaskRecord | None:
        """The owner's task created with ``idempotency_key``, or ``None``."""
        row = await self._db.fetch_one(_IDEMPOTENT, {"owner": owner, "idempotency_key": idempotency_key})
        return _record(row) if row is not None else None

    async def unfinished(self, surface: str) -> list[TaskRecord]:
        """Tasks of ``surface`` still ``queued`` or ``in_progress`` and not deleted, oldest first (restart resume)."""
        rows = await self._db.fetch_all(_UNFINISHED, {"surface": surface})
        return [_record(row) for row in rows]

    async def page(
        self, *, owner: str, surface: str, after: str | None = None, limit: int = 20, order: str = "desc",
    ) -> tuple[list[TaskRecord], bool]:
        """One page of the owner's not-deleted tasks of ``surface`` and whether more follow.

        Ordered by creation time (``desc`` newest first, or ``asc``); ``after`` is
        the id of the last task of the previous page (OpenAI cursor pagination).
        An unknown ``after`` starts from the beginning.
        """
        descending = order != "asc"
        query = select(tasks).where(tasks.c.owner == owner, tasks.c.surface == surface, tasks.c.deleted_at.is_(None))
        cursor = await self.get(after) if after else None
        if cursor is not None and cursor.owner == owner:
            created, key = tasks.c.created_at, tasks.c.id
            before = (created < cursor.created_at, key < cursor.id) if descending else (
                created > cursor.created_at, key > cursor.id)
            query = query.where(or_(before[0], and_(created == cursor.created_at, before[1])))
        columns = (tasks.c.created_at, tasks.c.id)
        query = query.order_by(*(c.desc() if descending else c.asc() for c in columns)).limit(limit + 1)
        rows = [_record(row) for row in await self._db.fetch_all(query)]
        return rows[:limit], len(rows) > limit
