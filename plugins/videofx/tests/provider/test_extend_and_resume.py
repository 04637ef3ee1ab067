"""Provider level: extend + concatenation (spec §2.13, §2.20) and resuming jobs after a restart (``Provider.resume``).

The chat handler does not pass ``extend://`` yet, so extend is driven with a
``Job`` whose ``extend_media_id`` holds what the handler must pass.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import pytest
from videofx_helpers import FakeAccount, Upstream, fake_account, flow_sections, is_mp4, route_options, run_events

from flow2api.errors import InvalidRequestError
from flow2api.plugin import Call, Job, Kind, MediaOutput, PluginContext, Progress, Submitted, Usage
from flow2api_videofx import VideoFXVideoProvider
from flow2api_videofx.options import VideoOptions

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def make_provider(upstream: Upstream, tmp_path: Path) -> VideoFXVideoProvider:
    return VideoFXVideoProvider(PluginContext(sections=flow_sections(upstream), data_dir=tmp_path))


def video_job(model: str, prompt: str = "a lighthouse", extend_media_id: str | None = None) -> Job:
    return Job(model=model, kind=Kind.VIDEO, prompt=prompt, options=VideoOptions.model_validate(route_options(model)),
               extend_media_id=extend_media_id)


async def download(http: aiohttp.ClientSession, output: MediaOutput) -> bytes:
    assert output.url is not None
    async with http.get(output.url, headers=dict(output.headers)) as resp:
        assert resp.status == 200
        return await resp.read()


async def generate_source(provider: VideoFXVideoProvider, account: FakeAccount, http: aiohttp.ClientSession) -> MediaOutput:
    events = await run_events(provider.generate(Call(video_job("veo_3_1_t2v_fast_landscape"), account, http)))
    return next(e for e in events if isinstance(e, MediaOutput))


async def test_extend_submits_the_source_uuid_then_joins_both_clips(upstream: Upstream, http, tmp_path: Path) -> None:  # noqa: ANN001
    provider = make_provider(upstream, tmp_path)
    account = await fake_account(upstream, http)
    source = await generate_source(provider, account, http)
    assert source.upstream_id and UUID.match(source.upstream_id)

    job = video_job("veo_3_1_extend", "and then it starts to rain", extend_media_id=f"extend://{source.upstream_id}")
    events = await run_events(provider.generate(Call(job, account, http)))

    emulator = upstream.emulator
    extend = emulator.calls("batchAsyncGenerateVideoExtendVideo")
    assert len(extend) == 1
    item = extend[0].json["requests"][0]
    assert item["videoInput"] == {"mediaId": source.upstream_id}
    assert item["videoModelKey"] == "veo_3_1_extend_landscape"
    assert set(item["metadata"]) == {"workflowId"} and UUID.match(item["metadata"]["workflowId"])
    assert item["textInput"]["structuredPrompt"]["parts"] == [{"text": "and then it starts to rain"}]
    extension = next(v for v in emulator.world.videos.values() if v.source_video_id)
    assert emulator.calls("runVideoFxConcatenation")[0].json == {"inputVideos": [
        {"mediaGenerationId": source.upstream_id, "lengthNanos": 8000, "startTimeOffset": "0s", "endTimeOffset": "8s"},
        {"mediaGenerationId": extension.video_id, "lengthNanos": 8000, "startTimeOffset": "1s", "endTimeOffset": "8s"},
    ]}
    operation = emulator.calls("runVideoFxConcatenation")
    checks = emulator.calls("runVideoFxCheckConcatenationStatus")
    assert checks and all(c.json == {"operation": {"operation": {"name": checks[0].json["operation"]["operation"]["name"]}}}
                          for c in checks) and operation
    stages = [e.resume["stage"] for e in events if isinstance(e, Submitted)]
    assert stages == ["generate", "concat"]
    output = next(e for e in events if isinstance(e, MediaOutput))
    concat = next(iter(emulator.world.concatenations.values()))
    assert output.upstream_id == concat.video_id and output.mime_type == "video/mp4"
    assert is_mp4(await download(http, output))


async def test_extend_takes_the_bare_id_too_and_refuses_a_missing_one(upstream: Upstream, http, tmp_path: Path) -> None:  # noqa: ANN001
    provider = make_provider(upstream, tmp_path)
    account = await fake_account(upstream, http)
    with pytest.raises(InvalidRequestError, match="extend://"):
        await run_events(provider.generate(Call(video_job("veo_3_1_extend"), account, http)))
    source = await generate_source(provider, account, http)
    events = await run_events(provider.generate(Call(video_job("veo_3_1_extend", extend_media_id=source.upstream_id or ""),
                                                     account, http)))
    assert any(isinstance(e, MediaOutput) for e in events)


async def test_events_order_submitted_first_then_usage_progress_media(upstream: Upstream, http, tmp_path: Path) -> None:  # noqa: ANN001
    provider = make_provider(upstream, tmp_path)
    account = await fake_account(upstream, http, credits=500)
    events = await run_events(provider.generate(Call(video_job("veo_3_1_t2v_fast_landscape"), account, http)))
    assert isinstance(events[0], Submitted) and isinstance(events[1], Usage)
    assert events[1].remaining_credits == 480  # the emulator charges 20 for a fast video
    assert isinstance(events[-1], MediaOutput)
    assert all(isinstance(e, Progress) for e in events[2:-1])
    percents = [e.percent for e in events if isinstance(e, Progress) and e.percent is not None]
    assert percents == sorted(percents) and all(0 <= p <= 95 for p in percents)
    json.dumps(events[0].resume)  # the core stores it as JSON


async def test_resume_continues_polling_without_submitting_again(upstream: Upstream, http, tmp_path: Path) -> None:  # noqa: ANN001
    upstream.emulator.settings.video_polls_to_finish = 4
    provider = make_provider(upstream, tmp_path)
    account = await fake_account(upstream, http)
    job = video_job("veo_3_1_t2v_fast_landscape")
    source = provider.generate(Call(job, account, http))
    submitted = await anext(source)
    assert isinstance(submitted, Submitted)
    await source.aclose()  # flow2api stops here (a restart)
    assert not provider.family.poller(1).running

    restarted = make_provider(upstream, tmp_path)
    events = await run_events(restarted.resume(Call(job, account, http), json.loads(json.dumps(submitted.resume))))
    assert isinstance(events[-1], MediaOutput) and events[-1].url
    assert len(upstream.emulator.calls("batchAsyncGenerateVideoText")) == 1
    assert len(upstream.emulator.calls("createTask")) == 1


async def test_resume_in_the_upsample_stage_polls_the_upsample_job(upstream: Upstream, http, tmp_path: Path) -> None:  # noqa: ANN001
    provider = make_provider(upstream, tmp_path)
    account = await fake_account(upstream, http)
    job = video_job("veo_3_1_t2v_fast_1080p")
    source = provider.generate(Call(job, account, http))
    stages = []
    async for event in source:
        if isinstance(event, Submitted):
            stages.append(event)
            if event.resume["stage"] == "upsample":
                break
    await source.aclose()
    events = await run_events(make_provider(upstream, tmp_path).resume(Call(job, account, http), stages[-1].resume))
    output = events[-1]
    assert isinstance(output, MediaOutput)
    upsampled = next(v for v in upstream.emulator.world.videos.values() if v.resolution)
    assert output.upstream_id == upsampled.video_id
    assert len(upstream.emulator.calls("batchAsyncGenerateVideoUpsampleVideo")) == 1


async def test_a_failed_upsample_returns_the_generated_video(upstream: Upstream, http, tmp_path: Path) -> None:  # noqa: ANN001
    upstream.emulator.faults.add({"kind": "video_fail", "operation": "batchAsyncGenerateVideoUpsampleVideo"})
    provider = make_provider(upstream, tmp_path)
    account = await fake_account(upstream, http)
    events = await run_events(provider.generate(Call(video_job("veo_3_1_t2v_fast_1080p"), account, http)))
    base = next(v for v in upstream.emulator.world.videos.values() if not v.resolution)
    assert events[-1].upstream_id == base.video_id
    assert any(isinstance(e, Progress) and "Upsampling failed" in e.message for e in events)


async def test_resume_refuses_a_state_that_is_not_ours(upstream: Upstream, http, tmp_path: Path) -> None:  # noqa: ANN001
    from flow2api.errors import Flow2APIError

    account = await fake_account(upstream, http)
    with pytest.raises(Flow2APIError, match="cannot be resumed"):
        await run_events(make_provider(upstream, tmp_path).resume(Call(video_job("omni"), account, http), {"x": 1}))
