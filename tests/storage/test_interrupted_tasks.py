"""Task rows a killed process left running are closed at the next start-up (issue 18, item 13)."""

from __future__ import annotations

from pathlib import Path

from flow2api.jobs.instances import INSTANCES
from flow2api.storage import Database
from flow2api.storage.tasks import FAILED, QUEUED, RUNNING, SUCCEEDED, TASKS, TaskRepository
from flow2api.testing import FakeWorld


async def test_rows_left_in_progress_by_a_crash_are_failed_at_start_up(fake: FakeWorld, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # What a `kill -9` leaves: rows written as a request started, never finished.
    database = Database(data_dir / "flow2api.db")
    await database.open()
    before = TaskRepository(database)
    await before.create("img-1", kind="image", model="m", prompt="p", api_key=None, surface="images",
                        status=RUNNING, account_id=1)
    await before.create("chat-1", kind="image", model="m", prompt="p", api_key=None, surface="chat")
    await before.create("done-1", kind="image", model="m", prompt="p", api_key=None, surface="chat")
    await before.update("done-1", status=SUCCEEDED)
    await before.create("vid-1", kind="video", model="m", prompt="p", api_key=None, surface="videos")
    await before.mark_deleted("vid-1")  # the runner leaves it alone: so must the sweep (videos are resumed)
    await database.close()

    gw = await fake.start(storage={"data_dir": str(data_dir)})
    tasks = gw.app[TASKS]
    for task_id in ("img-1", "chat-1"):
        record = await tasks.get(task_id)
        assert record.status == FAILED and record.error.startswith("server_restarted")
        assert record.completed_at is not None
    assert (await tasks.get("done-1")).status == SUCCEEDED
    assert (await tasks.get("vid-1")).status == QUEUED
    # A request of the new process is not touched by a later sweep.
    await tasks.create("img-2", kind="image", model="m", prompt="p", api_key=None, surface="images", status=RUNNING)
    assert await gw.app[INSTANCES].fail_interrupted() == 0
    assert (await tasks.get("img-2")).status == RUNNING
