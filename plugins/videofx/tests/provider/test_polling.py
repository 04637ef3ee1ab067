"""The async video state machine (spec §3) and batched polling (one status call per account and interval)."""

from __future__ import annotations

import asyncio

import openai
import pytest
from flow2api_videofx.polling import ACTIVE, FAILED, PENDING, SUCCESSFUL, read_status
from videofx_helpers import Gateway, fetch, is_mp4, user, video_url_of

from flow2api.discovery import PROVIDERS

MODEL = "veo_3_1_t2v_fast_landscape"


def test_read_status_finds_the_status_in_any_of_its_three_places() -> None:
    assert read_status({"name": "a", "mediaMetadata": {"mediaStatus": {"mediaGenerationStatus": ACTIVE}}}).status == ACTIVE
    assert read_status({"name": "a", "mediaStatus": {"mediaGenerationStatus": SUCCESSFUL}}).succeeded
    assert read_status({"name": "a", "status": FAILED}).failed
    assert read_status({"name": "a", "status": "MEDIA_GENERATION_STATUS_ERROR_UNSAFE"}).failed
    assert read_status({"name": "a"}).status == PENDING  # missing status = PENDING (spec §3.1)
    failed = read_status({"name": "a", "mediaMetadata": {"mediaStatus": {
        "mediaGenerationStatus": FAILED, "error": {"code": 3, "message": "blocked"}}}})
    assert (failed.error_code, failed.error_message) == (3, "blocked")


async def completion(gw: Gateway, model: str = MODEL) -> str:
    reply = await gw.sdk().chat.completions.create(model=model, messages=user("a drone shot"))
    return reply.choices[0].message.content


async def test_fifty_concurrent_videos_share_one_status_call_per_interval(start_gateway) -> None:  # noqa: ANN001
    interval = 0.1
    gw = await start_gateway(flow={"poll_interval": interval})
    account_id = await gw.add_account("busy@example.com")
    emulator = gw.upstream.emulator
    emulator.settings.video_polls_to_finish = 3

    contents = await asyncio.gather(*(completion(gw) for _ in range(50)))

    bodies = await asyncio.gather(*(fetch(video_url_of(c)) for c in contents))
    assert all(t == "video/mp4" and is_mp4(b) for t, b in bodies)
    assert len(emulator.world.videos) == 50
    status = emulator.calls("batchCheckAsyncVideoGenerationStatus")
    times = [s.time for s in status]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= interval * 0.9, gaps  # never two status calls within one poll interval
    polled = [[m["name"] for m in s.json["media"]] for s in status]
    assert all(len(names) == len(set(names)) for names in polled)
    assert {n for names in polled for n in names} == set(emulator.world.videos)
    assert len(status) < 50 * 3  # one call per video and poll would be at least 150
    assert max(len(names) for names in polled) >= 5  # calls carry many media at once
    assert not gw.app[PROVIDERS]["videofx-video"].family.poller(account_id).running  # stopped when idle


async def test_failed_video_is_a_generation_failed_error(gateway: Gateway) -> None:
    gateway.upstream.emulator.faults.add({"kind": "video_fail", "error_message": "The model could not render this."})
    with pytest.raises(openai.APIStatusError) as info:
        await completion(gateway)
    assert info.value.status_code == 502
    assert info.value.body["code"] == "generation_failed"
    assert "could not render this" in info.value.message and "code 13" in info.value.message


@pytest.mark.parametrize(("fault", "reason"), [
    ({"error_message": "PUBLIC_ERROR_UNSAFE_GENERATION: the video was filtered.", "error_code": 3},
     "PUBLIC_ERROR_UNSAFE_GENERATION"),
    ({"media_status": "MEDIA_GENERATION_STATUS_ERROR_UNSAFE"}, "ERROR_UNSAFE"),
])
async def test_a_filtered_video_is_a_400_naming_the_reason(gateway: Gateway, fault: dict, reason: str) -> None:
    # The original answered 500 for UNSAFE_GENERATION (its #167): a content filter is the request's fault.
    gateway.upstream.emulator.faults.add({"kind": "video_fail", **fault})
    with pytest.raises(openai.BadRequestError) as info:
        await completion(gateway)
    assert info.value.body["code"] == "content_policy_violation" and reason in info.value.message


