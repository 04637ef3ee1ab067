"""The flowweb video resume state as a typed model: the JSON it stores, and rows of the older raw shape resuming."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from flow2api_flowweb.options import VideoOptions
from flow2api_flowweb.video_state import VideoState
from flowweb_helpers import FlowWeb

from flow2api.discovery import PROVIDERS
from flow2api.errors import Flow2APIError
from flow2api.plugin import Call, Job, Kind, MediaOutput, Submitted, Submitting
from flow2api.pool.pool import AccountHandle


def t2v_job(prompt: str) -> Job:
    options = VideoOptions(video_model_key="veo_3_1_t2v_lite", sub_kind="t2v",  # type: ignore[call-arg]
                           aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE")
    return Job(model="test", kind=Kind.VIDEO, prompt=prompt, options=options)


def call_for(gateway: Any, job: Job, http: aiohttp.ClientSession) -> Call:
    return Call(job, AccountHandle(gateway.pool, gateway.pool.records()[0].id), http)


async def test_the_checkpoints_carry_the_state_model_as_json(fw_gateway: Any, flowweb: FlowWeb) -> None:
    provider = fw_gateway.app[PROVIDERS]["flowweb-video"]
    async with aiohttp.ClientSession() as http:
        events = [e async for e in provider.generate(call_for(fw_gateway, t2v_job("a kite"), http))]
    submitting = next(e for e in events if isinstance(e, Submitting))
    submitted = next(e for e in events if isinstance(e, Submitted))
    assert set(submitting.resume) == {"project", "media_id", "workflow_id", "stage", "upscale_id"}
    assert VideoState.from_json(submitted.resume).stage == "generate"
    assert VideoState.from_json(submitted.resume).to_json() == submitted.resume


async def test_a_row_in_the_older_raw_shape_still_resumes(fw_gateway: Any, flowweb: FlowWeb) -> None:
    """What earlier versions stored: a plain dict without ``upscale_id``; it is followed, not submitted again."""
    provider = fw_gateway.app[PROVIDERS]["flowweb-video"]
    job = t2v_job("a lighthouse")
    async with aiohttp.ClientSession() as http:
        events = provider.generate(call_for(fw_gateway, job, http))
        async for event in events:
            if isinstance(event, Submitted):
                break
        await events.aclose()
        new = dict(event.resume)
        old = {"project": new["project"], "media_id": new["media_id"], "workflow_id": new["workflow_id"],
               "stage": "generate"}
        resumed = [e async for e in provider.resume(call_for(fw_gateway, job, http), old)]
    assert len(flowweb.emulator.calls("YhhmEf")) == 1
    assert [e.upstream_id for e in resumed if isinstance(e, MediaOutput)] == [old["media_id"]]


def test_a_state_of_another_provider_is_refused() -> None:
    with pytest.raises(Flow2APIError, match="cannot be resumed"):
        VideoState.from_json({"stage": "generate", "operation": "op-1"})
