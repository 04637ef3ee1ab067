"""A project that vanishes after Flow accepted a video job (issue 18 leftovers; docs/reliability.md).

The emulator answers a status check that names a vanished project with 404 NOT_FOUND "Requested entity was
not found: project …" (for the whole batch, as for every call naming a project), while the media stay
reachable by id (``media.getMediaUrlRedirect``, an upsample's ``videoInput``). The job is never submitted
again: it failed in words, and the account's project is dropped for its next request. An upsample not yet
accepted runs once in a new project; one lost while running falls back to the generated video.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from videofx_helpers import FakeAccount, Upstream, fake_account, flow_sections, route_options, run_events

from flow2api.plugin import Call, Job, Kind, MediaOutput, PluginContext, Progress, Submitted
from flow2api.testing import until
from flow2api_flowkit.projects import ProjectGoneError
from flow2api_videofx import VideoFXVideoProvider
from flow2api_videofx.options import VideoOptions

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks the Sora API deprecated

T2V = "veo_3_1_t2v_fast_landscape"
UPSAMPLED = "veo_3_1_t2v_fast_1080p"


def make_provider(upstream: Upstream, tmp_path: Path, **flow: object) -> VideoFXVideoProvider:
    return VideoFXVideoProvider(PluginContext(sections=flow_sections(upstream, flow=flow), data_dir=tmp_path))


def video_job(model: str) -> Job:
    return Job(model=model, kind=Kind.VIDEO, prompt="a lighthouse", options=VideoOptions.model_validate(route_options(model)))


async def forget_projects(upstream: Upstream, email: str) -> None:
    """The emulator's control route (plugins/videofx/flow2api_videofx/emulator/control.py), as a drill uses it."""
    async with aiohttp.ClientSession() as http:
        async with http.delete(f"{upstream.base}/_emulator/projects", params={"email": email}) as resp:
            assert resp.status == 200 and (await resp.json())["forgotten"] >= 1


def assert_lost_in_words(exc: ProjectGoneError, project: str) -> None:
    message = exc.message
    assert message.startswith("labs.google could not find the project (batchCheckAsyncVideoGenerationStatus, NOT_FOUND")
    assert project in message and "submit the request again" in message and exc.status == 502


async def test_a_project_lost_while_the_video_is_polled_fails_in_words_and_is_dropped(
        upstream: Upstream, http, tmp_path: Path) -> None:  # noqa: ANN001
    upstream.emulator.settings.video_polls_to_finish = 50
    provider = make_provider(upstream, tmp_path)
    account = await fake_account(upstream, http)
    source = provider.generate(Call(video_job(T2V), account, http))
    submitted = await anext(source)
    assert isinstance(submitted, Submitted)
    project = submitted.resume["project_id"]
    await forget_projects(upstream, "bob@example.com")
    with pytest.raises(ProjectGoneError) as raised:
        await run_events(source)
    assert_lost_in_words(raised.value, project)
    assert project not in account.view.projects  # the next request chooses another
    assert len(upstream.emulator.calls("batchAsyncGenerateVideoText")) == 1  # accepted once, never paid twice
    assert len(upstream.emulator.calls("batchCheckAsyncVideoGenerationStatus")) == 1  # failed at once, not after 3

    upstream.emulator.settings.video_polls_to_finish = 2
    events = await run_events(provider.generate(Call(video_job(T2V), account, http)))
    assert isinstance(events[-1], MediaOutput)
    assert len(upstream.emulator.calls("project.createProject")) == 2


async def test_a_resume_after_a_restart_fails_in_words_when_the_project_is_gone(
        upstream: Upstream, http, tmp_path: Path) -> None:  # noqa: ANN001
    upstream.emulator.settings.video_polls_to_finish = 4
    account = await fake_account(upstream, http)
    job = video_job(T2V)
    source = make_provider(upstream, tmp_path).generate(Call(job, account, http))
    submitted = await anext(source)
    await source.aclose()  # flow2api stops here
    await forget_projects(upstream, "bob@example.com")

    restarted = make_provider(upstream, tmp_path)
    with pytest.raises(ProjectGoneError) as raised:
        await run_events(restarted.resume(Call(job, account, http), json.loads(json.dumps(submitted.resume))))
    assert_lost_in_words(raised.value, submitted.resume["project_id"])
    assert submitted.resume["project_id"] not in account.view.projects
    assert len(upstream.emulator.calls("batchAsyncGenerateVideoText")) == 1


async def test_only_the_jobs_of_the_vanished_project_fail(upstream: Upstream, http, tmp_path: Path) -> None:  # noqa: ANN001
    upstream.emulator.settings.video_polls_to_finish = 6
    provider = make_provider(upstream, tmp_path, project_pool_size=2)
    account = await fake_account(upstream, http)
    first, second = (provider.generate(Call(video_job(T2V), account, http)) for _ in range(2))
    one, two = await anext(first), await anext(second)
    assert one.resume["project_id"] != two.resume["project_id"]  # a pool of two: one project each
    upstream.emulator.world.projects[one.resume["project_id"]].deleted = True  # deleted in the web UI
    lost, kept = await asyncio.gather(run_events(first), run_events(second), return_exceptions=True)
    assert isinstance(lost, ProjectGoneError)
    assert isinstance(kept, list) and isinstance(kept[-1], MediaOutput)
    assert account.view.projects == (two.resume["project_id"],)


