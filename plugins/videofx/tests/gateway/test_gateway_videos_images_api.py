"""The Videos API's extensions and remix, and the Images API event stream, with the official ``openai`` SDK
against the labs Flow emulator and the shipped catalog."""

from __future__ import annotations

import base64
import io
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI
from openai.types import Video
from PIL import Image
from videofx_gateway import Gateway, Upstream

from flow2api.testing import until

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks the Sora API deprecated
SdkFactory = Any


async def finished(client: AsyncOpenAI, video_id: str) -> Any:
    async def check() -> Any:
        video = await client.videos.retrieve(video_id)
        return video if video.status in ("completed", "failed") else None

    return await until(check, timeout=20.0, interval=0.02)


async def made_video(client: AsyncOpenAI) -> Video:
    video = await client.videos.create(model="veo_3_1_t2v_fast_landscape", prompt="a paper boat")
    done = await finished(client, video.id)
    assert done.status == "completed", done.error
    return done


async def test_an_extension_is_the_stitched_clip(gateway: Gateway, upstream: Upstream, sdk: SdkFactory) -> None:
    client = sdk(gateway)
    source = await made_video(client)
    assert source.seconds == "8"
    with pytest.raises(openai.BadRequestError) as refused:
        await client.post("/videos/extensions", body={"prompt": "rain", "seconds": "9", "video": {"id": source.id}},
                          cast_to=Video)
    assert refused.value.body["param"] == "seconds" and '"15"' in refused.value.body["message"]
    assert not upstream.emulator.calls("batchAsyncGenerateVideoExtendVideo")
    # the stitched total (the reading) and the extension's own length (OpenAI's request field) both work
    ids = []
    for seconds in ("15", "7"):
        extension = await client.post("/videos/extensions", cast_to=Video,
                                      body={"prompt": "it rains", "seconds": seconds, "video": {"id": source.id}})
        done = await finished(client, extension.id)
        assert done.status == "completed", done.error
        assert done.seconds == "15" and done.model == "veo_3_1_extend"   # 8 s + Veo's 7 s extension
        ids.append(extension.id)
    calls = upstream.emulator.calls("batchAsyncGenerateVideoExtendVideo")
    source_media = next(v.video_id for v in upstream.emulator.world.videos.values() if not v.source_video_id)
    assert len(calls) == 2 and all(c.json["requests"][0]["videoModelKey"] == "veo_3_1_extend_landscape" for c in calls)
    assert {c.json["requests"][0]["videoInput"]["mediaId"] for c in calls} == {source_media}
    assert upstream.emulator.calls("runVideoFxConcatenation")
    assert (await client.videos.download_content(ids[0])).content[4:8] == b"ftyp"


async def test_a_remix_of_a_labs_video_names_the_operation(gateway: Gateway, upstream: Upstream,
                                                           sdk: SdkFactory) -> None:
    client = sdk(gateway)
    source = await made_video(client)
    with pytest.raises(openai.BadRequestError) as refused:
        await client.videos.remix(source.id, prompt="at night")
    assert "operation 'edit'" in refused.value.message and refused.value.body["param"] == "video_id"


async def test_images_generate_streams_the_sdks_events(gateway: Gateway, sdk: SdkFactory) -> None:
    stream = await sdk(gateway).images.generate(model="gemini-3.1-flash-image-landscape", prompt="a lighthouse",
                                                stream=True, partial_images=0, output_format="webp")
    events = [event async for event in stream]
    assert [e.type for e in events] == ["image_generation.completed"]
    [done] = events
    assert done.output_format == "webp" and done.background == "opaque" and done.usage.total_tokens == 0
    with Image.open(io.BytesIO(base64.b64decode(done.b64_json))) as image:
        assert image.format == "WEBP" and done.size == f"{image.width}x{image.height}"


async def test_images_edit_streams_image_edit_events(gateway: Gateway, sdk: SdkFactory) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 90, 200)).save(picture, "PNG")
    stream = await sdk(gateway).images.edit(model="gemini-3.1-flash-image-landscape", prompt="add a moon",
                                            image=("a.png", picture.getvalue(), "image/png"), stream=True,
                                            partial_images=2, n=2)
    events = [event async for event in stream]
    assert [e.type for e in events] == ["image_edit.completed"] * 2
    for event in events:
        with Image.open(io.BytesIO(base64.b64decode(event.b64_json))) as image:
            assert image.format == "PNG"
