"""Issue "the main job end to end": the official openai SDK gets a Flow image through flow2api.

Emulator and gateway run on free loopback ports; the account is added with
the pool function behind ``flow2api accounts add``.
"""

from __future__ import annotations

import aiohttp
from openai import AsyncOpenAI

from videofx_gateway import API_KEY, Gateway, Upstream, shipped_catalog

PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff"
MODEL = "gemini-3.1-flash-image-landscape"


def sdk(gateway: Gateway) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=API_KEY, max_retries=0, timeout=30)


async def fetch_image(url: str) -> bytes:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200, url
        assert resp.content_type in ("image/png", "image/jpeg")
        return await resp.read()


def image_url_of(markdown: str) -> str:
    assert markdown.startswith("![Generated Image](") and markdown.endswith(")"), markdown
    return markdown[len("![Generated Image]("):-1]


async def test_models_list_is_the_catalog(gateway: Gateway) -> None:
    models = [m async for m in sdk(gateway).models.list()]
    ids = {m.id for m in models}
    assert MODEL in ids and "veo_3_1_t2v_fast_landscape" in ids
    assert len(ids) == len(models) and ids == {i.id for i in shipped_catalog().listing()}
    one = next(m for m in models if m.id == MODEL)
    assert one.owned_by == "flow2api" and one.object == "model"
    assert one.model_extra["flow2api"]["kind"] == "image"
    assert one.model_extra["flow2api"]["aspect_ratio"] == "IMAGE_ASPECT_RATIO_LANDSCAPE"


async def test_stream_gives_progress_then_an_image(gateway: Gateway, upstream: Upstream) -> None:
    stream = await sdk(gateway).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "a lighthouse at dawn"}], stream=True,
    )
    chunks = [c async for c in stream]
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    progress = [c.choices[0].delta.model_extra.get("reasoning_content") for c in chunks if c.choices]
    assert any(progress), "no progress chunk before the image"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.model == MODEL for c in chunks)
    body = await fetch_image(image_url_of(content))
    assert body.startswith(PNG)
    sent = upstream.emulator.calls("batchGenerateImages")
    assert len(sent) == 1
    request = sent[0].json["requests"][0]
    assert request["structuredPrompt"]["parts"][0]["text"] == "a lighthouse at dawn"
    assert request["imageModelName"] == "NARWHAL" and request["imageAspectRatio"] == "IMAGE_ASPECT_RATIO_LANDSCAPE"


async def test_non_stream_gives_one_completion(gateway: Gateway) -> None:
    completion = await sdk(gateway).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "a lighthouse at dawn"}],
    )
    assert completion.object == "chat.completion"
    assert completion.model == MODEL
    assert completion.choices[0].finish_reason == "stop"
    body = await fetch_image(image_url_of(completion.choices[0].message.content))
    assert body.startswith(PNG)


async def test_image_to_image_uploads_the_input_first(gateway: Gateway, upstream: Upstream) -> None:
    import base64

    first = await sdk(gateway).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "a cat"}])
    source = await fetch_image(image_url_of(first.choices[0].message.content))
    data_uri = "data:image/png;base64," + base64.b64encode(source).decode()
    second = await sdk(gateway).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": [
        {"type": "text", "text": "make it blue"}, {"type": "image_url", "image_url": {"url": data_uri}},
    ]}])
    assert (await fetch_image(image_url_of(second.choices[0].message.content))).startswith(PNG)
    uploads = upstream.emulator.calls("uploadImage")
    assert len(uploads) == 1 and uploads[0].json["mimeType"] == "image/png"
    inputs = upstream.emulator.calls("batchGenerateImages")[-1].json["requests"][0]["imageInputs"]
    assert [i["imageInputType"] for i in inputs] == ["IMAGE_INPUT_TYPE_REFERENCE"]


async def test_upsampled_model_returns_jpeg_bytes(gateway: Gateway, upstream: Upstream) -> None:
    completion = await sdk(gateway).chat.completions.create(
        model="gemini-3.1-flash-image-square-2k", messages=[{"role": "user", "content": "a fox"}],
    )
    body = await fetch_image(image_url_of(completion.choices[0].message.content))
    assert body.startswith(JPEG)
    generation = upstream.emulator.calls("batchGenerateImages")[0].json
    upsample = upstream.emulator.calls("upsampleImage")[0].json
    assert upsample["clientContext"]["sessionId"] == generation["clientContext"]["sessionId"]
    assert upsample["targetResolution"] == "UPSAMPLE_IMAGE_RESOLUTION_2K"


async def test_media_url_is_served_with_type_and_range(gateway: Gateway) -> None:
    completion = await sdk(gateway).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    url = image_url_of(completion.choices[0].message.content)
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"Range": "bytes=0-7"}) as resp:
            assert resp.status == 206
            assert await resp.read() == PNG
        async with session.get(url.rsplit("/", 1)[0] + "/AAAAAAAAAAAAAAAAAAAAAAAA.png") as resp:
            assert resp.status == 404


async def test_video_then_extend_it_through_chat(gateway: Gateway, upstream: Upstream) -> None:
    """Spec §4.2 rule 6: an extend model takes the source video as ``image_url`` ``extend://<media id>``."""
    import re

    async with AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=API_KEY, max_retries=0, timeout=60) as client:
        first = await client.chat.completions.create(
            model="veo_3_1_t2v_fast_landscape", messages=[{"role": "user", "content": "a wave"}],
        )
        tag = first.choices[0].message.content
        media_id = re.search(r"data-media-id='([^']+)'", tag).group(1)
        video_url = re.search(r"src='([^']+)'", tag).group(1)
        async with aiohttp.ClientSession() as session, session.get(video_url) as resp:
            assert resp.content_type == "video/mp4" and (await resp.read())[4:8] == b"ftyp"
        second = await client.chat.completions.create(model="veo_3_1_extend", messages=[{"role": "user", "content": [
            {"type": "text", "text": "the wave breaks"},
            {"type": "image_url", "image_url": {"url": f"extend://{media_id}"}},
        ]}])
    assert "<video" in second.choices[0].message.content
    extend = upstream.emulator.calls("batchAsyncGenerateVideoExtendVideo")
    assert len(extend) == 1 and extend[0].json["requests"][0]["videoInput"]["mediaId"] == media_id
    assert not upstream.emulator.calls("uploadImage"), "extend:// must not be fetched as an image"


async def test_a_repeated_client_request_id_is_not_an_error(gateway: Gateway) -> None:
    """The request id names the task row; a client reusing its X-Request-ID still gets two generations."""
    async with AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=API_KEY, max_retries=0) as client:
        for _ in range(2):
            done = await client.chat.completions.with_raw_response.create(
                model=MODEL, messages=[{"role": "user", "content": "a kite"}], extra_headers={"X-Request-ID": "same-id"},
            )
            assert done.status_code == 200 and done.headers["X-Request-ID"].startswith("same-id.")
