"""Every video operation through the public surface: the openai SDK → /v1/chat/completions → emulator.

Each test also checks what the emulator received (operation, key, images) and
that the answer's ``<video>`` link serves a real MP4 from flow2api's cache.
"""

from __future__ import annotations

import openai
import pytest
from videofx_helpers import Gateway, data_uri, fetch, is_mp4, png, user, video_url_of


async def chat_video(gw: Gateway, model: str, *messages_args: str, stream: bool = False) -> tuple[str, list]:
    """Run one chat completion; returns (content, progress lines)."""
    client = gw.sdk()
    if not stream:
        completion = await client.chat.completions.create(model=model, messages=user(*messages_args))
        return completion.choices[0].message.content, []
    chunks = [c async for c in await client.chat.completions.create(model=model, messages=user(*messages_args), stream=True)]
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    progress = [c.choices[0].delta.model_extra.get("reasoning_content") for c in chunks if c.choices]
    return content, [p for p in progress if p]


async def assert_mp4(content: str) -> bytes:
    content_type, body = await fetch(video_url_of(content))
    assert content_type == "video/mp4" and is_mp4(body)
    return body


async def test_text_to_video_streams_progress_then_a_cached_mp4(gateway: Gateway) -> None:
    content, progress = await chat_video(gateway, "veo_3_1_t2v_fast_landscape", "a drone shot of a coastline", stream=True)
    await assert_mp4(content)
    assert any("accepted" in p for p in progress) and any("active" in p for p in progress), progress
    emulator = gateway.upstream.emulator
    submit = emulator.calls("batchAsyncGenerateVideoText")
    assert len(submit) == 1
    item = submit[0].json["requests"][0]
    assert item["videoModelKey"] == "veo_3_1_t2v_fast" and item["aspectRatio"] == "VIDEO_ASPECT_RATIO_LANDSCAPE"
    assert item["textInput"]["structuredPrompt"]["parts"] == [{"text": "a drone shot of a coastline"}]
    assert submit[0].json["clientContext"]["userPaygateTier"] == "PAYGATE_TIER_ONE"
    name = emulator.calls("batchCheckAsyncVideoGenerationStatus")[-1].json["media"][0]["name"]
    redirect = emulator.calls("media.getMediaUrlRedirect")
    assert [r.query["name"] for r in redirect] == [name]
    assert len(emulator.calls("cdn.video")) == 1  # the core streamed the signed CDN URL once into its cache


async def test_non_stream_answers_one_completion_with_the_video(gateway: Gateway) -> None:
    content, _ = await chat_video(gateway, "veo_3_1_t2v_fast_portrait", "a cat")
    await assert_mp4(content)
    item = gateway.upstream.emulator.calls("batchAsyncGenerateVideoText")[0].json["requests"][0]
    assert item["videoModelKey"] == "veo_3_1_t2v_fast_portrait"
    assert item["aspectRatio"] == "VIDEO_ASPECT_RATIO_PORTRAIT"


async def test_text_to_video_drops_input_images(gateway: Gateway) -> None:
    content, _ = await chat_video(gateway, "veo_3_1_t2v_fast_landscape", "a cat", data_uri(png()))
    await assert_mp4(content)
    emulator = gateway.upstream.emulator
    assert emulator.calls("uploadImage") == []  # spec §4.2 rule 4: T2V models silently drop images
    assert len(emulator.calls("batchAsyncGenerateVideoText")) == 1


async def test_first_frame_uses_start_image_with_the_fl_key_stripped(gateway: Gateway) -> None:
    content, _ = await chat_video(gateway, "veo_3_1_i2v_s_fast_fl", "the boat sails away", data_uri(png()))
    await assert_mp4(content)
    emulator = gateway.upstream.emulator
    upload = emulator.calls("uploadImage")
    assert len(upload) == 1 and upload[0].json["mimeType"] == "image/png"
    item = emulator.calls("batchAsyncGenerateVideoStartImage")[0].json["requests"][0]
    assert item["videoModelKey"] == "veo_3_1_i2v_s_fast"
    assert "endImage" not in item and item["startImage"]["mediaId"].startswith("CAM")


