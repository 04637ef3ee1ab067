"""Queries of the ``tasks`` table: every accepted generation, from acceptance to its end."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from flow2api.storage.database import Database

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "in_progress", "completed", "failed"


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """One generation task. ``result`` is a JSON-able dict (media URLs …); times are Unix seconds."""

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


class TaskRepository:
    """Create and advance task rows."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, task_id: str, *, kind: str, model: str, prompt: str, api_key: str | None) -> None:
        """Record an accepted generation as ``queued`` before anything is sent upstream."""
        now = time.time()
        await self._db.conn.execute(
            "INSERT INTO tasks (id, kind, model, prompt, status, api_key, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (task_id, kind, model, prompt, QUEUED, api_key, now, now),
        )
        await self._db.conn.commit()

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
        """Advance a task; reaching ``completed`` or ``failed`` stamps ``completed_at``.

        ``resume`` is the provider's :class:`~flow2api.plugin.Submitted` state.
        """
        now = time.time()
        sets = {"updated_at": now}
        if status is not None:
            sets["status"] = status
            if status in (SUCCEEDED, FAILED):
                sets["completed_at"] = now
        if progress is not None:
            sets["progress"] = progress
        if account_id is not None:
            sets["account_id"] = account_id
        if result is not None:
            sets["result"] = json.dumps(result)
        if error is not None:
            sets["error"] = error
        if resume is not None:
            sets["resume"] = json.dumps(resume)
        assignments = ", ".join(f"{k} = ?" for k in sets)
        await self._db.conn.execute(f"UPDATE tasks SET {assignments} WHERE id = ?", (*sets.values(), task_id))
        await self._db.conn.commit()

    async def get(self, task_id: str) -> TaskRecord | None:
        """The task, or ``None``."""
        async with self._db.conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        data = dict(row)
        data["result"] = json.loads(data["result"]) if data["result"] else None
        data["resume"] = json.loads(data["resume"]) if data["resume"] else None
        return TaskRecord(**data)


class RequestLogRepository:
    """Append-only request log (one row per API request; bodies are not stored)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, *, request_id: str, method: str, path: str, status: int, duration_ms: float,
        model: str | None = None, account_id: int | None = None, api_key: str | None = None, error: str | None = None,
    ) -> None:
        """Append one row; ``duration_ms`` in milliseconds, ``api_key`` is the key's display name, never the key."""
        await self._db.conn.execute(
            "INSERT INTO request_logs (request_id, method, path, model, status, duration_ms, account_id, api_key,"
            " error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (request_id, method, path, model, status, duration_ms, account_id, api_key, error, time.time()),
        )
        await self._db.conn.commit()
