"""Writes of the ``tasks`` table (every accepted generation, from acceptance to its end), and ``request_logs``;
the reads of ``tasks`` are in :mod:`flow2api.storage.task_queries`, whose names this module re-exports.

A task row is written before anything is sent upstream (ARCHITECTURE "Nothing
is lost"). Columns the surfaces rely on:

``surface``
    ``chat``, ``gemini``, ``images`` or ``videos`` (the Videos API lists only its own).
``owner``
    Who may see the task: ``"global"`` for the settings' key, ``"key:<id>"`` for a
    created API key (see :func:`owner_of`).
``request``
    JSON: what a queued job needs to be submitted again after a restart
    (Videos API), plus ``summary``, the client request with long strings
    truncated and images replaced by a reference (:func:`summarize_request`).
``resume``
    The provider's :class:`~flow2api.plugin.Submitted` state (resume after a restart).
``idempotency_key`` / ``request_hash``
    The client's ``Idempotency-Key`` and a SHA-256 of the request; unique per owner.
``instance_id``
    The ``[server] instance_id`` that accepted the row (:mod:`flow2api.storage.instances`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web
from sqlalchemy import Integer, and_, bindparam, func, insert, not_, select, update
from sqlalchemy.exc import IntegrityError

from flow2api.storage.database import Database
from flow2api.storage.schema import delete_batch, request_logs, tasks
# The read side lives in task_queries; its names are re-exported here, the import path every caller uses.
from flow2api.storage.task_queries import (  # noqa: F401 - re-exported
    BY_ID, FAILED, QUEUED, RUNNING, SUCCEEDED, UNFINISHED, VIDEOS_SURFACE, TaskQueries, TaskRecord,
)

MAX_SUMMARY_STRING = 500
MAX_SUMMARY_ITEMS = 50
MAX_SUMMARY_DEPTH = 8
MAX_SUMMARY_KEY = 100


def owner_of(key_id: int | None) -> str:
    """The ``owner`` value of a caller: ``"global"`` for the settings' key (no id), else ``"key:<id>"``."""
    return "global" if key_id is None else f"key:{key_id}"


def summarize_request(value: Any, *, limit: int = MAX_SUMMARY_STRING, depth: int = MAX_SUMMARY_DEPTH) -> Any:
    """A bounded copy of a client request for logs: images become references, long strings are cut.

    ``data:`` URIs become ``"<data URI image/png, 12345 chars>"``; other strings
    longer than ``limit`` characters keep their start and say how much was cut;
    lists and objects keep their first 50 items (the typed models keep unknown
    fields, so an object may be anything a client sends), keys are cut to 100
    characters, and what lies deeper than ``depth`` levels becomes ``"<nested>"``.
    The copy is therefore at most about ``50 ** depth`` short strings whatever
    the body holds, and in practice its fields: a request's prompt is bounded
    beforehand by ``[generation] max_prompt_chars``. Numbers are kept as they are.
    """
    if isinstance(value, str):
        if value.startswith("data:"):
            mime = value[5:].split(";", 1)[0].split(",", 1)[0][:MAX_SUMMARY_KEY] or "unknown"
            return f"<data URI {mime}, {len(value)} chars>"
        if len(value) > limit:
            return f"{value[:limit]}…(+{len(value) - limit} chars)"
        return value
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if not isinstance(value, (dict, list, tuple)):
        return value
    if depth <= 0:
        return "<nested>"
    items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
    kept = [(k, summarize_request(v, limit=limit, depth=depth - 1)) for k, v in items[:MAX_SUMMARY_ITEMS]]
    extra = f"…(+{len(items) - MAX_SUMMARY_ITEMS} items)" if len(items) > MAX_SUMMARY_ITEMS else None
    if isinstance(value, dict):
        summary = {summarize_request(str(k), limit=MAX_SUMMARY_KEY): v for k, v in kept}
        return {**summary, "…": extra} if extra else summary
    return [v for _, v in kept] + ([extra] if extra else [])