async def test_an_upsample_not_yet_accepted_runs_in_a_new_project(upstream: Upstream, http, tmp_path: Path) -> None:  # noqa: ANN001
    provider = make_provider(upstream, tmp_path)
    account: FakeAccount = await fake_account(upstream, http)
    events = []
    async for event in provider.generate(Call(video_job(UPSAMPLED), account, http)):
        events.append(event)
        if isinstance(event, Progress) and event.message.startswith("Upsampling the video"):
            await forget_projects(upstream, "bob@example.com")  # after the video was found, before the upsample
    stages = [e.resume for e in events if isinstance(e, Submitted)]
    assert [s["stage"] for s in stages] == ["generate", "upsample"]
    assert stages[1]["project_id"] != stages[0]["project_id"]
    assert account.view.projects == (stages[1]["project_id"],)
    upsampled = next(v for v in upstream.emulator.world.videos.values() if v.resolution)
    assert upsampled.project_id == stages[1]["project_id"]
    assert isinstance(events[-1], MediaOutput) and events[-1].upstream_id == upsampled.video_id
    assert len(upstream.emulator.calls("batchAsyncGenerateVideoUpsampleVideo")) == 2  # NOT_FOUND, then accepted


async def test_an_upsample_whose_source_cannot_be_reached_is_not_sent_again(upstream: Upstream, http,  # noqa: ANN001
                                                                            tmp_path: Path) -> None:
    provider = make_provider(upstream, tmp_path)
    account = await fake_account(upstream, http)
    events = []
    async for event in provider.generate(Call(video_job(UPSAMPLED), account, http)):
        events.append(event)
        if isinstance(event, Progress) and event.message.startswith("Upsampling the video"):
            await forget_projects(upstream, "bob@example.com")
            upstream.emulator.faults.add({"kind": "status", "status": 404, "count": 1,
                                          "operation": "media.getMediaUrlRedirect"})
    base = next(v for v in upstream.emulator.world.videos.values() if not v.resolution)
    assert isinstance(events[-1], MediaOutput) and events[-1].upstream_id == base.video_id  # the URL already read
    assert any(isinstance(e, Progress) and "Upsampling could not start" in e.message for e in events)
    assert not account.view.projects  # dropped, and no project made for an upsample that cannot run
    assert len(upstream.emulator.calls("batchAsyncGenerateVideoUpsampleVideo")) == 1
    assert len(upstream.emulator.calls("project.createProject")) == 1


async def test_an_upsample_lost_while_running_returns_the_generated_video(upstream: Upstream, http, tmp_path: Path) -> None:  # noqa: ANN001
    upstream.emulator.settings.video_polls_to_finish = 4
    provider = make_provider(upstream, tmp_path)
    account = await fake_account(upstream, http)
    events = []
    async for event in provider.generate(Call(video_job(UPSAMPLED), account, http)):
        events.append(event)
        if isinstance(event, Submitted) and event.resume["stage"] == "upsample":
            await forget_projects(upstream, "bob@example.com")
    base = next(v for v in upstream.emulator.world.videos.values() if not v.resolution)
    assert isinstance(events[-1], MediaOutput) and events[-1].upstream_id == base.video_id
    warning = next(e.message for e in events if isinstance(e, Progress) and "Upsampling failed" in e.message)
    assert "project" in warning
    assert not account.view.projects
    assert len(upstream.emulator.calls("batchAsyncGenerateVideoUpsampleVideo")) == 1


async def test_the_videos_api_reports_the_lost_job_and_the_next_one_succeeds(start_gateway) -> None:  # noqa: ANN001
    gw = await start_gateway(flow={"project_pool_size": 1})
    account_id = await gw.add_account("api@example.com")
    emulator = gw.upstream.emulator
    emulator.settings.video_polls_to_finish = 100
    client = gw.sdk()

    async def ended(video_id: str):  # noqa: ANN202
        video = await client.videos.retrieve(video_id)
        return video if video.status in ("completed", "failed") else None

    video = await client.videos.create(model=T2V, prompt="a paper boat")
    async def polled() -> bool:
        return bool(emulator.calls("batchCheckAsyncVideoGenerationStatus"))

    await until(polled, timeout=20.0, interval=0.02)
    lost = list(gw.pool.view(account_id).projects)
    await forget_projects(gw.upstream, "api@example.com")
    failed = await until(lambda: ended(video.id), timeout=20.0, interval=0.02)
    assert failed.status == "failed" and "submit the request again" in failed.error.message
    assert gw.pool.view(account_id).projects == ()
    assert len(emulator.calls("batchAsyncGenerateVideoText")) == 1

    emulator.settings.video_polls_to_finish = 2
    again = await client.videos.create(model=T2V, prompt="a paper boat")
    done = await until(lambda: ended(again.id), timeout=20.0, interval=0.02)
    assert done.status == "completed", done.error
    assert gw.pool.view(account_id).projects != tuple(lost)
