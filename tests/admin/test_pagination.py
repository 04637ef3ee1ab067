"""The admin task list and request log are pages of 50 with working Newer/Older links (issue 18, finding 6: with
the table never pruned, ``/admin/tasks`` had grown into a 69 MB page)."""

from __future__ import annotations

import asyncio
import html
import re

from sqlalchemy import insert

from flow2api.storage import DATABASE, Database
from flow2api.storage.schema import request_logs, tasks
from flow2api.testing import AdminSite

_TASK_IDS = re.compile(r"<code>(t-\d+)</code>")
_LOG_IDS = re.compile(r"<code>(r-\d+)</code>")
_LINK = re.compile(r'<a href="([^"]+)" rel="(prev|next)">')
_TASK_ROW, _LOG_ROW = insert(tasks), insert(request_logs)  # one statement each: the writes share a batch


async def _tasks(db: Database, count: int, *, prompt: str = "p") -> None:
    await asyncio.gather(*(db.writes.write(_TASK_ROW, {
        "id": f"t-{i:04d}", "kind": "image", "model": "m", "prompt": prompt, "status": "failed" if i % 2 else
        "completed", "api_key": "global", "surface": "chat", "created_at": 1_000 + i, "updated_at": 1_000 + i,
        "completed_at": 1_000 + i,
    }) for i in range(count)))


def _links(text: str) -> dict[str, str]:
    return {"newer" if rel == "prev" else "older": html.unescape(href) for href, rel in _LINK.findall(text)}


async def test_task_list_is_paginated_with_working_links(admin: AdminSite) -> None:
    db = admin.gateway.app[DATABASE]
    await _tasks(db, 2000)
    status, text, _ = await admin.client.get("/admin/tasks")
    assert status == 200
    ids = _TASK_IDS.findall(text)
    assert ids == [f"t-{i:04d}" for i in range(1999, 1949, -1)]  # the newest 50, newest first
    links = _links(text)
    assert set(links) == {"older"} and "before=t-1950" in links["older"]

    _, second, _ = await admin.client.get(links["older"])
    assert _TASK_IDS.findall(second) == [f"t-{i:04d}" for i in range(1949, 1899, -1)]
    back = _links(second)
    assert "after=t-1949" in back["newer"]
    _, first, _ = await admin.client.get(back["newer"])
    assert _TASK_IDS.findall(first) == ids

    # Filters are kept across pages: failed tasks are the odd ones.
    _, failed, _ = await admin.client.get("/admin/tasks?status=failed")
    older = _links(failed)["older"]
    assert "status=failed" in older
    _, failed2, _ = await admin.client.get(older)
    assert _TASK_IDS.findall(failed2) == [f"t-{i:04d}" for i in range(1899, 1799, -2)]

    # Walking to the end: 40 pages of 50, the last without an "Older" link.
    page, seen = "/admin/tasks", 0
    for _ in range(41):
        _, text, _ = await admin.client.get(page)
        seen += len(_TASK_IDS.findall(text))
        if "older" not in _links(text):
            break
        page = _links(text)["older"]
    assert seen == 2000 and _TASK_IDS.findall(text)[-1] == "t-0000"


async def test_task_page_stays_small_whatever_the_rows_hold(admin: AdminSite) -> None:
    await _tasks(admin.gateway.app[DATABASE], 60, prompt="x" * 200_000)  # rows from before max_prompt_chars
    _, text, _ = await admin.client.get("/admin/tasks")
    assert len(_TASK_IDS.findall(text)) == 50 and len(text) < 150_000
    status, body, _ = await admin.client.api("GET", "/api/tasks")
    assert status == 200 and len(body["data"]) == 50 and len(body["data"][0]["prompt"]) == 500
    assert body["older"] == "t-0010" and body["newer"] is None
    _, rest, _ = await admin.client.api("GET", f"/api/tasks?before={body['older']}")
    assert [t["id"] for t in rest["data"]] == [f"t-{i:04d}" for i in range(9, -1, -1)] and rest["older"] is None


async def test_request_log_is_paginated(admin: AdminSite) -> None:
    db = admin.gateway.app[DATABASE]
    await asyncio.gather(*(db.writes.write(_LOG_ROW, {
        "request_id": f"r-{i:04d}", "method": "GET", "path": "/v1/models", "status": 200, "duration_ms": 1.0,
        "created_at": 2_000_000_000 + i,
    }) for i in range(120)))
    _, text, _ = await admin.client.get("/admin/logs?key=")
    assert _LOG_IDS.findall(text)[:50] == [f"r-{i:04d}" for i in range(119, 69, -1)]
    assert len(re.findall(r"<tr>", text)) == 51  # 50 rows and the header
    _, second, _ = await admin.client.get(_links(text)["older"])
    assert _LOG_IDS.findall(second) == [f"r-{i:04d}" for i in range(69, 19, -1)]
    _, third, _ = await admin.client.get(_links(second)["older"])
    assert _LOG_IDS.findall(third) == [f"r-{i:04d}" for i in range(19, -1, -1)]
    assert "older" not in _links(third) and "key=" in _links(third)["newer"]
    status, body, _ = await admin.client.api("GET", "/api/logs?before=abc")
    assert status == 400 and body["error"]["param"] == "before"
