"""The ``kill -9`` drill of the Videos API, shared by the provider families' reliability tests.

``flow2api serve`` runs as a child process with a family's two accounts and room for every job at once
(``[generation] video_workers``); :func:`crash_drill` sends ``jobs`` ``POST /v1/videos`` with distinct prompts,
SIGKILLs the server (no shutdown code runs) once upstream accepted ``kill_after`` submits, and starts a new
server on the same data directory. Required, within bounded waits: every job ends ``completed`` and its MP4
is served by ``GET /v1/videos/{id}/content``; upstream received a submit for every prompt (none lost); the
server's log holds none of the family's secrets nor the API key. What was submitted twice is returned in
the :class:`Outcome` for the family's test to judge (what a family can promise differs: docs/reliability.md).

Each family's test builds a :class:`CrashTarget` on its own emulator (videofx:
plugins/videofx/tests/gateway/reliability/test_crash_restart.py, flowweb:
plugins/flowweb/tests/test_flowweb_crash_restart.py). Imports no provider plugin.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from flow2api.storage import Database
from flow2api.storage.tasks import TaskRepository
from flow2api.testing.processes import free_port, spawn_cli, stop, wait_ready, write_config

API_KEY = "drill-crash-key-0123456789"
#: Jobs created by one drill.
JOBS = 100


@dataclass
class CrashTarget:
    """One provider family's side of the drill: its emulator, settings, accounts and upstream's record of work."""

    name: str
    model: str
    sections: dict[str, dict[str, Any]]  # settings sections pointing the family at its emulator
    accounts: list[tuple[str, ...]]  # ``flow2api accounts add`` arguments, one tuple per account
    secrets: list[str]  # what must never reach the server's log
    generated: Callable[[], list[str]]  # the prompt of every video upstream accepted (and charged for)


@dataclass
class Outcome:
    """What a drill saw: prompts upstream generated more than once, and at the kill (from the database) the
    prompts with a stored ``Submitted`` state and those only checkpointed (``Submitting``) whose submit had
    reached upstream anyway."""

    twice: dict[str, int]
    recorded: set[str]
    checkpointed_and_arrived: set[str]


async def crash_drill(tmp_path: Path, target: CrashTarget, *, kill_after: int, jobs: int = JOBS) -> Outcome:
    """Create ``jobs`` video jobs, SIGKILL once ``kill_after`` submits were accepted (when that is all of them,
    once every job's resume state is stored), restart, check that every job completes, is served and was
    submitted; raises ``AssertionError`` otherwise."""
    config = write_config(tmp_path / "flow2api.toml", {
        "global": {"api_key": API_KEY}, "generation": {"video_workers": jobs, "video_slot_wait_timeout": 60},
        # one fixed instance id: the restarted server holds the killed one's leases and takes its jobs at once
        "server": {"instance_id": "crash-drill"},
        **target.sections, "catalog": {"watch": False}, "logging": {"level": "INFO"},
    })
    data, log = tmp_path / "data", tmp_path / "server.log"
    common = ("--config", str(config), "--data-dir", str(data))
    for account in target.accounts:
        add = await spawn_cli("accounts", "add", *account, *common, log=log)
        assert await asyncio.wait_for(add.wait(), 60) == 0, log.read_text()[-2000:]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = ("serve", "--no-demo", *common, "--port", str(port))
    auth = {"Authorization": f"Bearer {API_KEY}"}
    server = await spawn_cli(*serve, log=log)
    try:
        await wait_ready(url, server)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:

            async def create(i: int) -> str:
                body = {"model": target.model, "prompt": f"crash drill job {i}"}
                async with http.post(f"{url}/v1/videos", json=body, headers=auth) as resp:
                    assert resp.status == 200, await resp.text()
                    return (await resp.json())["id"]

            ids = await asyncio.gather(*(create(i) for i in range(jobs)))
            deadline = time.monotonic() + 60
            while len(target.generated()) < kill_after:
                assert time.monotonic() < deadline, f"upstream did not accept {kill_after} submits in time"
                await asyncio.sleep(0.01)
            if kill_after == jobs:  # every job is polling: wait until each row holds its resume state
                while await resumable(http, url, auth, ids) < jobs:
                    assert time.monotonic() < deadline, "resume states not recorded in time"
                    await asyncio.sleep(0.05)
        server.kill()  # SIGKILL: no cleanup, no graceful shutdown
        await server.wait()
        stages = await resume_stages(data / "flow2api.db", ids)
        recorded = {prompt for prompt, stage in stages.items() if stage != "submitting"}
        arrived = {prompt for prompt, stage in stages.items() if stage == "submitting"} & set(target.generated())

        server = await spawn_cli(*serve, log=log)
        await wait_ready(url, server)
        await all_completed_and_served(url, auth, ids)
    finally:
        await stop(server)

    submits = collections.Counter(target.generated())
    assert set(submits) == {f"crash drill job {i}" for i in range(jobs)}, "a job was never submitted upstream"
    logged = log.read_text(encoding="utf-8", errors="replace")
    assert "taken up again after start-up" in logged
    for secret in (*target.secrets, API_KEY):
        assert secret not in logged, "a secret is in the server's log"
    return Outcome({p: n for p, n in submits.items() if n > 1}, recorded, arrived)


async def resume_stages(path: Path, ids: list[str]) -> dict[str, str | None]:
    """``{prompt: stage}`` of the tasks ``ids`` whose row holds a resume state (``stage`` as the provider
    stored it, e.g. ``"submitting"``), read from the database file with the task repository."""
    db = Database(path)
    await db.open()
    try:
        tasks = TaskRepository(db)
        records = [await tasks.get(task_id) for task_id in ids]
    finally:
        await db.close()
    return {r.prompt: r.resume.get("stage") for r in records if r is not None and r.resume is not None}


async def all_completed_and_served(url: str, auth: dict[str, str], ids: list[str], timeout: float = 180) -> None:
    """Wait until every job of ``ids`` is ``completed`` (none ``failed``), then fetch each MP4."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        pending = set(ids)
        deadline = time.monotonic() + timeout
        while pending:
            assert time.monotonic() < deadline, f"{len(pending)} jobs unfinished after the restart"
            for video_id in list(pending):
                async with http.get(f"{url}/v1/videos/{video_id}", headers=auth) as resp:
                    job = await resp.json()
                assert job["status"] != "failed", f"{video_id} failed: {job['error']}"
                if job["status"] == "completed":
                    pending.discard(video_id)
            await asyncio.sleep(0.2)
        for video_id in ids:
            async with http.get(f"{url}/v1/videos/{video_id}/content", headers=auth) as resp:
                assert resp.status == 200 and resp.content_type == "video/mp4"
                assert (await resp.read())[4:8] == b"ftyp"


async def resumable(http: aiohttp.ClientSession, url: str, auth: dict[str, str], ids: list[str]) -> int:
    """How many jobs the API shows ``in_progress`` past the submit (progress ≥ 5: the provider's
    "accepted" event came after ``Submitted``, whose resume state is written first)."""
    count = 0
    for video_id in ids:
        async with http.get(f"{url}/v1/videos/{video_id}", headers=auth) as resp:
            job = await resp.json()
        count += job["status"] == "completed" or job["progress"] >= 5
    return count
