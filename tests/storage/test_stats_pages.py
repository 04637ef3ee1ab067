"""The admin lists' keyset cursors and previews (:class:`~flow2api.storage.stats.StatsRepository`) on SQLite and
PostgreSQL: pages follow ``(created_at, id)`` even where many tasks share one ``created_at``."""

from __future__ import annotations

import asyncio

from sqlalchemy import insert

from flow2api.storage import Database
from flow2api.storage.schema import request_logs, tasks
from flow2api.storage.stats import PREVIEW_CHARS, StatsRepository

_TASK, _LOG = insert(tasks), insert(request_logs)


async def test_task_and_log_cursors_page_both_ways(db: Database) -> None:
    await asyncio.gather(*(db.writes.write(_TASK, {
        "id": f"t{i:02d}", "kind": "image", "model": "m", "prompt": "x" * 2000, "status": "completed",
        "created_at": 100 + i // 4, "updated_at": 100, "error": "e" * 2000,  # four tasks per second
    }) for i in range(20)))
    stats = StatsRepository(db)
    first = await stats.tasks(limit=6)
    assert [r["id"] for r in first] == [f"t{i:02d}" for i in range(19, 13, -1)]
    assert len(first[0]["prompt"]) == PREVIEW_CHARS and len(first[0]["error"]) == PREVIEW_CHARS
    older = await stats.tasks(limit=6, before="t14")
    assert [r["id"] for r in older] == [f"t{i:02d}" for i in range(13, 7, -1)]
    newer = await stats.tasks(limit=3, after="t13")
    assert [r["id"] for r in newer] == ["t16", "t15", "t14"]  # the three nearest, newest first
    assert [r["id"] for r in await stats.tasks(limit=3, before="gone")] == ["t19", "t18", "t17"]

    await asyncio.gather(*(db.writes.write(_LOG, {
        "request_id": f"r{i}", "method": "GET", "path": "/", "status": 200, "duration_ms": 1.0, "created_at": 1.0,
    }) for i in range(10)))
    ids = [r["id"] for r in await stats.request_logs(limit=10)]
    assert [r["id"] for r in await stats.request_logs(limit=3, before=ids[2])] == ids[3:6]
    assert [r["id"] for r in await stats.request_logs(limit=2, after=ids[5])] == ids[3:5]
