"""Queries of the ``tasks`` table (every accepted generation, from acceptance to its end) and of ``request_logs``.

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
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from flow2api.storage.database import Database

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "in_progress", "completed", "failed"
UNFINISHED = (QUEUED, RUNNING)

MAX_SUMMARY_STRING = 500
MAX_SUMMARY_ITEMS = 50


def owner_of(key_id: int | None) -> str:
    """The ``owner`` value of a caller: ``"global"`` for the settings' key (no id), else ``"key:<id>"``."""
    return "global" if key_id is None else f"key:{key_id}"


def summarize_request(value: Any, *, limit: int = MAX_SUMMARY_STRING) -> Any:
    """A bounded copy of a client request for logs: images become references, long strings are cut.

    ``data:`` URIs become ``"<data URI image/png, 12345 chars>"``; other strings
    longer than ``limit`` characters keep their start and say how much was cut;
    lists keep their first 50 items. Keys and numbers are kept as they are.
    """
    if isinstance(value, str):
        if value.startswith("data:"):
            mime = value[5:].split(";", 1)[0].split(",", 1)[0] or "unknown"
            return f"<data URI {mime}, {len(value)} chars>"
        if len(value) > limit:
            return f"{value[:limit]}…(+{len(value) - limit} chars)"
        return value
    if isinstance(value, dict):
        return {str(k): summarize_request(v, limit=limit) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [summarize_request(v, limit=limit) for v in value[:MAX_SUMMARY_ITEMS]]
        if len(value) > MAX_SUMMARY_ITEMS:
            items.append(f"…(+{len(value) - MAX_SUMMARY_ITEMS} items)")
        return items
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    return value


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

    @property
    def finished(self) -> bool:
        """True once the task is ``completed`` or ``failed``."""
        return self.status in (SUCCEEDED, FAILED)


_JSON_COLUMNS = ("result", "resume", "request")
# One statement text for every update, so concurrent ones share a batch; absolute values, so it is idempotent.
_UPDATE = (
    "UPDATE tasks SET status = COALESCE(?, status), progress = COALESCE(?, progress),"
    " account_id = COALESCE(?, account_id), result = COALESCE(?, result), error = COALESCE(?, error),"
    " resume = COALESCE(?, resume), completed_at = COALESCE(?, completed_at), updated_at = ? WHERE id = ?"
)


_INSERT = (
    "INSERT INTO tasks (id, kind, model, prompt, status, account_id, api_key, api_key_id, owner, surface,"
    " request, idempotency_key, request_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _record(row: Any) -> TaskRecord:
    data = dict(row)
    for name in _JSON_COLUMNS:
        data[name] = json.loads(data[name]) if data.get(name) else None
    return TaskRecord(**data)


class IdempotencyConflict(Exception):
    """Another task of the same owner already holds this idempotency key; ``existing`` is that task."""

    def __init__(self, existing: TaskRecord) -> None:
        super().__init__(existing.id)
        self.existing = existing


class TaskRepository:
    """Create, advance, list and soft-delete task rows."""

    def __init__(self, db: Database) -> None:
        self._db = db

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
    ) -> None:
        """Record an accepted generation before anything is sent upstream: ``queued``, or ``in_progress`` on
        ``account_id`` when the request already holds its account (one write instead of two).

        With an ``idempotency_key`` already used by the same owner, raises
        :class:`IdempotencyConflict` carrying the existing task (the caller decides
        whether the request is the same one). ``api_key`` is the caller's display
        name, never the key itself. The row is written in the database's group
        commit (:class:`~flow2api.storage.batcher.WriteBatcher`), on its own when
        it has a key (its conflict is its caller's alone); it returns once the
        row is stored, and raises ``sqlite3.Error``.
        """
        now = time.time()
        params = (
            task_id, kind, model, prompt, status, account_id, api_key, api_key_id, owner_of(api_key_id), surface,
            json.dumps(request) if request is not None else None, idempotency_key, request_hash, now, now,
        )
        if idempotency_key is None:
            # Nothing to conflict with (ids are unique): joins the group commit, which saves a trip and a commit
            # per request under load (issue 8). An error here is the batch's, e.g. a full disk.
            await self._db.writes.write(_INSERT, params)
            return
        try:
            await self._db.writes.write_one(_INSERT, params)
        except sqlite3.IntegrityError:
            # SQLite undid the failed INSERT alone; the rest of its batch is committed.
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
        and returns once stored; raises ``sqlite3.Error``.
        """
        now = time.time()
        await self._db.writes.write(_UPDATE, (
            status, progress, account_id,
            json.dumps(result) if result is not None else None, error,
            json.dumps(resume) if resume is not None else None,
            now if status in (SUCCEEDED, FAILED) else None, now, task_id,
        ), idempotent=True)

    async def record_resume(self, task_id: str, resume: dict[str, Any] | None) -> None:
        """Store the provider's :class:`~flow2api.plugin.Submitted` or :class:`~flow2api.plugin.Submitting`
        state now (``None`` clears it) and wait for its commit. Upstream has accepted (and charged for) the
        job, or is about to; the sooner this is stored, the smaller the window in which a crash makes it be
        submitted again (docs/reliability.md, crash drill): it joins the next batch of the group commit,
        which starts as soon as the one in the database's thread ends. Raises ``sqlite3.Error``."""
        await self._db.writes.write("UPDATE tasks SET resume = ?, updated_at = ? WHERE id = ?",
                                    (json.dumps(resume) if resume is not None else None, time.time(), task_id),
                                    idempotent=True)

    async def abandon(self, task_id: str, error: str) -> None:
        """Mark the task ``failed`` with ``error`` if it is still ``queued`` or ``in_progress`` (a finished one,
        whose answer was written as the client left, keeps its outcome).

        In the group commit, so it runs after the row's creation even when the
        client left while that was still queued. Raises ``sqlite3.Error``."""
        now = time.time()
        await self._db.writes.write(
            "UPDATE tasks SET status = ?, error = ?, completed_at = ?, updated_at = ? WHERE id = ? AND status IN (?, ?)",
            (FAILED, error, now, now, task_id, *UNFINISHED), idempotent=True,
        )

    async def fail_interrupted(self, *, keep_surface: str, before: float, error: str) -> int:
        """Mark ``failed`` with ``error`` every unfinished task created before Unix time ``before`` whose surface
        is not ``keep_surface`` (the background runner's, which resumes its own); returns how many.

        Such a row belonged to an HTTP request of a process that is gone (``kill -9``, a crash): nobody
        will ever finish it. Raises ``sqlite3.Error``."""
        now = time.time()
        rows = await self._db.writes.write_one(
            "UPDATE tasks SET status = ?, error = ?, completed_at = ?, updated_at = ?"
            " WHERE status IN (?, ?) AND surface IS NOT ? AND created_at < ? RETURNING id",
            (FAILED, error, now, now, *UNFINISHED, keep_surface, before),
        )
        return len(rows)

    async def get(self, task_id: str) -> TaskRecord | None:
        """The task, or ``None`` (deleted ones included)."""
        row = await self._db.fetch_one("SELECT * FROM tasks WHERE id = ?", (task_id,))
        return _record(row) if row is not None else None

    async def find_idempotent(self, owner: str, idempotency_key: str) -> TaskRecord | None:
        """The owner's task created with ``idempotency_key``, or ``None``."""
        row = await self._db.fetch_one("SELECT * FROM tasks WHERE owner = ? AND idempotency_key = ?",
                                       (owner, idempotency_key))
        return _record(row) if row is not None else None

    async def unfinished(self, surface: str) -> list[TaskRecord]:
        """Tasks of ``surface`` still ``queued`` or ``in_progress`` and not deleted, oldest first (restart resume)."""
        rows = await self._db.fetch_all(
            "SELECT * FROM tasks WHERE surface = ? AND status IN (?, ?) AND deleted_at IS NULL ORDER BY created_at, id",
            (surface, *UNFINISHED),
        )
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
        where = "owner = ? AND surface = ? AND deleted_at IS NULL"
        params: list[Any] = [owner, surface]
        cursor = await self.get(after) if after else None
        if cursor is not None and cursor.owner == owner:
            op = "<" if descending else ">"
            where += f" AND (created_at {op} ? OR (created_at = ? AND id {op} ?))"
            params += [cursor.created_at, cursor.created_at, cursor.id]
        direction = "DESC" if descending else "ASC"
        rows = [_record(row) for row in await self._db.fetch_all(
            f"SELECT * FROM tasks WHERE {where} ORDER BY created_at {direction}, id {direction} LIMIT ?",
            (*params, limit + 1),
        )]
        return rows[:limit], len(rows) > limit

    async def mark_deleted(self, task_id: str) -> None:
        """Soft-delete a task: it disappears from the API, its row stays for statistics."""
        await self._db.writes.write("UPDATE tasks SET deleted_at = ? WHERE id = ?", (time.time(), task_id),
                                    idempotent=True)


class RequestLogRepository:
    """The request log: one row per API request, no bodies, bounded by age and row count."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self, *, request_id: str, method: str, path: str, status: int, duration_ms: float,
        model: str | None = None, account_id: int | None = None, api_key: str | None = None, error: str | None = None,
    ) -> None:
        """Queue one row (group commit, not awaited: see :meth:`flushed`); ``duration_ms`` in milliseconds,
        ``api_key`` is the key's display name, never the key."""
        self._db.writes.write_later(
            "INSERT INTO request_logs (request_id, method, path, model, status, duration_ms, account_id, api_key,"
            " error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (request_id, method, path, model, status, duration_ms, account_id, api_key,
             summarize_request(error) if error else None, time.time()),
        )

    async def flushed(self) -> None:
        """Wait until every row queued by :meth:`add` so far is stored (call before reading the table)."""
        await self._db.writes.flushed()

    async def prune(self, *, max_age_s: float = 0, max_rows: int = 0) -> int:
        """Delete rows older than ``max_age_s`` seconds and all but the newest ``max_rows``; returns rows deleted.

        ``0`` turns a limit off. Run periodically (the app's request-log janitor).
        """
        removed = 0
        if max_age_s:  # in the group commit, after every row queued before it
            cutoff = time.time() - max_age_s
            removed += len(await self._db.writes.write_one(
                "DELETE FROM request_logs WHERE created_at < ? RETURNING id", (cutoff,),
            ))
        if max_rows:
            removed += len(await self._db.writes.write_one(
                "DELETE FROM request_logs WHERE id <= (SELECT id FROM request_logs ORDER BY id DESC LIMIT 1 OFFSET ?)"
                " RETURNING id",
                (max_rows,),
            ))
        return removed

    async def count(self) -> int:
        """Rows in the request log."""
        await self.flushed()
        return (await self._db.fetch_one("SELECT COUNT(*) FROM request_logs"))[0]

TASKS: Final = web.AppKey("tasks", TaskRepository)
REQUEST_LOGS: Final = web.AppKey("request_logs", RequestLogRepository)
