"""Every flowweb RPC through the public API (openai SDK → gateway → emulator) with the ``http`` executor."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from flowweb_helpers import (
    FLOWWEB_FACTORIES, JPEG, PNG, FlowWeb, add_flowweb_account, chat, download, flowweb_settings, png_data_uri,
    result_url, sdk,
)

from flow2api.testing import Gateway


async def test_text_to_image_streams_progress_then_a_png(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    chunks = [c async for c in await sdk(fw_gateway).chat.completions.create(
        model="fw-image", messages=[{"role": "user", "content": "a lighthouse at dawn"}], stream=True)]
    progress = [c.choices[0].delta.model_extra.get("reasoning_content") for c in chunks if c.choices]
    assert any(progress)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    body, mime = await download(result_url(content))
    assert body.startswith(PNG) and mime == "image/png"
    call = flowweb.emulator.calls("ogiZ0b")[0]
    item = call.args[1][0]
    assert item[5] == "NARWHAL" and item[4] == 3 and item[8] == [[["a lighthouse at dawn"]]] and item[2] is None
    project = call.args[3][5]
    assert call.query["source-path"] == f"/project/{project}" and call.headers["x-same-domain"] == "1"
    assert call.account == "alice@example.com"
    assert call.form["at"] == flowweb.emulator.account("alice@example.com").at
    assert [c.operation for c in flowweb.emulator.requests if c.operation in ("jHPbke", "ogiZ0b")] == ["jHPbke", "ogiZ0b"]


async def test_image_edit_uploads_each_input_and_sends_the_first_as_base(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    content = await chat(fw_gateway, "fw-image", "make it blue", [png_data_uri(), png_data_uri((10, 200, 10))])
    body, _ = await download(result_url(content))
    assert body.startswith(PNG)
    uploads = flowweb.emulator.calls("maseQ")
    assert len(uploads) == 2 and uploads[0].args[2] == "image/png" and uploads[0].args[3] == 1
    inputs = flowweb.emulator.calls("ogiZ0b")[0].args[1][0][2]
    assert [i[4] for i in inputs] == [2, 1]
    assert {i[0] for i in inputs} == {m.id for m in flowweb.emulator.world.media.values() if m.kind == "upload"}


async def test_nano_banana_pro_three_four_uses_aspect_4(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    body, _ = await download(result_url(await chat(fw_gateway, "fw-image-pro-portrait", "a tall tower")))
    assert body.startswith(PNG)
    item = flowweb.emulator.calls("ogiZ0b")[0].args[1][0]
    assert item[5] == "GEM_PIX_2" and item[4] == 4


@pytest.mark.parametrize(("model", "target"), [("fw-image-2k", 1), ("fw-image-4k", 2)])
async def test_image_upscale_returns_the_jpeg(fw_gateway: Gateway, flowweb: FlowWeb, model: str, target: int) -> None:
    body, mime = await download(result_url(await chat(fw_gateway, model, "a cat")))
    assert body.startswith(JPEG) and mime == "image/jpeg"
    upscale = flowweb.emulator.calls("SPrCad")[0].args
    generated = flowweb.emulator.calls("ogiZ0b")[0]
    assert upscale[1] == target and upscale[2][5] is None
    assert upscale[0] in {m.id for m in flowweb.emulator.world.media.values() if m.kind == "image"}
    assert generated.args[3][10][0] != upscale[2][10][0]  # a fresh single-use token


async def test_a_4k_model_is_not_served_by_a_pro_account(tmp_path: Path, flowweb: FlowWeb,
                                                          start_gateway: Callable) -> None:
    gateway = await start_gateway(flowweb_settings(tmp_path, flowweb), FLOWWEB_FACTORIES)
    await add_flowweb_account(gateway, flowweb.emulator.add_account("pro@example.com", tier=1))
    with pytest.raises(openai.APIStatusError) as raised:
        await chat(gateway, "fw-image-4k", "a cat")
    assert raised.value.status_code == 503 and "no_account_available" in str(raised.value.body)
    assert flowweb.emulator.calls("ogiZ0b") == []


async def test_text_to_video_returns_the_mp4(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    content = await chat(fw_gateway, "fw-t2v", "a dog surfing", stream=True)
    body, mime = await download(result_url(content))
    assert body[4:8] == b"ftyp" and mime == "video/mp4"
    args = flowweb.emulator.calls("YhhmEf")[0].args
    item = args[0][0]
    assert item[0] == [None, None, [[["a dog surfing"]]]] and item[1] == "abra_t2v_8s" and item[2] == 2
    assert len(item) == 5 and args[2][1] == 1 and args[1][10][1] == 1
    video = item and flowweb.emulator.calls("jwpduf")[-1].args[2][0][0]
    assert flowweb.emulator.calls("as29s")[-1].args == [video]


async def test_360p_text_to_video_sends_the_resolution_option(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    await chat(fw_gateway, "fw-t2v-360p", "rain")
    item = flowweb.emulator.calls("YhhmEf")[0].args[0][0]
    assert item[1] == "abra_t2v_4s_360p" and item[2] == 1 and item[7] == [4]


async def test_image_to_video_start_frame(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    await chat(fw_gateway, "fw-i2v", "it starts to move", [png_data_uri()])
    item = flowweb.emulator.calls("eb1hJf")[0].args[0][0]
    upload = next(m for m in flowweb.emulator.world.media.values() if m.kind == "upload")
    assert item[1] == "veo_3_1_i2v_lite" and item[4][1] == upload.id and len(item[4]) == 6
    assert flowweb.emulator.calls("eb1hJf")[0].args[2][1] == 2


async def test_two_images_go_first_and_last_frame(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    content = await chat(fw_gateway, "fw-i2v", "morph", [png_data_uri(), png_data_uri((0, 0, 200))])
    assert (await download(result_url(content)))[0][4:8] == b"ftyp"
    item = flowweb.emulator.calls("nprQif")[0].args[0][0]
    assert item[1] == "veo_3_1_interpolation_lite" and item[4][1] != item[5][1]
    assert flowweb.emulator.calls("eb1hJf") == []


async def test_360p_start_frame_needs_exactly_one_image(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    await chat(fw_gateway, "fw-i2v-360p", "go", [png_data_uri()])
    assert flowweb.emulator.calls("eb1hJf")[0].args[0][0][9] == [4]
    with pytest.raises(openai.BadRequestError, match="1 input image"):
        await chat(fw_gateway, "fw-i2v-360p", "go", [png_data_uri(), png_data_uri()])


async def test_reference_images_to_video(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    await chat(fw_gateway, "fw-r2v", "these two meet", [png_data_uri(), png_data_uri((1, 2, 3))])
    item = flowweb.emulator.calls("MZZa6b")[0].args[0][0]
    uploads = [m.id for m in flowweb.emulator.world.media.values() if m.kind == "upload"]
    assert item[1] == [[None, uploads[0]], [None, uploads[1]]] and item[2] == "veo_3_1_r2v_lite_low_priority"


async def test_omni_goes_text_or_references_by_image_count(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    await chat(fw_gateway, "fw-omni", "no images")
    await chat(fw_gateway, "fw-omni", "one image", [png_data_uri()])
    assert flowweb.emulator.calls("YhhmEf")[0].args[0][0][1] == "abra_t2v_8s"
    assert flowweb.emulator.calls("MZZa6b")[0].args[0][0][2] == "abra_r2v_8s"


@pytest.mark.parametrize(("model", "target", "suffix"), [("fw-t2v-1080p", 2, "_upsampled"),
                                                          ("fw-t2v-4k", 3, "_4k_upsampled")])
async def test_video_promotion_polls_the_upsampled_id(fw_gateway: Gateway, flowweb: FlowWeb, model: str, target: int,
                                                      suffix: str) -> None:
    content = await chat(fw_gateway, model, "a city at night", stream=True)
    source = flowweb.emulator.calls("jwpduf")[0].args[2][0][0]
    row = flowweb.emulator.calls("p0UkFb")[0].args[0][0]
    assert row[0] == [None, source] and row[6] == target and row[4][1] == flowweb.emulator.world.media[source].workflow_id
    assert [source + suffix] in flowweb.emulator.calls("jwpduf")[-1].args[2]
    assert source + suffix in result_url(content) or flowweb.emulator.calls("as29s")[-1].args == [source + suffix]
    assert (await download(result_url(content)))[0][4:8] == b"ftyp"


async def test_credits_and_tier_are_read_at_add_and_after_a_video(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    record = fw_gateway.pool.records()[0]
    assert (record.family, record.email, record.tier, record.credits) == ("flowweb", "alice@example.com",
                                                                         "PAYGATE_TIER_TWO", 500)
    assert set(record.secrets) >= {"cookies", "at"} and record.state["bl"].startswith("boq_labs-ai-sandbox")
    await chat(fw_gateway, "fw-t2v", "waves")
    assert fw_gateway.pool.records()[0].credits == 500 - 12
    assert len(flowweb.emulator.calls("nzlxg")) == 2


async def test_concurrent_videos_of_one_account_share_one_status_call(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    flowweb.emulator.settings.video_polls_to_finish = 4
    await asyncio.gather(chat(fw_gateway, "fw-t2v", "one"), chat(fw_gateway, "fw-t2v", "two"))
    videos = {m.id for m in flowweb.emulator.world.media.values() if m.kind == "video"}
    batched = [c for c in flowweb.emulator.calls("jwpduf") if {i[0] for i in c.args[2]} == videos]
    assert len(videos) == 2 and batched
    assert len(flowweb.emulator.calls("jwpduf")) < 2 * 4


async def test_models_list_describes_flowweb_routes(fw_gateway: Gateway) -> None:
    models = {m.id: m async for m in sdk(fw_gateway).models.list()}
    assert {"fw-image", "fw-t2v", "fw-extend", "mixed-image"} <= set(models)
    assert models["fw-t2v-360p"].model_extra["flow2api"]["resolution"] == "360p"


async def test_a_safety_refusal_is_a_content_policy_error(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    flowweb.emulator.faults.add({"kind": "safety", "operation": "ogiZ0b"})
    with pytest.raises(openai.BadRequestError) as raised:
        await chat(fw_gateway, "fw-image", "something")
    assert raised.value.code == "content_policy_violation" and "PUBLIC_ERROR_UNSAFE_GENERATION" in raised.value.message


async def test_unusual_activity_is_retried_with_a_fresh_token(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    flowweb.emulator.faults.add({"kind": "captcha_fail", "operation": "ogiZ0b", "count": 1})
    body, _ = await download(result_url(await chat(fw_gateway, "fw-image", "a fox")))
    assert body.startswith(PNG)
    tokens = [c.args[3][10][0] for c in flowweb.emulator.calls("ogiZ0b")]
    assert len(tokens) == 2 and tokens[0] != tokens[1]


async def test_a_failed_video_is_a_generation_failure(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    flowweb.emulator.faults.add({"kind": "video_fail", "message": "Media not found."})
    with pytest.raises(openai.APIStatusError) as raised:
        await chat(fw_gateway, "fw-t2v", "nothing")
    assert raised.value.code == "generation_failed" and "Media not found." in raised.value.message


async def test_an_upstream_layout_change_names_the_rpc_and_slot(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    flowweb.emulator.faults.add({"kind": "bad_shape", "operation": "ogiZ0b", "path": [0, 0, 6]})
    with pytest.raises(openai.APIStatusError) as raised:
        await chat(fw_gateway, "fw-image", "x")
    assert raised.value.code == "upstream_changed"
    assert "ogiZ0b" in raised.value.message and "payload[0][0][6][0][13]" in raised.value.message


async def test_an_upstream_429_cools_the_account_down(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    flowweb.emulator.faults.add({"kind": "status", "status": 429, "retry_after": 30, "operation": "ogiZ0b",
                                 "account": "alice@example.com"})
    with pytest.raises(openai.RateLimitError):
        await chat(fw_gateway, "fw-image", "x")
    assert fw_gateway.pool.records()[0].cooldown_until is not None
