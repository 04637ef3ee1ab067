"""Each API surface (chat, Gemini, Images, Videos) end to end with the VideoFX providers against the Flow emulator.

The surfaces' own behaviour is tested over the fake providers in the core's tests/api; these check that the
shipped catalog's models really come back as images and videos through every surface.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from google.genai import errors as genai_errors
from google.genai import types
from openai import AsyncOpenAI
from videofx_gateway import API_KEY, Gateway

from flow2api.testing import until

PNG = b"\x89PNG\r\n\x1a\n"

pytestmark = [
    pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the SDK marks the Sora API deprecated
]
SdkFactory = Any


async def fetch(url: str) -> bytes:
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        assert r.status == 200 and r.content_type == "image/png"
        return await r.read()


async def wait_status(client: AsyncOpenAI, video_id: str, *statuses: str) -> Any:
    async def check() -> Any:
        video = await client.videos.retrieve(video_id)
        return video if video.status in statuses else None

    return await until(check, timeout=10.0, interval=0.02)


async def test_video_through_chat_against_the_flow_emulator(gateway: Gateway, sdk: SdkFactory) -> None:
    stream = await sdk(gateway).chat.completions.create(
        model="veo_3_1_t2v_fast_landscape", messages=[{"role": "user", "content": "a paper boat"}], stream=True)
    content = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    match = re.fullmatch(r"<video src='(\S+)' data-media-id='[^']+' controls style='max-width:100%'></video>", content)
    assert match, content
    async with aiohttp.ClientSession() as http, http.get(match[1]) as r:
        assert r.content_type == "video/mp4" and (await r.read())[4:8] == b"ftyp"


async def test_images_api_against_the_flow_emulator(gateway: Gateway, sdk: SdkFactory) -> None:
    response = await sdk(gateway).images.generate(
        model="gemini-3.1-flash-image", prompt="a lighthouse", size="1024x1024", n=2)
    assert len(response.data) == 2
    for image in response.data:
        assert (await fetch(image.url)).startswith(PNG)


async def test_videos_api_against_the_flow_emulator(gateway: Gateway, sdk: SdkFactory) -> None:
    client = sdk(gateway)
    video = await client.videos.create(model="veo_3_1_t2v_fast", prompt="a paper boat", size="720x1280")
    done = await wait_status(client, video.id, "completed", "failed")
    assert done.status == "completed", done.error
    assert done.model == "veo_3_1_t2v_fast" and done.model_extra["flow2api"]["model"] == "veo_3_1_t2v_fast_portrait"
    content = (await client.videos.download_content(video.id)).content
    assert content[4:8] == b"ftyp"


async def test_against_the_flow_emulator(gateway: Gateway, gemini_sdk: Any) -> None:
    response = await gemini_sdk(gateway).models.generate_content(
        model="gemini-3.1-flash-image", contents="a lighthouse",
        config=types.GenerateContentConfig(image_config=types.ImageConfig(aspect_ratio="1:1")),
    )
    part = response.candidates[0].content.parts[0]
    assert part.inline_data.data.startswith(PNG)
    assert response.model_version == "gemini-3.1-flash-image-square"


@pytest.mark.parametrize("api_version", [None, "v1beta"])
async def test_gemini_sdk_at_its_defaults_against_the_flow_emulator(
        gateway: Gateway, gemini_sdk: Any, api_version: str | None) -> None:
    """google-genai with only ``base_url`` and ``api_key`` (``api_version=None``: it calls /v1/…) and with "v1beta"."""
    client = gemini_sdk(gateway, api_version=api_version)
    names = {m.name async for m in await client.models.list()}
    assert {"models/gemini-3.1-flash-image", "models/veo_3_1_t2v_fast_landscape"} <= names
    model = await client.models.get(model="gemini-3.1-flash-image")
    assert model.name == "models/gemini-3.1-flash-image"
    response = await client.models.generate_content(model="gemini-3.1-flash-image", contents="a lighthouse")
    assert response.candidates[0].content.parts[0].inline_data.data.startswith(PNG)
    with pytest.raises(genai_errors.ClientError) as err:
        await gemini_sdk(gateway, key="not-the-key", api_version=api_version).models.list()
    assert err.value.code == 401 and err.value.status == "UNAUTHENTICATED"


async def test_an_account_without_the_tier_is_503_naming_why(gateway: Gateway) -> None:
    # The fixture's account is PAYGATE_TIER_ONE; 4K models need PAYGATE_TIER_TWO (spec §4.1).
    body = {"model": "gemini-3.1-flash-image-landscape-4k", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as http, http.post(
            f"{gateway.url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {API_KEY}"}) as r:
        assert r.status == 503
        error = (await r.json())["error"]
    assert error["code"] == "no_account_available" and "tier" in error["message"]
