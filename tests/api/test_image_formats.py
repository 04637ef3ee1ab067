"""The Images API fields of gpt-image-1 through the official ``openai`` SDK: ``output_format`` converted with
Pillow, ``output_compression``, ``background`` (``transparent`` refused), ``moderation`` (issue 21 item 5)."""

from __future__ import annotations

import base64
import io

import aiohttp
import pytest
from openai import BadRequestError
from PIL import Image

from tests.api.conftest import IMAGE_MODEL, FakeWorld, SdkFactory


async def fetch(url: str) -> tuple[str, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        assert r.status == 200
        return r.content_type, await r.read()


@pytest.mark.parametrize(("output_format", "pillow", "mime"), [
    ("webp", "WEBP", "image/webp"), ("jpeg", "JPEG", "image/jpeg"), ("png", "PNG", "image/png"),
])
async def test_output_format_is_what_comes_back(fake: FakeWorld, sdk: SdkFactory, output_format: str, pillow: str,
                                                mime: str) -> None:
    gw = await fake.start()
    client = sdk(gw)
    inline = await client.images.generate(model=IMAGE_MODEL, prompt="x", output_format=output_format,
                                          response_format="b64_json")
    data = base64.b64decode(inline.data[0].b64_json)
    assert Image.open(io.BytesIO(data)).format == pillow and inline.output_format == output_format
    linked = await client.images.generate(model=IMAGE_MODEL, prompt="x", output_format=output_format)
    content_type, data = await fetch(linked.data[0].url)
    assert content_type == mime and Image.open(io.BytesIO(data)).format == pillow


async def test_output_compression_sets_the_lossy_quality(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    client = sdk(gw)
    sizes = []
    for compression in (5, 100):
        response = await client.images.generate(model=IMAGE_MODEL, prompt="x", output_format="jpeg",
                                                output_compression=compression, response_format="b64_json")
        sizes.append(len(base64.b64decode(response.data[0].b64_json)))
    assert sizes[0] < sizes[1]


async def test_background_and_moderation(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    client = sdk(gw)
    with pytest.raises(BadRequestError) as err:
        await client.images.generate(model=IMAGE_MODEL, prompt="x", background="transparent")
    assert err.value.body["param"] == "background" and "transparent" in err.value.message
    assert fake.image.calls == []
    await client.images.generate(model=IMAGE_MODEL, prompt="x", background="opaque", moderation="low", quality="auto")
    assert len(fake.image.calls) == 1


@pytest.mark.parametrize(("field", "value"), [
    ("output_format", "gif"), ("output_compression", 101), ("output_compression", "50"), ("background", "clear"),
    ("moderation", "none"),
])
async def test_bad_image_fields_are_400(fake: FakeWorld, sdk: SdkFactory, field: str, value: object) -> None:
    gw = await fake.start()
    with pytest.raises(BadRequestError) as err:
        await sdk(gw).images.generate(model=IMAGE_MODEL, prompt="x", extra_body={field: value})
    assert err.value.body["param"] == field
