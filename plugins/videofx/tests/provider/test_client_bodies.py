"""Client level: the exact bodies the emulator received for each video operation, against the spec's shapes.

Every expected body below is written from flow-upstream.md (§2.8 envelope,
§2.9–2.15 request items, §2.14 status, §2.16 redirect, §2.17 media, §2.20
concatenation); only values that are random by design (token, seed, ids) are
taken from the recorded request and checked for their form.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from videofx_helpers import Upstream, is_mp4, png

from flow2api.errors import UpstreamProtocolError
from flow2api.plugin import InputImage
from flow2api_flowkit.captcha_chain import BUILTIN_SOURCES, TokenChain
from flow2api_videofx.client import FlowClient, VideoHandle
from flow2api_videofx.client_videos import parse_submission
from flow2api_videofx.options import VideoOptions
from flow2api_videofx.polling import read_status
from flow2api_videofx.video_plan import concat_inputs, plan_video, upsample_request, video_request
from flow2api_videofx.wire import session_id

SESSION = re.compile(r"^;\d{13}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIER = "PAYGATE_TIER_ONE"


@dataclass
class Flow:
    """A signed-in client, its project and a token chain, on the emulator."""

    upstream: Upstream
    client: FlowClient
    project: str
    tokens: TokenChain

    async def token(self) -> str:
        solved = await self.tokens.token(self.client.http, page_url=self.client.page_url(self.project),
                                         action="VIDEO_GENERATION", user_agent=self.client.user_agent)
        assert solved is not None
        return solved.token

    async def submit(self, operation: str, item: dict[str, Any]) -> tuple[VideoHandle, dict[str, Any], dict[str, Any]]:
        """Submit one item; returns (handle, body received, expected §2.8 envelope)."""
        token, sid, batch = await self.token(), session_id(), str(uuid.uuid4())
        submission = await self.client.submit_video(operation, token=token, sid=sid, batch_id=batch,
                                                    project_id=self.project, tier=TIER, requests=[item])
        received = self.upstream.emulator.calls(operation)[-1].json
        expected = {
            "mediaGenerationContext": {"batchId": batch, "audioFailurePreference": "BLOCK_SILENCED_VIDEOS"},
            "clientContext": {
                "recaptchaContext": {"token": token, "applicationType": "RECAPTCHA_APPLICATION_TYPE_WEB"},
                "sessionId": sid, "projectId": self.project, "tool": "PINHOLE", "userPaygateTier": TIER,
            },
            "requests": [item],
            "useV2ModelConfig": True,
        }
        return submission.handles[0], received, expected

    async def finish(self, handle: VideoHandle) -> str:
        """Poll until SUCCESSFUL; returns the video UUID from the redirect."""
        for _ in range(10):
            (item,) = await self.client.check_video_status([handle])
            if read_status(item).succeeded:
                location = await self.client.media_url(handle.name)
                assert location.video_id is not None
                return location.video_id
        raise AssertionError("video did not finish")


@pytest.fixture
async def flow(upstream: Upstream, http: aiohttp.ClientSession) -> Flow:
    account = upstream.emulator.add_account("bodies@example.com", tier=TIER, credits=10_000)
    client = FlowClient(http, upstream.flow_config(), st=account.st)
    session = await client.auth_session()
    client.use_credentials(st=account.st, at=session.access_token)
    project = await client.create_project("flow2api P1")
    return Flow(upstream, client, project, TokenChain.from_config(upstream.captcha_config(), BUILTIN_SOURCES))


def base_item(received: dict[str, Any], key: str, prompt: str, aspect: str = "VIDEO_ASPECT_RATIO_LANDSCAPE") -> dict[str, Any]:
    seed = received["requests"][0]["seed"]
    assert 1 <= seed <= 99_999
    return {"aspectRatio": aspect, "seed": seed, "textInput": {"structuredPrompt": {"parts": [{"text": prompt}]}},
            "videoModelKey": key, "metadata": {}}


def options(**values: Any) -> VideoOptions:
    return VideoOptions.model_validate({"aspect_ratio": "VIDEO_ASPECT_RATIO_LANDSCAPE", **values})


async def upload(flow: Flow, color: tuple[int, int, int]) -> str:
    return await flow.client.upload_image(flow.project, InputImage(png(color), "image/png"))


async def test_text_to_video_body(flow: Flow) -> None:
    plan = plan_video(options(video_model_key="veo_3_1_t2v_fast", sub_kind="t2v", max_images=0), tier=TIER,
                      image_count=0, source_video_id=None)
    item = video_request(plan, prompt="a coastline", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE", media_ids=[])
    _, received, expected = await flow.submit(plan.operation, item)
    assert plan.operation == "batchAsyncGenerateVideoText"
    expected["requests"] = [base_item(received, "veo_3_1_t2v_fast", "a coastline")]
    assert received == expected
    assert SESSION.match(received["clientContext"]["sessionId"]) and UUID.match(received["mediaGenerationContext"]["batchId"])
    headers = flow.upstream.emulator.calls(plan.operation)[-1].headers
    assert headers["authorization"].startswith("Bearer ya29.") and headers["content-type"] == "application/json"
    assert headers["origin"] == "https://labs.google" and headers["referer"] == "https://labs.google/"
    assert headers["x-browser-channel"] == "stable" and headers["sec-fetch-storage-access"] == "active"


async def test_upload_body(flow: Flow) -> None:
    name = await upload(flow, (10, 20, 30))
    received = flow.upstream.emulator.calls("uploadImage")[-1].json
    sid = received["clientContext"]["sessionId"]
    assert SESSION.match(sid) and name.startswith("CAM")
    assert received == {
        "clientContext": {"sessionId": sid, "tool": "PINHOLE", "projectId": flow.project},
        "fileName": f"flow2api_upload_{sid[1:]}.png", "imageBytes": received["imageBytes"],
        "isHidden": False, "isUserUploaded": True, "mimeType": "image/png",
    }


async def test_first_frame_body(flow: Flow) -> None:
    plan = plan_video(options(video_model_key="veo_3_1_i2v_s_fast_fl", sub_kind="i2v", single_image_key="veo_3_1_i2v_s_fast",
                              min_images=1, max_images=2), tier=TIER, image_count=1, source_video_id=None)
    start = await upload(flow, (200, 0, 0))
    _, received, expected = await flow.submit(plan.operation, video_request(
        plan, prompt="go", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE", media_ids=[start]))
    assert plan.operation == "batchAsyncGenerateVideoStartImage"
    expected["requests"] = [{**base_item(received, "veo_3_1_i2v_s_fast", "go"), "startImage": {"mediaId": start}}]
    assert received == expected


async def test_first_and_last_frame_body(flow: Flow) -> None:
    plan = plan_video(options(video_model_key="veo_3_1_i2v_s_fast_fl", sub_kind="i2v", min_images=1, max_images=2),
                      tier=TIER, image_count=2, source_video_id=None)
    first, last = await upload(flow, (200, 0, 0)), await upload(flow, (0, 0, 200))
    _, received, expected = await flow.submit(plan.operation, video_request(
        plan, prompt="go", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE", media_ids=[first, last]))
    assert plan.operation == "batchAsyncGenerateVideoStartAndEndImage"
    expected["requests"] = [{**base_item(received, "veo_3_1_i2v_s_fast_fl", "go"),
                             "startImage": {"mediaId": first}, "endImage": {"mediaId": last}}]
    assert received == expected


async def test_reference_images_body(flow: Flow) -> None:
    plan = plan_video(options(video_model_key="veo_3_1_r2v_fast_landscape", sub_kind="r2v", max_images=3), tier=TIER,
                      image_count=3, source_video_id=None)
    refs = [await upload(flow, (i * 60, 0, 0)) for i in range(3)]
    _, received, expected = await flow.submit(plan.operation, video_request(
        plan, prompt="friends", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE", media_ids=refs))
    assert plan.operation == "batchAsyncGenerateVideoReferenceImages"
    expected["requests"] = [{**base_item(received, "veo_3_1_r2v_fast_landscape", "friends"), "referenceImages": [
        {"imageUsageType": "IMAGE_USAGE_TYPE_ASSET", "mediaId": ref} for ref in refs]}]
    assert received == expected


async def test_status_redirect_media_upsample_extend_and_concatenation_bodies(flow: Flow) -> None:
    emulator = flow.upstream.emulator
    plan = plan_video(options(video_model_key="veo_3_1_t2v_fast", sub_kind="t2v"), tier=TIER, image_count=0,
                      source_video_id=None)
    handle, _, _ = await flow.submit(plan.operation, video_request(
        plan, prompt="a", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE", media_ids=[]))
    source = await flow.finish(handle)
    assert emulator.calls("batchCheckAsyncVideoGenerationStatus")[-1].json == {
        "media": [{"name": handle.name, "projectId": flow.project}]}
    redirect = emulator.calls("media.getMediaUrlRedirect")[-1]
    assert redirect.method == "GET" and redirect.query == {"name": handle.name, "mediaUrlType": "MEDIA_URL_TYPE_FULL_MEDIA"}
    assert redirect.headers["cookie"].startswith("__Secure-next-auth.session-token=") and redirect.status == 302
    assert "authorization" not in redirect.headers

    assert is_mp4(await flow.client.video_bytes(handle.name))
    media = emulator.calls("getMedia")[-1]
    assert (media.method, media.path, media.json) == ("GET", f"/v1/media/{handle.name}", None)

    item = upsample_request(aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE", resolution="VIDEO_RESOLUTION_4K",
                            key="veo_3_1_upsampler_4k", video_id=source)
    upsampled, received, expected = await flow.submit("batchAsyncGenerateVideoUpsampleVideo", item)
    scene = received["requests"][0]["metadata"]["sceneId"]
    assert UUID.match(scene)
    expected["requests"] = [{"aspectRatio": "VIDEO_ASPECT_RATIO_LANDSCAPE", "resolution": "VIDEO_RESOLUTION_4K",
                             "seed": received["requests"][0]["seed"], "videoInput": {"mediaId": source},
                             "videoModelKey": "veo_3_1_upsampler_4k", "metadata": {"sceneId": scene}}]
    assert received == expected
    await flow.finish(upsampled)

    extend = plan_video(options(video_model_key="veo_3_1_extend_landscape", sub_kind="extend", max_images=0), tier=TIER,
                        image_count=0, source_video_id=source)
    extended, received, expected = await flow.submit(extend.operation, video_request(
        extend, prompt="more", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE", media_ids=[]))
    workflow = received["requests"][0]["metadata"]["workflowId"]
    assert UUID.match(workflow)
    expected["requests"] = [{**base_item(received, "veo_3_1_extend_landscape", "more"),
                             "videoInput": {"mediaId": source}, "metadata": {"workflowId": workflow}}]
    assert received == expected
    extension = await flow.finish(extended)

    operation = await flow.client.concatenate(concat_inputs(source, extension))
    assert emulator.calls("runVideoFxConcatenation")[-1].json == {"inputVideos": [
        {"mediaGenerationId": source, "lengthNanos": 8000, "startTimeOffset": "0s", "endTimeOffset": "8s"},
        {"mediaGenerationId": extension, "lengthNanos": 8000, "startTimeOffset": "1s", "endTimeOffset": "8s"},
    ]}
    for _ in range(5):
        status = await flow.client.concatenation_status(operation)
        if status.done:
            break
    assert status.done and status.output_uri and "SUCCESSFUL" in status.status
    assert emulator.calls("runVideoFxCheckConcatenationStatus")[-1].json == {"operation": {"operation": {"name": operation}}}


async def test_both_create_reply_forms_give_the_media_name_to_poll(flow: Flow) -> None:
    emulator = flow.upstream.emulator
    plan = plan_video(options(video_model_key="veo_3_1_t2v_fast", sub_kind="t2v"), tier=TIER, image_count=0,
                      source_video_id=None)
    for form in ("media", "operations"):
        emulator.settings.response_form = form
        handle, _, _ = await flow.submit(plan.operation, video_request(
            plan, prompt="a", aspect_ratio="VIDEO_ASPECT_RATIO_LANDSCAPE", media_ids=[]))
        assert handle.name in emulator.world.videos and handle.project_id == flow.project
        await flow.finish(handle)


def test_create_reply_without_media_names_the_missing_field() -> None:
    with pytest.raises(UpstreamProtocolError, match="'media' or 'operations'"):
        parse_submission({"remainingCredits": 3}, "batchAsyncGenerateVideoText", "p")
    with pytest.raises(UpstreamProtocolError, match="'name'"):
        parse_submission({"media": [{"projectId": "p"}]}, "batchAsyncGenerateVideoText", "p")
    with pytest.raises(UpstreamProtocolError, match="'operation.name'"):
        parse_submission({"operations": [{"sceneId": "s"}]}, "batchAsyncGenerateVideoText", "p")
    legacy = parse_submission({"operations": [{"operation": {"name": "op1"}, "status": "x"}], "remainingCredits": 9},
                              "batchAsyncGenerateVideoText", "p")
    assert legacy.handles == [VideoHandle("op1", "p")] and legacy.remaining_credits == 9


async def test_image_generation_and_upsample_bodies(flow: Flow) -> None:
    emulator = flow.upstream.emulator
    ref = await upload(flow, (0, 120, 0))
    solved = await flow.tokens.token(flow.client.http, page_url=flow.client.page_url(flow.project),
                                     action="IMAGE_GENERATION", user_agent=flow.client.user_agent)
    assert solved is not None
    sid = session_id()
    images = await flow.client.generate_images(flow.project, token=solved.token, image_model="GEM_PIX_2",
                                               aspect_ratio="IMAGE_ASPECT_RATIO_SQUARE", prompt="a fox",
                                               media_ids=[ref], count=2, sid=sid)
    received = emulator.calls("batchGenerateImages")[-1]
    assert received.path == f"/v1/projects/{flow.project}/flowMedia:batchGenerateImages"
    body = received.json
    context = {"recaptchaContext": {"token": solved.token, "applicationType": "RECAPTCHA_APPLICATION_TYPE_WEB"},
               "sessionId": sid, "projectId": flow.project, "tool": "PINHOLE"}
    seeds = [r["seed"] for r in body["requests"]]
    assert all(1 <= s <= 999_999 for s in seeds)
    assert body == {
        "clientContext": context,
        "mediaGenerationContext": {"batchId": body["mediaGenerationContext"]["batchId"]},
        "useNewMedia": True,
        "requests": [{"clientContext": context, "seed": seed, "imageModelName": "GEM_PIX_2",
                      "imageAspectRatio": "IMAGE_ASPECT_RATIO_SQUARE", "structuredPrompt": {"parts": [{"text": "a fox"}]},
                      "imageInputs": [{"name": ref, "imageInputType": "IMAGE_INPUT_TYPE_REFERENCE"}]} for seed in seeds],
    }
    assert len(images) == 2

    solved = await flow.tokens.token(flow.client.http, page_url=flow.client.page_url(flow.project),
                                     action="IMAGE_GENERATION", user_agent=flow.client.user_agent)
    assert solved is not None
    data = await flow.client.upsample_image(flow.project, token=solved.token, media_id=images[0].name,
                                            target="UPSAMPLE_IMAGE_RESOLUTION_4K", sid=sid, tier=TIER)
    assert data.startswith(b"\xff\xd8\xff")
    assert emulator.calls("upsampleImage")[-1].json == {
        "mediaId": images[0].name, "targetResolution": "UPSAMPLE_IMAGE_RESOLUTION_4K",
        "clientContext": {"recaptchaContext": {"token": solved.token, "applicationType": "RECAPTCHA_APPLICATION_TYPE_WEB"},
                          "sessionId": sid, "projectId": flow.project, "tool": "PINHOLE", "userPaygateTier": TIER},
    }


async def test_session_credits_and_project_calls(flow: Flow) -> None:
    emulator = flow.upstream.emulator
    session = emulator.calls("auth.session")[-1]
    assert (session.method, session.json) == ("GET", None)
    assert session.headers["cookie"].startswith("__Secure-next-auth.session-token=")
    assert await flow.client.credits() == (emulator.accounts["bodies@example.com"].credits, TIER)
    credits = emulator.calls("credits")[-1]
    assert (credits.method, credits.json) == ("GET", None) and credits.headers["authorization"].startswith("Bearer ")
    create = emulator.calls("project.createProject")[-1]
    assert create.json == {"json": {"projectTitle": "flow2api P1", "toolName": "PINHOLE"}}
    assert create.headers["cookie"].startswith("__Secure-next-auth.session-token=")
