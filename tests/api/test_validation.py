"""Strict input validation on every surface: what OpenAI and Gemini refuse, flow2api refuses, with a 400 naming
``param`` in the surface's shape, before anything reaches a provider (issue 19 item 6, issue 18 limits)."""

from __future__ import annotations

import base64
import io
import os
from typing import Any

import aiohttp
import pytest
from openai import BadRequestError

from tests.api.conftest import IMAGE_MODEL, VIDEO_MODEL, FakeWorld, SdkFactory, png
from tests.conftest import API_KEY

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks the Sora API deprecated

USER = [{"role": "user", "content": "a lighthouse"}]
GEMINI_USER = [{"role": "user", "parts": [{"text": "a lighthouse"}]}]
HEADERS = {"Authorization": f"Bearer {API_KEY}"}


async def post(url: str, body: Any = None, *, data: bytes | None = None) -> tuple[int, dict]:
    headers = {**HEADERS, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http, http.post(url, json=body, data=data, headers=headers) as r:
        return r.status, await r.json()


def data_uri(image: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(image).decode()


OPENAI_REFUSALS = [
    # Chat completions: types, roles, a user turn (OpenAI API reference "Create chat completion").
    ("/v1/chat/completions", {"model": IMAGE_MODEL, "messages": USER, "stream": "yes"}, "stream"),
    ("/v1/chat/completions", {"model": IMAGE_MODEL, "messages": USER, "n": "2"}, "n"),
    ("/v1/chat/completions", {"model": IMAGE_MODEL, "messages": USER, "stream_options": {"include_usage": 1}},
     "stream_options.include_usage"),
    ("/v1/chat/completions", {"model": IMAGE_MODEL, "messages": [{"role": "wizard", "content": "x"}]},
     "messages[0].role"),
    ("/v1/chat/completions", {"model": IMAGE_MODEL, "messages": [{"role": "system", "content": "draw a cat"}]},
     "messages"),
    ("/v1/chat/completions", {"model": IMAGE_MODEL, "messages": []}, "messages"),
    ("/v1/chat/completions", {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": 5}]},
     "messages[0].content"),
    ("/v1/chat/completions", {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": [
        {"type": "video", "video": "x"}]}]}, "messages[0].content[0]"),
    ("/v1/chat/completions", {"model": 7, "messages": USER}, "model"),
    ("/v1/chat/completions", {"model": IMAGE_MODEL, "messages": USER, "temperature": "hot"}, "temperature"),
    # Images API: sizes from the model's list, integers typed.
    ("/v1/images/generations", {"model": IMAGE_MODEL, "prompt": "x", "size": "huge"}, "size"),
    ("/v1/images/generations", {"model": IMAGE_MODEL, "prompt": "x", "size": "1024x1024"}, "size"),  # landscape only
    ("/v1/images/generations", {"model": IMAGE_MODEL, "prompt": "x", "n": "2"}, "n"),
    ("/v1/images/generations", {"model": IMAGE_MODEL, "prompt": "x", "n": 2.0}, "n"),
    ("/v1/images/generations", {"model": IMAGE_MODEL, "prompt": "x", "quality": "extreme"}, "quality"),
    ("/v1/images/generations", {"model": IMAGE_MODEL, "prompt": "x", "stream": "yes"}, "stream"),
    ("/v1/images/generations", {"model": IMAGE_MODEL, "prompt": 5}, "prompt"),
    ("/v1/images/generations", {"model": IMAGE_MODEL, "prompt": "   "}, "prompt"),
    ("/v1/images/edits", {"model": IMAGE_MODEL, "prompt": "x", "images": [{"file_id": "file-1"}]}, "images[0]"),
    ("/v1/images/edits", {"model": IMAGE_MODEL, "prompt": "x"}, "image"),
    # Videos API.
    ("/v1/videos", {"model": VIDEO_MODEL, "prompt": "x", "size": "999x1"}, "size"),
    ("/v1/videos", {"model": VIDEO_MODEL, "prompt": "x", "size": "720x1280"}, "size"),  # a landscape-only model
    ("/v1/videos", {"model": VIDEO_MODEL, "prompt": "x", "seconds": True}, "seconds"),
    ("/v1/videos", {"model": VIDEO_MODEL, "prompt": "x", "seconds": "eight"}, "seconds"),
    ("/v1/videos", {"model": VIDEO_MODEL, "prompt": "x", "input_reference": 5}, "input_reference"),
]