def _keep(name: str) -> Any:
    """``COALESCE(:name, column)``: the given value, or the stored one when ``None``."""
    return func.coalesce(bindparam(f"new_{name}"), tasks.c[name])


# One statement for every update, so concurrent ones share a batch; absolute values, so it is idempotent.
_UPDATE = update(tasks).where(BY_ID).values({
    **{name: _keep(name) for name in ("status", "progress", "account_id", "result", "error", "resume", "completed_at")},
    "updated_at": bindparam("new_updated_at"),
})
_INSERT = insert(tasks)
_RESUME = update(tasks).where(BY_ID)  # SET resume, updated_at
_ABANDON = update(tasks).where(BY_ID, tasks.c.status.in_(UNFINISHED))  # SET status, error, completed_at, updated_at
_DELETED = update(tasks).where(BY_ID)  # SET deleted_at
_RELEASE = update(tasks).where(BY_ID).values(idempotency_key=None)
# A finished row older than the cutoff, unless it is a video the Videos API may still serve (its MP4 is in the
# media cache: written at completion, kept [cache] timeout seconds). Every operand is NOT NULL (legacy rows have
# no surface or completed_at): with a NULL in it, NOT (…) would be NULL and the row kept forever.
_ENDED = func.coalesce(tasks.c.completed_at, tasks.c.updated_at)
_PRUNE = delete_batch(tasks, and_(
    tasks.c.status.in_((SUCCEEDED, FAILED)), _ENDED < bindparam("cutoff"),
    not_(and_(func.coalesce(tasks.c.surface, "") == VIDEOS_SURFACE, tasks.c.status == SUCCEEDED,
              tasks.c.deleted_at.is_(None), _ENDED >= bindparam("servable_since"))),
))


class IdempotencyConflict(Exception):
    """Another task of the same owner already holds this idempotency key; ``existing`` is that task."""

    def __init__(self, existing: TaskRecord) -> None:
        super().__init__(existing.id)
        self.existing = existing