async def test_error_prefixed_status_is_terminal_too(gateway: Gateway) -> None:
    gateway.upstream.emulator.faults.add({"kind": "video_fail", "media_status": "MEDIA_GENERATION_STATUS_ERROR_UNKNOWN"})
    with pytest.raises(openai.APIStatusError) as info:
        await completion(gateway)
    assert info.value.body["code"] == "generation_failed"


async def test_stuck_active_job_gives_up(start_gateway) -> None:  # noqa: ANN001
    gw = await start_gateway(flow={"stuck_active_polls": 3})
    await gw.add_account("stuck@example.com")
    gw.upstream.emulator.settings.video_polls_to_finish = 50
    with pytest.raises(openai.APIStatusError) as info:
        await completion(gw)
    assert info.value.status_code == 504 and "stuck" in info.value.message
    assert len(gw.upstream.emulator.calls("batchCheckAsyncVideoGenerationStatus")) == 4  # ACTIVE after more than 3 polls


async def test_max_poll_attempts_is_a_timeout(start_gateway) -> None:  # noqa: ANN001
    gw = await start_gateway(flow={"max_poll_attempts": 3, "stuck_active_polls": 100})
    await gw.add_account("slow@example.com")
    gw.upstream.emulator.settings.video_polls_to_finish = 50
    with pytest.raises(openai.APIStatusError) as info:
        await completion(gw)
    assert info.value.status_code == 504 and "did not finish within 3 polls" in info.value.message


async def test_two_failed_polls_are_tolerated(gateway: Gateway) -> None:
    emulator = gateway.upstream.emulator
    emulator.faults.add({"kind": "status", "operation": "batchCheckAsyncVideoGenerationStatus", "status": 503, "count": 2})
    assert is_mp4((await fetch(video_url_of(await completion(gateway))))[1])
    assert [c.status for c in emulator.calls("batchCheckAsyncVideoGenerationStatus")] == [503, 503, 200, 200]


async def test_three_failed_polls_in_a_row_fail_the_job(gateway: Gateway) -> None:
    emulator = gateway.upstream.emulator
    emulator.faults.add({"kind": "status", "operation": "batchCheckAsyncVideoGenerationStatus", "status": 500})
    with pytest.raises(openai.APIStatusError) as info:
        await completion(gateway)
    assert info.value.status_code == 502 and info.value.body["code"] == "upstream_unavailable"
    assert len(emulator.calls("batchCheckAsyncVideoGenerationStatus")) == 3


async def test_status_reply_without_media_is_upstream_changed(gateway: Gateway) -> None:
    gateway.upstream.emulator.faults.add({"kind": "bad_shape", "operation": "batchCheckAsyncVideoGenerationStatus"})
    with pytest.raises(openai.APIStatusError) as info:
        await completion(gateway)
    assert info.value.body["code"] == "upstream_changed" and "'media'" in info.value.message


async def test_access_token_expiring_while_polling_is_refreshed(gateway: Gateway) -> None:
    emulator = gateway.upstream.emulator
    emulator.faults.add({"kind": "expire_at", "operation": "batchCheckAsyncVideoGenerationStatus", "count": 1})
    sessions = len(emulator.calls("auth.session"))
    assert is_mp4((await fetch(video_url_of(await completion(gateway))))[1])
    assert len(emulator.calls("auth.session")) == sessions + 1
    assert [c.status for c in emulator.calls("batchCheckAsyncVideoGenerationStatus")] == [401, 200, 200]


async def test_more_media_than_a_status_call_takes_are_polled_in_chunks(start_gateway) -> None:  # noqa: ANN001
    gw = await start_gateway(flow={"status_batch_size": 2, "poll_interval": 0.05})
    await gw.add_account("chunks@example.com")
    gw.upstream.emulator.settings.video_polls_to_finish = 3
    await asyncio.gather(*(completion(gw) for _ in range(5)))
    sizes = [len(s.json["media"]) for s in gw.upstream.emulator.calls("batchCheckAsyncVideoGenerationStatus")]
    assert max(sizes) == 2 and sum(sizes) >= 5 * 3
