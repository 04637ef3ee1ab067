"""The task repository (ownership, idempotency, pagination, summaries) and the daily usage table."""

from __future__ import annotations

import json

import pytest

from flow2api.storage import Database
from flow2api.storage.tasks import IdempotencyConflict, TaskRepository, owner_of, summarize_request
from flow2api.storage.usage import UsageRepository


async def test_idempotency_keys_are_unique_per_owner(db: Database) -> None:
    tasks = TaskRepository(db)
    common = {"kind": "video", "model": "m", "prompt": "p", "surface": "videos", "idempotency_key": "k1"}
    await tasks.create("a", api_key="global", request_hash="h1", **common)
    with pytest.raises(IdempotencyConflict) as err:
        await tasks.create("b", api_key="global", request_hash="h2", **common)
    assert err.value.existing.id == "a" and err.value.existing.request_hash == "h1"
    await tasks.create("c", api_key="team", api_key_id=7, request_hash="h1", **common)  # another owner
    assert (await tasks.find_idempotent(owner_of(7), "k1")).id == "c"
    assert await tasks.get("b") is None


async def test_pages_are_per_owner_and_surface_and_skip_deleted(db: Database) -> None:
    tasks = TaskRepository(db)
    for i in range(5):
        await tasks.create(f"v{i}", kind="video", model="m", prompt="p", api_key="global", surface="videos")
    await tasks.create("chat1", kind="image", model="m", prompt="p", api_key="global", surface="chat")
    await tasks.create("other", kind="video", model="m", prompt="p", api_key="x", api_key_id=3, surface="videos")
    await tasks.mark_deleted("v2")
    page, more = await tasks.page(owner="global", surface="videos", limit=2)
    assert [t.id for t in page] == ["v4", "v3"] and more
    page, more = await tasks.page(owner="global", surface="videos", after="v3", limit=2)
    assert [t.id for t in page] == ["v1", "v0"] and not more
    page, _ = await tasks.page(owner="global", surface="videos", order="asc", after="v0", limit=10)
    assert [t.id for t in page] == ["v1", "v3", "v4"]
    assert [t.id for t in await tasks.unfinished("videos")] == ["v0", "v1", "v3", "v4", "other"]


def test_summaries_replace_images_and_cut_long_text() -> None:
    body = {"prompt": "x" * 1000, "images": ["data:image/jpeg;base64," + "A" * 5000] * 60, "n": 2, "raw": b"abc"}
    summary = summarize_request(body)
    assert summary["prompt"].startswith("x" * 500) and summary["prompt"].endswith("…(+500 chars)")
    assert summary["images"][0] == "<data URI image/jpeg, 5023 chars>"
    assert len(summary["images"]) == 51 and summary["images"][-1] == "…(+10 items)"
    assert summary["n"] == 2 and summary["raw"] == "<3 bytes>"



def test_summaries_bound_objects_of_any_width_depth_and_key_length() -> None:
    """Unknown fields are kept by the typed models, so a client picks the summary's shape: it stays small."""
    nested: dict = {"leaf": "x"}
    for _ in range(40):
        nested = {"deeper": nested}
    body = {"prompt": "p", "junk": {f"k{i}": i for i in range(10_000)}, "k" * 5000: 1, "nested": nested}
    summary = summarize_request(body)
    assert len(summary["junk"]) == 51 and summary["junk"]["…"] == "…(+9950 items)"
    assert max(len(key) for key in summary) < 200
    assert "<nested>" in json.dumps(summary) and len(json.dumps(summary)) < 5000

async def test_usage_upserts_per_day_account_key_model(db: Database) -> None:
    usage = UsageRepository(db)
    day1, day2 = 1_700_000_000.0, 1_700_000_000.0 + 86400
    for at, ok in ((day1, True), (day1, False), (day2, True)):
        usage.record(account_id=1, api_key_id=None, api_key=None, model="m", kind="image", ok=ok, outputs=2,
                           duration_ms=100, at=at)
    usage.record(account_id=2, api_key_id=5, api_key="team", model="v", kind="video", ok=True, outputs=1, at=day1)
    per_day = await usage.daily(group_by=("day",))
    assert [(r.group["day"], r.attempts, r.succeeded, r.failed, r.outputs) for r in per_day] == [
        ("2023-11-14", 3, 2, 1, 3), ("2023-11-15", 1, 1, 0, 2)]
    per_key = {r.group["api_key"]: r.attempts for r in await usage.daily(group_by=("api_key",))}
    assert per_key == {"global": 3, "team": 1}
    assert [r.group for r in await usage.daily(group_by=("model",), account_id=2)] == [{"model": "v"}]
    assert (await usage.daily(group_by=(), since="2023-11-15"))[0].attempts == 1
    with pytest.raises(ValueError):
        await usage.daily(group_by=("password",))
