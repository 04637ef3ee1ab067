"""Video jobs under leases with two gateway apps on one database (issue 17 item 4), on SQLite and PostgreSQL.

Two instances ``A`` and ``B`` (two apps in this process, the fake providers' shared :class:`Script` counting
every upstream submit and resume) share one database and one data directory. A dead ``A`` is simulated by
cancelling its runner's tasks (named ``…@A``): its leases are neither renewed nor released, as after a
``kill -9``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from flow2api.jobs.runner import VIDEO_JOBS
from flow2api.plugin import Call, Kind, MediaOutput, Progress, Submitted
from flow2api.storage.tasks import TASKS
from flow2api.testing import API_KEY, FAKE_VIDEO_MODEL, MP4, FakeWorld, Gateway

JOBS = 6
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest) -> dict[str, str]:
    """``[storage]`` of both instances: the SQLite file of the shared data directory, or a new PostgreSQL database."""
    return {} if request.param == "sqlite" else {"url": request.getfixturevalue("postgres_url")}


async def instances(fake: FakeWorld, storage: dict[str, str], lease_seconds: float) -> tuple[Gateway, Gateway]:
    """Instances A and B on one database, leases of ``lease_seconds``, claims every 0.2 s."""
    started = []
    for name in ("A", "B"):
        started.append(await fake.start(
            accounts=2, storage=storage, server={"instance_id": name},
            jobs={"lease_seconds": lease_seconds, "claim_interval": 0.2}, generation={"video_workers": 50},
        ))
    return started[0], started[1]


def slow_video(seconds: float) -> Any:
    """A plan: accepted upstream (resume state naming the prompt), then ``seconds`` of rendering, then the MP4."""
    def plan(call: Call) -> list[Any]:
        return [Submitted({"operation": call.job.prompt}), Progress("rendering", 40), seconds,
                MediaOutput(Kind.VIDEO, mime_type="video/mp4", data=MP4, upstream_id=call.job.prompt)]
    return plan


async def submit_jobs(http: aiohttp.ClientSession, gw: Gateway) -> list[str]:
    """``JOBS`` video jobs created on ``gw``; returns their ids."""
    async def one(i: int) -> str:
        body = {"model": FAKE_VIDEO_MODEL, "prompt": f"lease job {i}"}
        async with http.post(f"{gw.url}/v1/videos", json=body, headers=AUTH) as resp:
            assert resp.status == 200, await resp.text()
            return (await resp.json())["id"]
    return list(await asyncio.gather(*(one(i) for i in range(JOBS))))


async def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def rows(gw: Gateway, ids: list[str]) -> list[Any]:
    """The task rows of ``ids``, read through ``gw``."""
    return [await gw.app[TASKS].get(task_id) for task_id in ids]


async def owners(gw: Gateway, ids: list[str]) -> set[str | None]:
    """The instances holding the jobs ``ids``."""
    return {r.lease_owner for r in await rows(gw, ids)}


async def all_submitted(gw: Gateway, ids: list[str]) -> bool:
    """Whether every job's row holds its resume state (accepted upstream)."""
    return all(r is not None and r.resume for r in await rows(gw, ids))


async def all_completed(gw: Gateway, ids: list[str]) -> bool:
    """Whether every job is completed (none may have failed)."""
    records = await rows(gw, ids)
    assert not [r.error for r in records if r is not None and r.status == "failed"]
    return all(r is not None and r.status == "completed" for r in records)


async def assert_served_by_both(http: aiohttp.ClientSession, gateways: tuple[Gateway, Gateway], ids: list[str]) -> None:
    for gw in gateways:
        for video_id in ids:
            async with http.get(f"{gw.url}/v1/videos/{video_id}", headers=AUTH) as resp:
                assert (await resp.json())["status"] == "completed"
            async with http.get(f"{gw.url}/v1/videos/{video_id}/content", headers=AUTH) as resp:
                assert resp.status == 200 and await resp.read() == MP4


def kill_runner(instance: str) -> None:
    """What ``kill -9`` leaves of an instance's runner: nothing renews nor releases its leases."""
    for task in asyncio.all_tasks():
        if task.get_name().endswith(f"@{instance}"):
            task.cancel()