async def test_first_and_last_frame_use_start_and_end_image_in_order(gateway: Gateway) -> None:
    first, last = data_uri(png((250, 0, 0))), data_uri(png((0, 0, 250)))
    content, _ = await chat_video(gateway, "veo_3_1_i2v_s_fast_fl", "morph", first, last)
    await assert_mp4(content)
    emulator = gateway.upstream.emulator
    names = [c.json["clientContext"]["projectId"] for c in emulator.calls("uploadImage")]
    assert len(names) == 2
    item = emulator.calls("batchAsyncGenerateVideoStartAndEndImage")[0].json["requests"][0]
    assert item["videoModelKey"] == "veo_3_1_i2v_s_fast_fl"
    uploaded = [m.name for m in emulator.world.images.values() if m.name.startswith("CAM")]
    assert [item["startImage"]["mediaId"], item["endImage"]["mediaId"]] == uploaded


async def test_interpolation_needs_exactly_two_frames(gateway: Gateway) -> None:
    content, _ = await chat_video(gateway, "veo_3_1_interpolation_lite_landscape", "x", data_uri(png()), data_uri(png()))
    await assert_mp4(content)
    item = gateway.upstream.emulator.calls("batchAsyncGenerateVideoStartAndEndImage")[0].json["requests"][0]
    assert item["videoModelKey"] == "veo_3_1_interpolation_lite"
    with pytest.raises(openai.BadRequestError) as info:
        await chat_video(gateway, "veo_3_1_interpolation_lite_landscape", "x", data_uri(png()))
    assert "takes 2 input image" in info.value.message


async def test_lite_first_frame_keeps_its_key(gateway: Gateway) -> None:
    content, _ = await chat_video(gateway, "veo_3_1_i2v_lite_landscape", "x", data_uri(png()))
    await assert_mp4(content)
    item = gateway.upstream.emulator.calls("batchAsyncGenerateVideoStartImage")[0].json["requests"][0]
    assert item["videoModelKey"] == "veo_3_1_i2v_lite"


async def test_reference_images_video_with_three_references(gateway: Gateway) -> None:
    refs = [data_uri(png((i * 80, 90, 90))) for i in range(3)]
    content, _ = await chat_video(gateway, "veo_3_1_r2v_fast", "these three friends at a picnic", *refs)
    await assert_mp4(content)
    emulator = gateway.upstream.emulator
    item = emulator.calls("batchAsyncGenerateVideoReferenceImages")[0].json["requests"][0]
    assert item["videoModelKey"] == "veo_3_1_r2v_fast_landscape"
    assert [r["imageUsageType"] for r in item["referenceImages"]] == ["IMAGE_USAGE_TYPE_ASSET"] * 3
    assert len(emulator.calls("uploadImage")) == 3


async def test_reference_video_refuses_four_references_before_any_upstream_call(gateway: Gateway) -> None:
    emulator = gateway.upstream.emulator
    before = len(emulator.requests)
    with pytest.raises(openai.BadRequestError) as info:
        await chat_video(gateway, "veo_3_1_r2v_fast", "x", *[data_uri(png())] * 4)
    assert info.value.status_code == 400 and "0 to 3" in info.value.message
    assert [r.operation for r in emulator.requests[before:]] == []


async def test_reference_video_without_images_goes_to_the_text_endpoint(gateway: Gateway) -> None:
    content, _ = await chat_video(gateway, "veo_3_1_r2v_fast_portrait", "a dancer")
    await assert_mp4(content)
    item = gateway.upstream.emulator.calls("batchAsyncGenerateVideoText")[0].json["requests"][0]
    assert item["videoModelKey"] == "veo_3_1_r2v_fast_portrait"  # spec §4.2 rule 4: the r2v key is kept


async def test_omni_switches_key_with_images(gateway: Gateway) -> None:
    await assert_mp4((await chat_video(gateway, "omni", "a robot"))[0])
    await assert_mp4((await chat_video(gateway, "omni", "this robot", data_uri(png())))[0])
    emulator = gateway.upstream.emulator
    assert emulator.calls("batchAsyncGenerateVideoText")[0].json["requests"][0]["videoModelKey"] == "abra_t2v_8s"
    refs = emulator.calls("batchAsyncGenerateVideoReferenceImages")[0].json["requests"][0]
    assert refs["videoModelKey"] == "abra_r2v_8s" and len(refs["referenceImages"]) == 1