class TaskRepository(TaskQueries):
    """Create, advance, list and soft-delete task rows (the reads: :class:`~flow2api.storage.task_queries.TaskQueries`).

    ``on_finished(task_id)`` is awaited after :meth:`update` stored ``completed`` or ``failed`` (the webhook
    outbox, :mod:`flow2api.jobs.webhooks`; it must not raise). ``instance`` (``[server] instance_id``) is
    stamped on every row created, as ``instance_id``.
    """

    def __init__(self, db: Database, instance: str | None = None) -> None:
        super().__init__(db)
        self._instance = instance
        self.on_finished: Callable[[str], Awaitable[None]] | None = None

    async def create(
        self,
        task_id: str,
        *,
        kind: str,
        model: str,
        prompt: str,
        api_key: str | None,
        api_key_id: int | None = None,
        surface: str | None = None,
        request: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        status: str = QUEUED,
        account_id: int | None = None,
        lease: tuple[str, float] | None = None,
    ) -> None:
        """Record an accepted generation before anything is sent upstream: ``queued``, or ``in_progress`` on
        ``account_id`` when the request already holds its account (one write instead of two). ``lease``
        ``(instance id, until Unix s)`` creates it held by that instance (:mod:`flow2api.storage.leases`).

        With an ``idempotency_key`` already used by the same owner, raises
        :class:`IdempotencyConflict` carrying the existing task (the caller decides
        whether the request is the same one). ``api_key`` is the caller's display
        name, never the key itself. The row is written in the database's group
        commit (:class:`~flow2api.storage.batcher.WriteBatcher`), on its own when
        it has a key (its conflict is its caller's alone); it returns once the
        row is stored, and raises ``sqlalchemy.exc.SQLAlchemyError``.
        """
        now = time.time()
        params = {
            "id": task_id, "kind": kind, "model": model, "prompt": prompt, "status": status, "account_id": account_id,
            "api_key": api_key, "api_key_id": api_key_id, "owner": owner_of(api_key_id), "surface": surface,
            "request": json.dumps(request) if request is not None else None, "idempotency_key": idempotency_key,
            "request_hash": request_hash, "created_at": now, "updated_at": now,
            # always both keys: rows of one executemany share their columns
            "lease_owner": lease[0] if lease else None, "lease_until": lease[1] if lease else None,
            "instance_id": self._instance,
        }
        if idempotency_key is None:
            # Nothing to conflict with (ids are unique): joins the group commit, which saves a trip and a commit
            # per request under load (issue 8). An error here is the batch's, e.g. a full disk.
            await self._db.writes.write(_INSERT, params)
            return
        try:
            await self._db.writes.write_one(_INSERT, params)
        except IntegrityError:
            # Its savepoint undid the failed INSERT alone; the rest of its batch is committed.
            existing = await self.find_idempotent(owner_of(api_key_id), idempotency_key)
            if existing is not None:
                raise IdempotencyConflict(existing) from None
            raise

    async def update(
        self,
        task_id: str,
        *,
        status: str | None = None,
        progress: float | None = None,
        account_id: int | None = None,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        resume: dict[str, Any] | None = None,
    ) -> None:
        """Advance a task; reaching ``completed`` or ``failed`` stamps ``completed_at``. ``None`` keeps a column.

        ``resume`` is the provider's :class:`~flow2api.plugin.Submitted` state.
        Runs in the database's group commit (:class:`~flow2api.storage.batcher.WriteBatcher`)
        and returns once stored; raises ``sqlalchemy.exc.SQLAlchemyError``.
        """
        now = time.time()
        await self._db.writes.write(_UPDATE, {
            "new_status": status, "new_progress": progress, "new_account_id": account_id,
            "new_result": json.dumps(result) if result is not None else None, "new_error": error,
            "new_resume": json.dumps(resume) if resume is not None else None,
            "new_completed_at": now if status in (SUCCEEDED, FAILED) else None, "new_updated_at": now,
            "task_id": task_id,
        }, idempotent=True)
        if status in (SUCCEEDED, FAILED) and self.on_finished is not None:
            await self.on_finished(task_id)

    async def record_resume(self, task_id: str, resume: dict[str, Any] | None) -> None:
        """Store the provider's :class:`~flow2api.plugin.Submitted` or :class:`~flow2api.plugin.Submitting`
        state now (``None`` clears it) and wait for its commit. Upstream has accepted (and charged for) the
        job, or is about to; the sooner this is stored, the smaller the window in which a crash makes it be
        submitted again (docs/reliability.md, crash drill): it joins the next batch of the group commit,
        which starts as soon as the one in the database's thread ends. Raises ``sqlalchemy.exc.SQLAlchemyError``."""
        await self._db.writes.write(_RESUME, {
            "resume": json.dumps(resume) if resume is not None else None, "updated_at": time.time(), "task_id": task_id,
        }, idempotent=True)

    async def abandon(self, task_id: str, error: str) -> None:
        """Mark the task ``failed`` with ``error`` if it is still ``queued`` or ``in_progress`` (a finished one,
        whose answer was written as the client left, keeps its outcome).

        In the group commit, so it runs after the row's creation even when the
        client left while that was still queued. Raises ``sqlalchemy.exc.SQLAlchemyError``."""
        now = time.time()
        await self._db.writes.write(_ABANDON, {
            "status": FAILED, "error": error, "completed_at": now, "updated_at": now, "task_id": task_id,
        }, idempotent=True)

    async def release_key(self, task_id: str) -> None:
        """Clear the task's ``idempotency_key`` (its job failed: the key may start a new one). Group commit."""
        await self._db.writes.write(_RELEASE, {"task_id": task_id}, idempotent=True)

    async def prune_before(self, cutoff: float, limit: int = 500, *, servable_since: float = 0.0) -> int:
        """Delete at most ``limit`` finished tasks (``completed`` or ``failed``) that ended before Unix time
        ``cutoff``; returns how many went (fewer than ``limit``: nothing more to delete now).

        Never a ``queued`` or ``in_progress`` row, and never a completed, not deleted Videos API task that ended
        at or after ``servable_since`` (Unix s): its file may still be in the media cache, so
        ``GET /v1/videos/{id}/content`` could still serve it. The caller passes ``now - [cache] timeout``, or ``0``
        when the cache keeps files forever (such videos then stay until deleted through the API). A row that
        predates ``completed_at`` counts from its ``updated_at``. Media files of a deleted task are left to the
        media cache's own TTL. One statement in the group commit; raises ``sqlalchemy.exc.SQLAlchemyError``.
        """
        params = {"cutoff": cutoff, "servable_since": servable_since, "limit": limit}
        return len(await self._db.writes.write_one(_PRUNE, params))

    async def mark_deleted(self, task_id: str) -> None:
        """Soft-delete a task: it disappears from the API, its row stays for statistics."""
        await self._db.writes.write(_DELETED, {"deleted_at": time.time(), "task_id": task_id}, idempotent=True)