async def test_a_dead_instances_jobs_are_taken_over_after_the_lease_and_never_submitted_twice(
        fake: FakeWorld, storage: dict[str, str]) -> None:
    fake.video.plan_for = slow_video(30)  # A would take 30 s; B resumes in none
    fake.video.resume_plans.extend([Progress("rendering", 80),
                                    MediaOutput(Kind.VIDEO, mime_type="video/mp4", data=MP4)] for _ in range(JOBS))
    a, b = await instances(fake, storage, lease_seconds=2)
    async with aiohttp.ClientSession() as http:
        ids = await submit_jobs(http, a)
        await wait_until(lambda: all_submitted(a, ids), 10, "A did not submit every job")
        assert await owners(a, ids) == {"A"}
        kill_runner("A")
        killed = time.monotonic()
        await wait_until(lambda: all_completed(b, ids), 15, "B did not complete A's jobs")
        assert time.monotonic() - killed > 1.0, "taken before A's lease could have expired"
        assert len(fake.video.calls) == JOBS, "a job was submitted upstream twice"
        assert sorted(state["operation"] for _, state in fake.video.resumes) == sorted(
            f"lease job {i}" for i in range(JOBS)), "every job resumed on its accepted operation"
        assert await owners(b, ids) == {"B"}
        submitted_on = {call.job.prompt: call.account.view.email for call in fake.video.calls}
        resumed_on = {call.job.prompt: call.account.view.email for call, _ in fake.video.resumes}
        assert resumed_on == submitted_on, "a job resumed on another account than the one upstream accepted it on"
        await assert_served_by_both(http, (a, b), ids)


async def test_a_live_instances_jobs_are_not_taken(fake: FakeWorld, storage: dict[str, str]) -> None:
    fake.video.plan_for = slow_video(3.5)  # more than three leases of 1 s: renewed three times while B looks
    a, b = await instances(fake, storage, lease_seconds=1)
    async with aiohttp.ClientSession() as http:
        ids = await submit_jobs(http, a)
        await wait_until(lambda: all_completed(a, ids), 20, "A did not complete its jobs")
        assert len(fake.video.calls) == JOBS and not fake.video.resumes
        assert await owners(a, ids) == {"A"}
        assert b.app[VIDEO_JOBS].counts() == {"queued": 0, "running": 0}
        await assert_served_by_both(http, (a, b), ids)


async def test_a_graceful_stop_hands_the_jobs_over_at_once(fake: FakeWorld, storage: dict[str, str]) -> None:
    fake.video.plan_for = slow_video(30)
    fake.video.resume_plans.extend([MediaOutput(Kind.VIDEO, mime_type="video/mp4", data=MP4)] for _ in range(JOBS))
    a, b = await instances(fake, storage, lease_seconds=60)  # far longer than the test: only a release frees them
    async with aiohttp.ClientSession() as http:
        ids = await submit_jobs(http, a)
        await wait_until(lambda: all_submitted(a, ids), 10, "A did not submit every job")
        await a.server.close()  # the app's shutdown: jobs cancelled, leases released
        await wait_until(lambda: all_completed(b, ids), 10, "B did not take the released jobs")
        assert len(fake.video.calls) == JOBS and len(fake.video.resumes) == JOBS


async def test_the_instance_id_is_in_health_and_log_lines(fake: FakeWorld, storage: dict[str, str]) -> None:
    import logging

    from flow2api.logs import configure_logging

    a, _ = await instances(fake, storage, lease_seconds=30)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{a.url}/health") as resp:
            assert (await resp.json())["instance"] == "A"
    configure_logging("INFO", "A")
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_flow2api", False))
    record = logging.LogRecord("flow2api.test", logging.INFO, __file__, 1, "hello", None, None)
    assert all(f.filter(record) for f in handler.filters)
    assert " A flow2api.test [-] hello" in handler.format(record)


async def test_an_accepted_job_is_resumed_without_its_input_image_in_this_data_directory(
        fake: FakeWorld, storage: dict[str, str], tmp_path: Path) -> None:
    import base64
    import shutil

    from flow2api.testing import png

    fake.video.plan_for = slow_video(30)
    fake.video.resume_plans.append([MediaOutput(Kind.VIDEO, mime_type="video/mp4", data=MP4)])
    a, b = await instances(fake, storage, lease_seconds=1)
    image = f"data:image/png;base64,{base64.b64encode(png()).decode()}"
    async with aiohttp.ClientSession() as http:
        body = {"model": FAKE_VIDEO_MODEL, "prompt": "with an image", "input_reference": image}
        async with http.post(f"{a.url}/v1/videos", json=body, headers=AUTH) as resp:
            assert resp.status == 200, await resp.text()
            ids = [(await resp.json())["id"]]
        await wait_until(lambda: all_submitted(a, ids), 10, "A did not submit the job")
        assert len(fake.video.calls[0].job.images) == 1
        kill_runner("A")
        # as if B's local media directory were its own, never shared with A's
        shutil.rmtree(tmp_path / "data" / "media" / "inputs")
        await wait_until(lambda: all_completed(b, ids), 10, "B did not resume the job")
        assert len(fake.video.calls) == 1 and len(fake.video.resumes) == 1