async def test_tier_two_account_gets_the_ultra_keys(start_gateway) -> None:  # noqa: ANN001
    gw = await start_gateway()
    await gw.add_account("ultra@example.com", tier="PAYGATE_TIER_TWO")
    await assert_mp4((await chat_video(gw, "veo_3_1_t2v_fast_landscape", "x"))[0])
    await assert_mp4((await chat_video(gw, "veo_3_1_i2v_s_fast_fl", "x", data_uri(png())))[0])
    await assert_mp4((await chat_video(gw, "veo_3_1_t2v_lite_landscape", "x"))[0])
    emulator = gw.upstream.emulator
    text = [c.json for c in emulator.calls("batchAsyncGenerateVideoText")]
    assert [t["requests"][0]["videoModelKey"] for t in text] == ["veo_3_1_t2v_fast_ultra", "veo_3_1_t2v_lite"]
    assert all(t["clientContext"]["userPaygateTier"] == "PAYGATE_TIER_TWO" for t in text)
    start = emulator.calls("batchAsyncGenerateVideoStartImage")[0].json["requests"][0]
    assert start["videoModelKey"] == "veo_3_1_i2v_s_fast_ultra"


@pytest.mark.parametrize(("model", "tier", "resolution", "upsampler", "base_key"), [
    ("veo_3_1_t2v_fast_1080p", "PAYGATE_TIER_ONE", "VIDEO_RESOLUTION_1080P", "veo_3_1_upsampler_1080p", "veo_3_1_t2v_fast"),
    ("veo_3_1_t2v_fast_4k", "PAYGATE_TIER_TWO", "VIDEO_RESOLUTION_4K", "veo_3_1_upsampler_4k", "veo_3_1_t2v_fast_ultra"),
])
async def test_upsampled_model_runs_a_second_job_on_the_video_uuid(
    start_gateway, model: str, tier: str, resolution: str, upsampler: str, base_key: str,  # noqa: ANN001
) -> None:
    gw = await start_gateway()
    await gw.add_account("up@example.com", tier=tier)
    content, progress = await chat_video(gw, model, "a waterfall", stream=True)
    await assert_mp4(content)
    assert any("Upsampl" in p for p in progress)
    emulator = gw.upstream.emulator
    generation = emulator.calls("batchAsyncGenerateVideoText")[0].json
    upsample = emulator.calls("batchAsyncGenerateVideoUpsampleVideo")[0].json
    assert generation["requests"][0]["videoModelKey"] == base_key
    item = upsample["requests"][0]
    source = next(iter(emulator.world.videos.values()))
    assert item["videoInput"] == {"mediaId": source.video_id}  # the UUID of the CDN path, spec §3.3
    assert item["resolution"] == resolution and item["videoModelKey"] == upsampler and "textInput" not in item
    assert upsample["clientContext"]["sessionId"] == generation["clientContext"]["sessionId"]
    assert upsample["mediaGenerationContext"]["batchId"] != generation["mediaGenerationContext"]["batchId"]
    upsampled = [v.name for v in emulator.world.videos.values() if v.resolution]
    assert [r.query["name"] for r in emulator.calls("media.getMediaUrlRedirect")][-1] == upsampled[0]


async def test_legacy_operations_response_form_is_polled_too(gateway: Gateway) -> None:
    gateway.upstream.emulator.settings.response_form = "operations"
    await assert_mp4((await chat_video(gateway, "veo_3_1_t2v_fast_landscape", "x"))[0])
    status = gateway.upstream.emulator.calls("batchCheckAsyncVideoGenerationStatus")
    assert status and all(set(s.json) == {"media"} for s in status)


async def test_inline_video_fallback_when_the_media_redirect_fails(gateway: Gateway) -> None:
    emulator = gateway.upstream.emulator
    emulator.faults.add({"kind": "status", "operation": "media.getMediaUrlRedirect", "status": 500})
    content, progress = await chat_video(gateway, "veo_3_1_t2v_fast_landscape", "x", stream=True)
    await assert_mp4(content)
    assert len(emulator.calls("getMedia")) == 1 and emulator.calls("cdn.video") == []
    assert any("inline video" in p for p in progress)
