"""The instances table (issue 17 item 6): heartbeat rows, liveness, and which unfinished rows a start-up fails."""

from __future__ import annotations

import time

from flow2api.storage import Database
from flow2api.storage.instances import InstanceRecord, InstanceRepository
from flow2api.storage.tasks import FAILED, QUEUED, RUNNING, SUCCEEDED, TaskRepository

LEASE = 30.0


def record(instance_id: str, *, started: float, seen: float) -> InstanceRecord:
    return InstanceRecord(instance_id=instance_id, host="host-1", pid=42, version="0.1.0", started_at=started,
                          last_seen=seen)


async def test_a_beat_upserts_and_liveness_is_last_seen_within_the_lease(db: Database) -> None:
    repo = InstanceRepository(db)
    now = time.time()
    await repo.beat(record("a", started=now - 100, seen=now - 100))
    await repo.beat(record("b", started=now - 50, seen=now))
    assert [i.instance_id for i in await repo.live(since=now - LEASE)] == ["b"]
    # A restart under the same id takes its row over (new start, new pid); it is live again.
    await repo.beat(InstanceRecord("a", "host-2", 7, "0.2.0", started_at=now - 1, last_seen=now))
    live = await repo.live(since=now - LEASE)
    assert [(i.instance_id, i.host, i.pid, i.version, i.started_at) for i in live] == [
        ("b", "host-1", 42, "0.1.0", now - 50), ("a", "host-2", 7, "0.2.0", now - 1)]  # oldest start first
    await repo.remove("b")
    assert [i.instance_id for i in await repo.live(since=now - LEASE)] == ["a"]
    await repo.beat(record("gone", started=now - 9000, seen=now - 9000))
    assert await repo.prune(before=now - 3600) == 1
    assert [i.instance_id for i in await repo.live(since=0)] == ["a"]


async def test_only_rows_of_this_id_before_its_start_and_of_instances_not_live_are_failed(db: Database) -> None:
    repo = InstanceRepository(db)
    now = time.time()
    await repo.beat(record("me", started=now, seen=now))
    await repo.beat(record("live", started=now - 60, seen=now - 1))
    await repo.beat(record("stale", started=now - 600, seen=now - LEASE - 5))

    async def create(instance: str | None, task_id: str, surface: str = "chat", status: str = RUNNING) -> None:
        await TaskRepository(db, instance).create(task_id, kind="image", model="m", prompt="p", api_key=None,
                                                  surface=surface, status=status)

    await create("me", "mine-before")
    await create("live", "of-live")
    await create("live", "of-live-queued", surface="images", status=QUEUED)
    await create("stale", "of-stale")
    await create("never-registered", "of-unknown", surface="gemini")
    await create(None, "legacy")  # written before revision 0006: no instance
    await create("stale", "video-of-stale", surface="videos")  # the runner takes it over under its lease
    await create("stale", "finished")
    await TaskRepository(db).update("finished", status=SUCCEEDED)
    started = time.time()  # "me" started after its first row: that one is a previous process's
    await create("me", "mine-after")
    await create(None, "legacy-after")  # an instance of the old version, still running: its new rows are kept

    failed = await repo.fail_orphaned("me", started=started, live_since=now - LEASE, keep_surface="videos",
                                      error="server_restarted: gone")
    assert sorted(failed) == ["legacy", "mine-before", "of-stale", "of-unknown"]
    tasks = TaskRepository(db)
    for task_id in failed:
        row = await tasks.get(task_id)
        assert row.status == FAILED and row.error == "server_restarted: gone" and row.completed_at is not None
    for task_id, status in (("of-live", RUNNING), ("of-live-queued", QUEUED), ("video-of-stale", RUNNING),
                            ("finished", SUCCEEDED), ("mine-after", RUNNING), ("legacy-after", RUNNING)):
        assert (await tasks.get(task_id)).status == status, task_id
    assert (await tasks.get("of-live")).instance_id == "live"
    # Once "live" stops beating, its rows are the next sweep's.
    later = now + LEASE + 1
    failed = await repo.fail_orphaned("me", started=started, live_since=later - LEASE, keep_surface="videos",
                                      error="server_restarted: gone")
    assert sorted(failed) == ["of-live", "of-live-queued"]
