"""The dashboard lists the live instances and marks the one answering (issue 17 item 6), over HTTP, no browser."""

from __future__ import annotations

import re
from collections.abc import Callable

from flow2api.testing import AdminSite, FakeWorld


def instance_rows(page: str) -> list[str]:
    """The rows of the dashboard's instances table, tags stripped, whitespace collapsed."""
    table = re.search(r'<table class="grid" id="instances">(.*?)</table>', page, re.S)
    assert table, "no instances table on the dashboard"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1).split("</thead>", 1)[1], re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


async def test_the_dashboard_lists_live_instances_and_marks_this_one(
    fake: FakeWorld, admin_clients: Callable[..., AdminSite],
) -> None:
    jobs = {"lease_seconds": 5}
    a = await fake.start(server={"instance_id": "inst-a"}, jobs=jobs)
    b = await fake.start(server={"instance_id": "inst-b"}, jobs=jobs)  # same data directory: one SQLite database
    site = await admin_clients(b).log_in()
    status, page, _ = await site.client.get("/admin/")
    assert status == 200
    rows = instance_rows(page)
    assert len(rows) == 2 and rows[0].startswith("inst-a ") and rows[1].startswith("inst-b this instance ")
    assert "this instance" not in rows[0]
    status, body, _ = await site.client.api("GET", "/api/overview")
    assert status == 200
    assert [(i["instance_id"], i["this"]) for i in body["instances"]] == [("inst-a", False), ("inst-b", True)]
    assert all(i["started_at"] <= i["last_seen"] and i["pid"] > 0 and i["host"] for i in body["instances"])

    await a.server.close()  # a clean stop: gone from the list at once
    _, page, _ = await site.client.get("/admin/")
    assert [row.split()[0] for row in instance_rows(page)] == ["inst-b"]