@pytest.mark.parametrize(("path", "body", "param"), OPENAI_REFUSALS, ids=[f"{p}:{w}" for p, _, w in OPENAI_REFUSALS])
async def test_openai_surfaces_refuse_what_openai_refuses(fake: FakeWorld, path: str, body: dict, param: str) -> None:
    gw = await fake.start()
    status, answer = await post(f"{gw.url}{path}", body)
    assert status == 400, answer
    assert set(answer["error"]) == {"message", "type", "param", "code"}
    assert answer["error"]["type"] == "invalid_request_error" and answer["error"]["param"] == param, answer
    assert fake.image.calls == [] and fake.video.calls == []


async def test_sizes_of_the_model_are_accepted(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    client = sdk(gw)
    for size in ("auto", "1792x1024", "1536x1024", "1280x720"):  # the landscape model's list
        await client.images.generate(model=IMAGE_MODEL, prompt="x", size=size)
    await client.images.generate(model="fake-img", prompt="x", size="1024x1792")  # the alias also makes portrait
    assert fake.image.calls[-1].job.model == "fake-image-portrait"
    with pytest.raises(BadRequestError) as err:
        await client.images.generate(model=IMAGE_MODEL, prompt="x", size="huge")  # type: ignore[arg-type]
    assert err.value.body["param"] == "size" and "1792x1024" in err.value.message  # the list is in the message
    with pytest.raises(BadRequestError) as err:  # multipart, as the SDK sends it
        await client.videos.create(model=VIDEO_MODEL, prompt="x", size="999x1")  # type: ignore[arg-type]
    assert err.value.body["param"] == "size"
    await client.videos.create(model=VIDEO_MODEL, prompt="x", size="1280x720")


async def test_form_fields_are_strings_so_forms_coerce(fake: FakeWorld, sdk: SdkFactory) -> None:
    gw = await fake.start()
    response = await sdk(gw).images.edit(model=IMAGE_MODEL, image=("a.png", png(), "image/png"), prompt="x", n=2)
    assert len(response.data) == 2  # n arrived as the form string "2"
    form = aiohttp.FormData({"model": IMAGE_MODEL, "prompt": "x", "n": "two"})
    form.add_field("image", png(), filename="a.png", content_type="image/png")
    async with aiohttp.ClientSession() as http, http.post(f"{gw.url}/v1/images/edits", data=form, headers=HEADERS) as r:
        assert r.status == 400 and (await r.json())["error"]["param"] == "n"


GEMINI_REFUSALS = [
    ({"contents": [{"role": "wizard", "parts": [{"text": "x"}]}]}, "contents[0].role"),
    ({"contents": [{"role": "model", "parts": [{"text": "x"}]}]}, "contents"),
    ({"contents": [{"role": "user", "parts": []}]}, "contents[0].parts"),
    ({"contents": {"parts": [{"text": "x"}]}}, "contents"),
    ({"contents": GEMINI_USER, "generationConfig": {"imageConfig": {"aspectRatio": "7:3"}}},
     "generationConfig.imageConfig.aspectRatio"),
    ({"contents": GEMINI_USER, "generationConfig": {"imageConfig": {"imageSize": "huge"}}},
     "generationConfig.imageConfig.imageSize"),
    ({"contents": GEMINI_USER, "generationConfig": {"candidateCount": "1"}}, "generationConfig.candidateCount"),
    ({"contents": [{"role": "user", "parts": [{"text": 5}]}]}, "contents[0].parts[0].text"),
]


@pytest.mark.parametrize(("body", "param"), GEMINI_REFUSALS, ids=[p for _, p in GEMINI_REFUSALS])
async def test_gemini_refuses_in_its_own_shape(fake: FakeWorld, body: dict, param: str) -> None:
    gw = await fake.start()
    status, answer = await post(f"{gw.url}/v1beta/models/{IMAGE_MODEL}:generateContent", body)
    assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT" and answer["error"]["code"] == 400
    violation = answer["error"]["details"][0]
    assert violation["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert violation["fieldViolations"][0]["field"] == param, answer
    assert fake.image.calls == []


async def test_prompts_past_max_prompt_chars_are_refused(fake: FakeWorld) -> None:
    gw = await fake.start(generation={"max_prompt_chars": 20})
    long = "a lighthouse at dawn, painted"  # 29 characters
    cases = [
        ("/v1/chat/completions", {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": long}]}, "messages"),
        ("/v1/images/generations", {"model": IMAGE_MODEL, "prompt": long}, "prompt"),
        ("/v1/videos", {"model": VIDEO_MODEL, "prompt": long}, "prompt"),
    ]
    for path, body, param in cases:
        status, answer = await post(f"{gw.url}{path}", body)
        assert (status, answer["error"]["param"]) == (400, param)
        assert "29 characters" in answer["error"]["message"] and "20" in answer["error"]["message"]
    status, answer = await post(f"{gw.url}/v1beta/models/{IMAGE_MODEL}:generateContent",
                                {"contents": [{"parts": [{"text": long}]}]})
    assert status == 400 and answer["error"]["details"][0]["fieldViolations"][0]["field"] == "contents"
    status, _ = await post(f"{gw.url}/v1/images/generations", {"model": IMAGE_MODEL, "prompt": "a lighthouse"})
    assert status == 200 and len(fake.image.calls) == 1 and fake.video.calls == []


async def test_default_prompt_limit_is_8000(fake: FakeWorld) -> None:
    gw = await fake.start()
    status, answer = await post(f"{gw.url}/v1/images/generations", {"model": IMAGE_MODEL, "prompt": "x" * 8001})
    assert (status, answer["error"]["param"]) == (400, "prompt")
    status, _ = await post(f"{gw.url}/v1/images/generations", {"model": IMAGE_MODEL, "prompt": "x" * 8000})
    assert status == 200


def noisy_png(side: int = 48) -> bytes:
    """A PNG that does not compress (random pixels): ``side`` × ``side`` × 3 bytes and a little more."""
    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, format="PNG")
    return out.getvalue()


async def test_input_images_of_one_request_are_capped_together(fake: FakeWorld) -> None:
    image = noisy_png()
    gw = await fake.start(inputs={"max_request_bytes": len(image) * 2 + 1})
    parts = [{"type": "text", "text": "merge"}] + [{"type": "image_url", "image_url": {"url": data_uri(image)}}] * 3
    status, answer = await post(f"{gw.url}/v1/chat/completions",
                                {"model": IMAGE_MODEL, "messages": [{"role": "user", "content": parts}]})
    assert status == 413 and answer["error"]["param"] == "messages" and answer["error"]["code"] == "payload_too_large"
    status, answer = await post(f"{gw.url}/v1/images/edits", {
        "model": IMAGE_MODEL, "prompt": "merge", "images": [{"image_url": data_uri(image)}] * 3})
    assert status == 413 and answer["error"]["param"] == "images[2]"
    assert fake.image.calls == []
    status, _ = await post(f"{gw.url}/v1/images/edits", {
        "model": IMAGE_MODEL, "prompt": "merge", "images": [{"image_url": data_uri(image)}] * 2})
    assert status == 200


@pytest.mark.parametrize("raw", [
    b'{"model": "fake-image", "prompt": "x", "n": ' + b"9" * 4301 + b"}",
    b'{"model": "fake-image", "prompt": "x", "n": NaN}',
    b'{"model": "fake-image", "prompt": "x", "n": -Infinity}',
], ids=["4301-digit integer", "NaN", "-Infinity"])
async def test_numbers_that_json_cannot_hold_are_a_400(fake: FakeWorld, raw: bytes) -> None:
    gw = await fake.start()
    for path in ("/v1/images/generations", "/v1/chat/completions", "/v1/videos"):
        status, answer = await post(f"{gw.url}{path}", data=raw)
        assert status == 400 and answer["error"]["type"] == "invalid_request_error", answer
    status, answer = await post(f"{gw.url}/v1beta/models/{IMAGE_MODEL}:generateContent", data=raw)
    assert status == 400 and answer["error"]["status"] == "INVALID_ARGUMENT"
