"""Video jobs beyond one request: extend (fZytfe), resume after a restart, late signed URLs, failed promotion."""

from __future__ import annotations

import aiohttp
from flow2api_flowweb.options import VideoOptions
from flowweb_helpers import FlowWeb, chat, download, result_url

from flow2api.discovery import PROVIDERS
from flow2api.plugin import Call, Job, Kind, MediaOutput, Progress, Submitted, Submitting, Usage
from flow2api.pool.pool import AccountHandle
from flow2api.testing import Gateway


def video_job(prompt: str, extend_media_id: str | None = None, **options: object) -> Job:
    defaults = {"video_model_key": "abra_t2v_8s", "sub_kind": "t2v", "aspect_ratio": "VIDEO_ASPECT_RATIO_LANDSCAPE"}
    return Job(model="test", kind=Kind.VIDEO, prompt=prompt, options=VideoOptions(**{**defaults, **options}),  # type: ignore[arg-type]
               extend_media_id=extend_media_id)


def call_for(gateway: Gateway, job: Job, http: aiohttp.ClientSession) -> Call:
    return Call(job, AccountHandle(gateway.pool, gateway.pool.records()[0].id), http)


async def test_extend_sends_the_source_media_id(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    await chat(fw_gateway, "fw-t2v", "a train leaves")
    source = next(m for m in flowweb.emulator.world.media.values() if m.kind == "video")
    provider = fw_gateway.app[PROVIDERS]["flowweb-video"]
    job = video_job("it enters a tunnel", video_model_key="veo_3_1_extend_lite", sub_kind="extend",
                    extend_media_id=source.id)
    async with aiohttp.ClientSession() as http:
        events = [e async for e in provider.generate(call_for(fw_gateway, job, http))]
    media = [e for e in events if isinstance(e, MediaOutput)]
    assert len(media) == 1 and media[0].upstream_id != source.id
    item = flowweb.emulator.calls("fZytfe")[0].args[0][0]
    # the core does not know the source's duration, so the two frame slots stay null (spec §5.7)
    assert item[0] == [None, source.id, None, None] and item[2] == "veo_3_1_extend_lite"
    assert flowweb.emulator.calls("fZytfe")[0].args[2][1] == 2


async def test_a_job_is_resumed_from_its_submitted_state(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    provider = fw_gateway.app[PROVIDERS]["flowweb-video"]
    job = video_job("a slow sunrise", upsample="VIDEO_RESOLUTION_1080P", upsampler_key="veo_3_1_upsampler_1080p",
                    video_model_key="veo_3_1_t2v_lite")
    async with aiohttp.ClientSession() as http:
        events = provider.generate(call_for(fw_gateway, job, http))
        submitted = None
        async for event in events:
            if isinstance(event, Submitted):
                submitted = event
                break
        await events.aclose()  # the process "stops" right after upstream accepted the job
        assert submitted is not None and submitted.resume["stage"] == "generate"
        assert len(flowweb.emulator.calls("YhhmEf")) == 1 and flowweb.emulator.calls("jwpduf") == []
        resumed = [e async for e in provider.resume(call_for(fw_gateway, job, http), dict(submitted.resume))]
    assert len(flowweb.emulator.calls("YhhmEf")) == 1  # not submitted (and paid for) again
    stages = [e.resume["stage"] for e in resumed if isinstance(e, Submitted)]
    output = next(e for e in resumed if isinstance(e, MediaOutput))
    assert stages == ["upscale"] and output.upstream_id == submitted.resume["media_id"] + "_upsampled"
    assert any(isinstance(e, Usage) for e in resumed)


async def crash_and_resume(
    gateway: Gateway, flowweb: FlowWeb, job: Job, steps: tuple[type, ...],
) -> tuple[Submitting, int, list]:
    """Run ``job`` until the event types of ``steps`` came in turn, "crash" there, then resume from the last
    :class:`Submitting` seen. Returns that checkpoint, how many submits (YhhmEf + p0UkFb) upstream had received
    when it came, and the resumed events."""
    provider = gateway.app[PROVIDERS]["flowweb-video"]
    checkpoint, submits = None, -1
    async with aiohttp.ClientSession() as http:
        events = provider.generate(call_for(gateway, job, http))
        for kind in steps:
            event = await anext(e async for e in events if isinstance(e, kind))
            if isinstance(event, Submitting):
                checkpoint = event
                submits = len(flowweb.emulator.calls("YhhmEf")) + len(flowweb.emulator.calls("p0UkFb"))
        await events.aclose()
        assert checkpoint is not None
        resumed = [e async for e in provider.resume(call_for(gateway, job, http), dict(checkpoint.resume))]
    return checkpoint, submits, resumed


async def test_a_crash_after_the_submit_resumes_the_job_upstream_got(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    job = video_job("a lighthouse at dusk", video_model_key="veo_3_1_t2v_lite")
    # The submit goes out after Submitting; the process dies before Submitted is stored.
    checkpoint, submits, resumed = await crash_and_resume(fw_gateway, flowweb, job, (Submitting, Submitted))
    assert checkpoint.resume["stage"] == "submitting" and submits == 0
    assert len(flowweb.emulator.calls("YhhmEf")) == 1  # upstream had it: followed, not submitted (and paid) again
    output = next(e for e in resumed if isinstance(e, MediaOutput))
    assert output.upstream_id == checkpoint.resume["media_id"]
    assert [e.resume for e in resumed if isinstance(e, Submitted)] == [{**checkpoint.resume, "stage": "generate"}]
    video = flowweb.emulator.world.media[output.upstream_id]
    assert video.workflow_id == checkpoint.resume["workflow_id"]


async def test_a_crash_before_the_submit_submits_it_once_on_resume(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    job = video_job("a harbour in fog", video_model_key="veo_3_1_t2v_lite")
    # The process dies between storing the checkpoint and sending the submit.
    checkpoint, submits, resumed = await crash_and_resume(fw_gateway, flowweb, job, (Submitting,))
    assert submits == 0 and len(flowweb.emulator.calls("YhhmEf")) == 1
    output = next(e for e in resumed if isinstance(e, MediaOutput))
    assert output.upstream_id != checkpoint.resume["media_id"]  # a new submit, with new seeds
    assert [type(e) for e in resumed if isinstance(e, (Submitting, Submitted))] == [Submitting, Submitted]


async def test_a_crash_after_the_promotion_submit_does_not_promote_twice(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    job = video_job("a glacier", video_model_key="veo_3_1_t2v_lite", upsample="VIDEO_RESOLUTION_1080P",
                    upsampler_key="veo_3_1_upsampler_1080p")
    steps = (Submitted, Submitting, Submitted)  # accepted, polled to done, promotion checkpoint, promotion sent
    checkpoint, submits, resumed = await crash_and_resume(fw_gateway, flowweb, job, steps)
    assert checkpoint.resume["stage"] == "promoting" and submits == 1  # the generation's, not yet the promotion's
    assert len(flowweb.emulator.calls("p0UkFb")) == 1 and len(flowweb.emulator.calls("YhhmEf")) == 1
    output = next(e for e in resumed if isinstance(e, MediaOutput))
    assert output.upstream_id == checkpoint.resume["upscale_id"]


async def test_the_signed_url_is_waited_for_after_status_3(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    flowweb.emulator.settings.url_delay_reads = 2
    body, _ = await download(result_url(await chat(fw_gateway, "fw-t2v", "late url")))
    assert body[4:8] == b"ftyp" and len(flowweb.emulator.calls("as29s")) == 3


async def test_a_failed_promotion_returns_the_original_video(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    flowweb.emulator.faults.add({"kind": "video_fail", "operation": "p0UkFb"})
    provider = fw_gateway.app[PROVIDERS]["flowweb-video"]
    job = video_job("a bridge", video_model_key="veo_3_1_t2v_lite", upsample="VIDEO_RESOLUTION_4K",
                    upsampler_key="veo_3_1_upsampler_4k")
    async with aiohttp.ClientSession() as http:
        events = [e async for e in provider.generate(call_for(fw_gateway, job, http))]
    output = next(e for e in events if isinstance(e, MediaOutput))
    source = flowweb.emulator.calls("YhhmEf") and flowweb.emulator.calls("jwpduf")[0].args[2][0][0]
    assert output.upstream_id == source
    assert any(isinstance(e, Progress) and "Promotion failed" in e.message for e in events)
