"""The background storage probe of ``/health`` (:class:`flow2api.api.health.StorageProbe`) on a real SQLite
database: it stops when cancelled, whenever the cancel lands — also in the instant its ``SELECT 1`` answers.

Python 3.11's ``asyncio.wait_for`` returns the inner result and drops the cancellation when both happen in
the same loop iteration; the probe then slept and probed on, and the app's cleanup waited for it forever
(the full suite hung in ``TestServer.close``: ``Task cancelling name='storage-probe'``).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from flow2api.api.health import StorageProbe
from flow2api.storage import Database


async def test_the_probe_stops_on_cancel_at_any_moment_of_its_select(tmp_path: Path) -> None:
    database = Database(tmp_path / "flow2api.db")
    await database.open()
    stuck = 0
    try:
        for round_ in range(300):
            probe = StorageProbe()
            task = asyncio.create_task(probe.run(database))
            for _ in range(round_ % 30):  # cancel after 0-29 loop iterations: before, during and after the SELECT
                await asyncio.sleep(0)
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=1)
            if not done:  # the cancel was lost: stop the probe for good, count the round
                stuck += 1
                while not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                        await asyncio.wait_for(asyncio.shield(task), 0.1)
            else:
                assert task.cancelled()
    finally:
        await database.close()
    assert stuck == 0, f"the probe ignored {stuck} of 300 cancels"
