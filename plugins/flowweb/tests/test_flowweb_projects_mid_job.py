"""A project that vanishes after flow.google.com accepted a video job (issue 18 leftovers; docs/reliability.md).

``jwpduf`` and ``as29s`` name media ids only (spec §6.1, §6.3), so the emulator keeps answering them for a
vanished project's media, and the job is delivered; the account's next submit replaces the project. A
promotion (``p0UkFb``) names the project in its client context and answers ``[5]``: it runs once more in a new
project when the source can still be read, else the job fails in words. A job resumed after a restart whose
submit never reached Flow is submitted in a new project.

The first and last tests pin behaviour that was already right before the mid-job work (polls and the resume
check name no project); they keep the choice written in docs/reliability.md true.
"""

from __future__ import annotations

import aiohttp
import pytest
from flowweb_helpers import FlowWeb, chat
from test_flowweb_video_jobs import call_for, video_job

from flow2api.discovery import PROVIDERS
from flow2api.plugin import MediaOutput, Progress, Submitted, Submitting
from flow2api.testing import Gateway
from flow2api_flowkit.projects import ProjectLostError

PROMOTED = {"upsample": "VIDEO_RESOLUTION_1080P", "upsampler_key": "veo_3_1_upsampler_1080p",
            "video_model_key": "veo_3_1_t2v_lite"}


async def forget_projects(flowweb: FlowWeb) -> None:
    """The emulator's control route (plugins/flowweb/flow2api_flowweb/emulator/control.py), as a drill uses it."""
    async with aiohttp.ClientSession() as http:
        async with http.delete(f"{flowweb.base}/_emulator/projects") as resp:
            assert resp.status == 200 and (await resp.json())["forgotten"] >= 1


async def test_a_project_lost_while_the_video_is_polled_still_delivers_it(fw_gateway: Gateway,
                                                                         flowweb: FlowWeb) -> None:
    flowweb.emulator.settings.video_polls_to_finish = 4
    provider = fw_gateway.app[PROVIDERS]["flowweb-video"]
    async with aiohttp.ClientSession() as http:
        events = []
        async for event in provider.generate(call_for(fw_gateway, video_job("a slow sunrise"), http)):
            events.append(event)
            if isinstance(event, Submitted):
                await forget_projects(flowweb)
    assert any(isinstance(e, MediaOutput) for e in events)
    assert len(flowweb.emulator.calls("YhhmEf")) == 1
    assert "http" in await chat(fw_gateway, "fw-t2v", "a kite")  # the next submit replaces the project
    assert len(flowweb.emulator.calls("jHPbke")) == 2


async def test_a_promotion_refused_for_its_vanished_project_runs_in_a_new_one(fw_gateway: Gateway,
                                                                             flowweb: FlowWeb) -> None:
    provider = fw_gateway.app[PROVIDERS]["flowweb-video"]
    async with aiohttp.ClientSession() as http:
        events = []
        async for event in provider.generate(call_for(fw_gateway, video_job("a slow sunrise", **PROMOTED), http)):
            events.append(event)
            if isinstance(event, Progress) and event.message.startswith("Promoting"):
                await forget_projects(flowweb)  # the video is done, its promotion not sent yet
    stages = [e.resume for e in events if isinstance(e, (Submitted, Submitting))]
    assert [s["stage"] for s in stages] == ["submitting", "generate", "promoting", "upscale"]
    assert stages[-1]["project"] != stages[1]["project"]
    assert fw_gateway.pool.view(fw_gateway.pool.records()[0].id).projects == (stages[-1]["project"],)
    output = next(e for e in events if isinstance(e, MediaOutput))
    assert output.upstream_id == stages[1]["media_id"] + "_upsampled"
    promotions = flowweb.emulator.calls("p0UkFb")
    assert len(promotions) == 2 and promotions[1].args[1][5] == stages[-1]["project"]


async def test_a_promotion_whose_source_went_with_the_project_fails_in_words(fw_gateway: Gateway,
                                                                            flowweb: FlowWeb) -> None:
    provider = fw_gateway.app[PROVIDERS]["flowweb-video"]
    async with aiohttp.ClientSession() as http:
        source = provider.generate(call_for(fw_gateway, video_job("a slow sunrise", **PROMOTED), http))
        with pytest.raises(ProjectLostError) as raised:
            async for event in source:
                if isinstance(event, Progress) and event.message.startswith("Promoting"):
                    await forget_projects(flowweb)
                    # the source cannot be read any more either (as29s NOT_FOUND)
                    flowweb.emulator.faults.add({"kind": "rpc_error", "code": 5, "operation": "as29s", "count": 1})
    message = raised.value.message
    assert message.startswith("flow.google.com could not find the project (rpc p0UkFb, NOT_FOUND")
    assert "submit the request again" in message and raised.value.status == 502
    assert fw_gateway.pool.view(fw_gateway.pool.records()[0].id).projects == ()
    assert len(flowweb.emulator.calls("p0UkFb")) == 1 and len(flowweb.emulator.calls("jHPbke")) == 1


async def test_a_resume_whose_submit_never_arrived_submits_in_a_new_project(fw_gateway: Gateway,
                                                                           flowweb: FlowWeb) -> None:
    provider = fw_gateway.app[PROVIDERS]["flowweb-video"]
    job = video_job("a slow sunrise")
    async with aiohttp.ClientSession() as http:
        source = provider.generate(call_for(fw_gateway, job, http))
        submitting = await anext(source)
        assert isinstance(submitting, Submitting)
        await source.aclose()  # the process stops before the submit left
        await forget_projects(flowweb)
        resumed = [e async for e in provider.resume(call_for(fw_gateway, job, http), dict(submitting.resume))]
    assert any(isinstance(e, MediaOutput) for e in resumed)
    submitted = [e.resume for e in resumed if isinstance(e, Submitted)]
    assert submitted[-1]["project"] != submitting.resume["project"]
    assert len(flowweb.emulator.calls("jHPbke")) == 2