_LOG = insert(request_logs)
_PRUNE_OLD = delete_batch(request_logs, request_logs.c.created_at < bindparam("cutoff"))
_PRUNE_EXTRA = delete_batch(request_logs, request_logs.c.id <= select(request_logs.c.id).order_by(
    request_logs.c.id.desc()).limit(1).offset(bindparam("keep", type_=Integer)).scalar_subquery())
_COUNT = select(func.count()).select_from(request_logs)


class RequestLogRepository:
    """The request log: one row per API request, no bodies, bounded by age and row count (pruned in batches)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self, *, request_id: str, method: str, path: str, status: int, duration_ms: float,
        model: str | None = None, account_id: int | None = None, api_key: str | None = None, error: str | None = None,
    ) -> None:
        """Queue one row (group commit, not awaited: see :meth:`flushed`); ``duration_ms`` in milliseconds,
        ``api_key`` is the key's display name, never the key."""
        self._db.writes.write_later(_LOG, {
            "request_id": request_id, "method": method, "path": path, "model": model, "status": status,
            "duration_ms": duration_ms, "account_id": account_id, "api_key": api_key,
            "error": summarize_request(error) if error else None, "created_at": time.time(),
        })

    async def flushed(self) -> None:
        """Wait until every row queued by :meth:`add` so far is stored (call before reading the table)."""
        await self._db.writes.flushed()

    async def prune_before(self, cutoff: float, limit: int = 500) -> int:
        """Delete at most ``limit`` rows logged before Unix time ``cutoff``; returns how many went (fewer than
        ``limit``: none is left). In the group commit, after every row queued before it; raises
        ``sqlalchemy.exc.SQLAlchemyError``. Run by the retention service (:mod:`flow2api.jobs.retention`)."""
        return len(await self._db.writes.write_one(_PRUNE_OLD, {"cutoff": cutoff, "limit": limit}))

    async def prune_beyond(self, keep: int, limit: int = 500) -> int:
        """Delete at most ``limit`` of the rows older than the newest ``keep``; returns how many went (fewer
        than ``limit``: at most ``keep`` rows are left). As :meth:`prune_before`."""
        return len(await self._db.writes.write_one(_PRUNE_EXTRA, {"keep": keep, "limit": limit}))

    async def count(self) -> int:
        """Rows in the request log."""
        await self.flushed()
        return (await self._db.fetch_one(_COUNT))[0]

TASKS: Final = web.AppKey("tasks", TaskRepository)
REQUEST_LOGS: Final = web.AppKey("request_logs", RequestLogRepository)
