"""The Videos API beyond create, with the official ``openai`` SDK against the flow.google.com emulator:
``videos.remix`` (a jIps6 edit of the source), ``videos.edit`` of an uploaded MP4, ``videos.extend``,
``download_content(variant="thumbnail")``, and the refusals (unknown ids, a disabled owner).
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import openai
import pytest
from flowweb_helpers import FlowWeb, sdk
from openai import AsyncOpenAI
from openai.types import Video
from PIL import Image

from flow2api.testing import Gateway
from flow2api_flowkit.emulator.render import video_asset

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks the Sora API deprecated

MP4 = video_asset(portrait=True)   # a real 2.0 s MP4 (90x160)


async def finished(client: AsyncOpenAI, video_id: str) -> Any:
    """The video once it left queued/in_progress (the emulator finishes on the 2nd poll)."""
    for _ in range(500):
        video = await client.videos.retrieve(video_id)
        if video.status not in ("queued", "in_progress"):
            return video
        await asyncio.sleep(0.02)
    raise AssertionError(f"{video_id} did not finish")


async def made_video(client: AsyncOpenAI, flowweb: FlowWeb) -> tuple[Any, str]:
    """A completed fw-t2v video and its upstream media id."""
    video = await client.videos.create(model="fw-t2v", prompt="a train leaves", seconds="8")
    done = await finished(client, video.id)
    assert done.status == "completed", done.error
    media = next(m.id for m in reversed(flowweb.emulator.world.media.values()) if m.kind == "video")
    return done, media


async def test_remix_edits_the_source_with_jips6(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    client = sdk(fw_gateway)
    source, media_id = await made_video(client, flowweb)
    remix = await client.videos.remix(source.id, prompt="the same train at night")
    assert remix.status in ("queued", "in_progress") and remix.remixed_from_video_id == source.id
    assert remix.id != source.id and remix.prompt == "the same train at night"
    done = await finished(client, remix.id)
    assert done.status == "completed", done.error
    assert done.model == "fw-edit" and done.seconds == "8" and done.expires_at > done.completed_at
    assert done.remixed_from_video_id == source.id
    [call] = flowweb.emulator.calls("jIps6")
    item = call.args[0][0]
    assert item[0] == [None, media_id, 0, 192] and item[2] == "abra_edit"  # the source, whole clip at 24 fps
    assert call.args[1][5] == flowweb.emulator.world.media[media_id].project
    sent = json.dumps(call.args)
    [token] = [t for token, t in flowweb.emulator.world.tokens.items() if token in sent]
    assert token.action == "VIDEO_GENERATION" and token.project == call.args[1][5] and token.used
    content = await client.videos.download_content(remix.id)
    assert content.content[4:8] == b"ftyp"


async def test_an_uploaded_mp4_is_edited(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    client = sdk(fw_gateway)
    job = await client.videos.edit(prompt="make it snow", video=("clip.mp4", MP4, "video/mp4"))
    assert job.status in ("queued", "in_progress") and job.remixed_from_video_id is None
    done = await finished(client, job.id)
    assert done.status == "completed", done.error
    assert done.model == "fw-edit-360p-portrait"  # a portrait upload picks the portrait edit model
    uploaded = next(m for m in flowweb.emulator.world.media.values() if m.kind == "video_upload")
    item = flowweb.emulator.calls("jIps6")[0].args[0][0]
    assert item[0] == [None, uploaded.id, 0, 48]   # 2.0 s at 24 fps
    assert flowweb.emulator.calls("uploadVideo")


async def by_id(client: AsyncOpenAI, path: str, **body: Any) -> Video:
    """A JSON POST through the SDK's client: its ``videos.edit``/``extend`` refuse a ``{"id"}`` video themselves
    (``extract_files`` wants a file there), so a source by id goes as JSON, as LiteLLM sends it."""
    return await client.post(path, body=body, cast_to=Video)


async def test_an_edit_by_id_and_an_extension(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    client = sdk(fw_gateway)
    source, media_id = await made_video(client, flowweb)
    edit = await by_id(client, "/videos/edits", prompt="in watercolour", video={"id": source.id})
    assert (await finished(client, edit.id)).status == "completed"
    assert flowweb.emulator.calls("jIps6")[0].args[0][0][0][1] == media_id
    extension = await by_id(client, "/videos/extensions", prompt="it enters a tunnel", seconds="16",
                            video={"id": source.id})
    done = await finished(client, extension.id)
    assert done.status == "completed", done.error
    assert done.model == "fw-extend" and done.seconds == "16"
    item = flowweb.emulator.calls("fZytfe")[0].args[0][0]
    assert item[0][1] == media_id and item[2] == "veo_3_1_extend_lite"


async def test_the_thumbnail_is_a_jpeg_of_the_first_frame(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    client = sdk(fw_gateway)
    source, _ = await made_video(client, flowweb)
    thumbnail = await client.videos.download_content(source.id, variant="thumbnail")
    assert thumbnail.response.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumbnail.content)) as image:
        assert image.format == "JPEG" and image.size[0] > 0
    with pytest.raises(openai.BadRequestError) as refused:
        await client.videos.download_content(source.id, variant="spritesheet")
    assert refused.value.body["param"] == "variant"


async def test_unknown_ids_are_404_in_openais_shape(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    client = sdk(fw_gateway)
    calls = [client.videos.remix("video_nope", prompt="x"),
             by_id(client, "/videos/edits", prompt="x", video={"id": "video_nope"}),
             by_id(client, "/videos/extensions", prompt="x", seconds="8", video={"id": "video_nope"}),
             client.videos.download_content("video_nope", variant="thumbnail")]
    for call in calls:
        with pytest.raises(openai.NotFoundError) as missing:
            await call
        body = missing.value.body
        assert set(body) == {"message", "type", "param", "code"} and body["type"] == "invalid_request_error"
        assert "video_nope" in body["message"]
    assert not flowweb.emulator.calls("jIps6") and not flowweb.emulator.calls("fZytfe")


async def test_a_source_whose_account_is_disabled_is_refused(fw_gateway: Gateway, flowweb: FlowWeb) -> None:
    client = sdk(fw_gateway)
    source, _ = await made_video(client, flowweb)
    credits = flowweb.emulator.account("alice@example.com").credits
    await fw_gateway.pool.update(fw_gateway.pool.records()[0].id, enabled=False)
    with pytest.raises(openai.BadRequestError) as refused:
        await client.videos.remix(source.id, prompt="at night")
    assert refused.value.body["code"] == "media_owner_unavailable" and "disabled" in refused.value.body["message"]
    assert not flowweb.emulator.calls("jIps6")
    assert flowweb.emulator.account("alice@example.com").credits == credits
    assert (await client.videos.list()).data[0].id == source.id  # no job was stored
