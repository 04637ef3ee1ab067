"""Video edit (jIps6) and the resumable video upload (spec §14.1–§14.2): gateway → provider → emulator.

A finished clip is edited through the chat surface (``extend://<media id>`` on an edit model); a user's MP4
goes through the provider as the job's first input (the Videos API sends it so), uploaded in chunks; the
local limits refuse before anything is uploaded or charged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aiohttp
import openai
import pytest
from flow2api_flowweb.options import VideoOptions
from flowweb_helpers import (
    FLOWWEB_FACTORIES, FlowWeb, add_flowweb_account, chat, download, flowweb_settings, png_data_uri, result_url,
)

from flow2api.discovery import PROVIDERS
from flow2api.errors import InvalidRequestError, PayloadTooLargeError
from flow2api.plugin import Call, InputImage, Job, Kind, MediaOutput
from flow2api.pool.pool import AccountHandle
from flow2api.testing import Gateway
from flow2api_flowkit.emulator.render import video_asset

MP4 = video_asset(portrait=True)   # a real 2.0 s MP4 (90x160)


async def finished_clip(gateway: Gateway, flowweb: FlowWeb, model: str = "fw-t2v") -> str:
    await chat(gateway, model, "a train leaves")
    return next(m.id for m in reversed(flowweb.emulator.world.media.values()) if m.kind == "video")


async def test_an_edit_of_a_finished_clip_sends_jips6_in_its_project(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    source = await finished_clip(fw_gateway, flowweb)
    credits = flowweb.emulator.account("alice@example.com").credits
    body, mime = await download(result_url(await chat(fw_gateway, "fw-edit", "make it night", [f"extend://{source}"])))
    assert body[4:8] == b"ftyp" and mime == "video/mp4"
    [call] = flowweb.emulator.calls("jIps6")
    item = call.args[0][0]
    # the captured layout: whole clip at 24 fps (8 s → 0..192), 720p ends at slot 4 without a reference
    assert item[0] == [None, source, 0, 192] and item[2] == "abra_edit" and item[3] == 2 and len(item) == 5
    assert item[4][:4] == [None, None, None, None] and call.args[2][1] == 2
    assert call.args[1][5] == flowweb.emulator.world.media[source].project
    assert flowweb.emulator.account("alice@example.com").credits == credits - 12
    edited = [m for m in flowweb.emulator.world.media.values() if m.model == "abra_edit"]
    assert len(edited) == 1 and edited[0].source == source


async def test_a_360p_edit_with_a_reference_fills_slots_8_and_12(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    source = await finished_clip(fw_gateway, flowweb)
    await chat(fw_gateway, "fw-edit-360p-portrait", "add a hat", [f"extend://{source}", png_data_uri()])
    item = flowweb.emulator.calls("jIps6")[0].args[0][0]
    upload = flowweb.emulator.calls("maseQ")[-1]
    reference = next(m for m in flowweb.emulator.world.media.values() if m.kind == "upload")
    assert item[2] == "abra_edit_360p" and item[3] == 1 and len(item) == 13
    assert item[8] == [[None, reference.id]] and item[12] == [4] and item[5:8] == [None] * 3
    assert upload.args[0][5] == flowweb.emulator.world.media[source].project == reference.project


async def test_an_edit_model_needs_a_source_and_no_other_model_edits(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await chat(fw_gateway, "fw-edit", "make it night")
    assert "generate from a prompt alone" in refused.value.message
    with pytest.raises(openai.BadRequestError) as refused:
        await chat(fw_gateway, "fw-edit", "make it night", ["extend://0b7f3c1e-0000-4000-8000-000000000000"])
    assert "does not know the source video" in refused.value.message
    assert not flowweb.emulator.calls("jIps6")


def edit_job(images: tuple[InputImage, ...], **options: object) -> Job:
    defaults = {"video_model_key": "abra_edit", "sub_kind": "edit", "aspect_ratio": "VIDEO_ASPECT_RATIO_PORTRAIT",
                "max_images": 1}
    return Job(model="fw-edit", kind=Kind.VIDEO, prompt="make it snow", images=images, operation="edit",
               options=VideoOptions(**{**defaults, **options}))  # type: ignore[arg-type]


async def run(gateway: Gateway, job: Job) -> list[object]:
    provider = gateway.app[PROVIDERS]["flowweb-video"]
    async with aiohttp.ClientSession() as http:
        call = Call(job, AccountHandle(gateway.pool, gateway.pool.records()[0].id), http)
        return [e async for e in provider.generate(call)]


@pytest.fixture
async def chunked(tmp_path: Path, flowweb: FlowWeb, start_gateway: Callable) -> Gateway:
    """A gateway uploading in 2 KiB chunks to an emulator with a 1 KiB granularity."""
    flowweb.emulator.settings.upload_granularity = 1024
    gateway = await start_gateway(flowweb_settings(tmp_path, flowweb, upload_chunk_bytes=2500, max_edit_seconds=5,
                                                  max_upload_video_bytes=20_000),
                                  FLOWWEB_FACTORIES)
    await add_flowweb_account(gateway, flowweb.emulator.add_account("carol@example.com", tier=1, credits=100))
    return gateway


async def test_an_uploaded_mp4_is_sent_in_chunks_then_edited(chunked: Gateway, flowweb: FlowWeb) -> None:
    events = await run(chunked, edit_job((InputImage(MP4, "video/mp4"),)))
    assert [e for e in events if isinstance(e, MediaOutput)]
    uploads = flowweb.emulator.calls("uploadVideo")
    commands = [c.headers["x-goog-upload-command"] for c in uploads]
    assert commands == ["start"] + ["upload"] * (len(MP4) // 2048) + ["upload, finalize"]
    start = uploads[0]
    assert start.headers["x-goog-upload-header-content-length"] == str(len(MP4))
    assert start.headers["x-goog-upload-header-content-type"] == "video/mp4" and start.headers["slug"] == "video.mp4"
    assert start.headers["x-framework-xsrf-token"] == flowweb.emulator.account("carol@example.com").at
    assert [int(c.headers["x-goog-upload-offset"]) for c in uploads[1:]] == list(range(0, len(MP4), 2048))
    uploaded = next(m for m in flowweb.emulator.world.media.values() if m.kind == "video_upload")
    item = flowweb.emulator.calls("jIps6")[0].args[0][0]
    assert item[0] == [None, uploaded.id, 0, 48]   # 2.0 s at 24 fps
    assert flowweb.emulator.calls("jIps6")[0].args[1][5] == uploaded.project


@pytest.mark.parametrize(("video", "error", "words"), [
    (InputImage(MP4, "video/x-msvideo"), InvalidRequestError, "video/mp4, video/quicktime or video/webm"),
    (InputImage(b"\x00" * 64, "video/mp4"), InvalidRequestError, "could not be read"),
    (InputImage(MP4 * 3, "video/mp4"), PayloadTooLargeError, "at most"),
])
async def test_local_limits_refuse_before_anything_is_sent(chunked: Gateway, flowweb: FlowWeb, video: InputImage,
                                                           error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        await run(chunked, edit_job((video,)))
    assert not flowweb.emulator.calls("uploadVideo") and not flowweb.emulator.calls("jIps6")


async def test_a_source_longer_than_the_edit_limit_is_refused(tmp_path: Path, flowweb: FlowWeb,
                                                              start_gateway: Callable) -> None:
    gateway = await start_gateway(flowweb_settings(tmp_path, flowweb, max_edit_seconds=1.5), FLOWWEB_FACTORIES)
    await add_flowweb_account(gateway, flowweb.emulator.add_account("dave@example.com", tier=1, credits=100))
    with pytest.raises(InvalidRequestError, match="2.0 s long"):
        await run(gateway, edit_job((InputImage(MP4, "video/mp4"),)))
    assert not flowweb.emulator.calls("uploadVideo")
