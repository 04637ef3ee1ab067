"""flow.google.com errors through the public API (spec §2.7, §14.4) and the shipped catalog's Omni variants.

Status codes 3/7/8/16 reach the client as 400/403/429/401 with the upstream code in the message; a
content-policy refusal — at submit, or as a video that ends with a ``PUBLIC_ERROR_*`` reason — is a 400
naming the reason, never a 5xx (the original answered 500, its #167).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from flow2api_flowweb.statuses import GRPC_NAMES
from flowweb_helpers import FLOWWEB_FACTORIES, FlowWeb, add_flowweb_account, chat, flowweb_settings, sdk

from flow2api.testing import REPO, Gateway


@pytest.mark.parametrize(("code", "error", "status"), [
    (3, openai.BadRequestError, 400),
    (7, openai.PermissionDeniedError, 403),
    (8, openai.RateLimitError, 429),
    (16, openai.AuthenticationError, 401),
])  # the message names the status in words: GRPC_NAMES
async def test_rpc_status_codes_map_to_http(fw_gateway: Gateway, flowweb: FlowWeb, code: int, error: type,
                                            status: int) -> None:
    flowweb.emulator.faults.add({"kind": "rpc_error", "operation": "ogiZ0b", "code": code})
    with pytest.raises(error) as raised:
        await chat(fw_gateway, "fw-image", "a fox")
    assert raised.value.status_code == status and f"rpc ogiZ0b, {GRPC_NAMES[code]}" in raised.value.message


@pytest.mark.parametrize("reason", ["PUBLIC_ERROR_UNSAFE_GENERATION", "PUBLIC_ERROR_PROMINENT_PEOPLE_FILTER_FAILED",
                                    "PUBLIC_ERROR_MINOR_UPLOAD"])
async def test_a_policy_refusal_at_submit_is_a_400_with_the_reason(fw_gateway: Gateway, flowweb: FlowWeb,
                                                                   reason: str) -> None:
    flowweb.emulator.faults.add({"kind": "safety", "operation": "YhhmEf", "reason": reason})
    with pytest.raises(openai.BadRequestError) as raised:
        await chat(fw_gateway, "fw-t2v", "something")
    assert raised.value.code == "content_policy_violation" and reason in raised.value.message


async def test_a_video_filtered_after_submit_is_a_400_not_a_5xx(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    flowweb.emulator.faults.add({"kind": "video_fail", "media_status": 7,
                                 "message": "PUBLIC_ERROR_UNSAFE_GENERATION: the output was filtered."})
    with pytest.raises(openai.BadRequestError) as raised:
        await chat(fw_gateway, "fw-t2v", "something")
    assert raised.value.code == "content_policy_violation"
    assert "PUBLIC_ERROR_UNSAFE_GENERATION" in raised.value.message and "filtered" in raised.value.message


@pytest.fixture
async def shipped_gateway(tmp_path: Path, flowweb: FlowWeb, start_gateway: Callable) -> Gateway:
    """A gateway on the shipped models.yaml (flowweb providers only) with one Pro account."""
    gateway = await start_gateway(flowweb_settings(tmp_path, flowweb, catalog=REPO / "models.yaml"), FLOWWEB_FACTORIES)
    await add_flowweb_account(gateway, flowweb.emulator.add_account("bob@example.com", tier=1, credits=500))
    return gateway


async def test_omni_flash_4s_portrait_360p_through_the_videos_api(shipped_gateway: Gateway, flowweb: FlowWeb) -> None:
    client = sdk(shipped_gateway)
    video = await client.videos.create_and_poll(model="omni-flash", prompt="a paper boat", seconds="4",
                                                size="360x640", poll_interval_ms=50)
    assert video.status == "completed", video.error
    item = flowweb.emulator.calls("YhhmEf")[0].args[0][0]
    assert (item[1], item[2], item[7]) == ("abra_t2v_4s_360p", 1, [4]) and len(item) == 8
    content = await client.videos.download_content(video.id)
    assert content.content[4:8] == b"ftyp"


async def test_omni_start_frame_and_references_use_their_own_keys(shipped_gateway: Gateway, flowweb: FlowWeb) -> None:
    from flowweb_helpers import png_data_uri

    await chat(shipped_gateway, "omni_i2v_portrait_6s_360p", "it moves", [png_data_uri()])
    item = flowweb.emulator.calls("eb1hJf")[0].args[0][0]
    assert (item[1], item[2], item[9]) == ("abra_i2v_6s_360p", 1, [4])
    await chat(shipped_gateway, "omni_i2v_10s", "from one to the other", [png_data_uri(), png_data_uri((0, 0, 200))])
    assert flowweb.emulator.calls("nprQif")[0].args[0][0][1] == "omni_flash_i2v_10s_first_last"
    await chat(shipped_gateway, "omni_10s_360p", "with my cat", [png_data_uri()])
    refs = flowweb.emulator.calls("MZZa6b")[0].args[0][0]
    assert (refs[2], refs[3], refs[11]) == ("abra_r2v_10s_360p", 2, [4])
