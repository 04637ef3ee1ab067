"""The Gemini surface through the official ``google-genai`` SDK pointed at flow2api."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from google import genai
from google.genai import errors, types

from flow2api.errors import GenerationFailedError
from flow2api.plugin import Progress
from tests.api.conftest import IMAGE_MODEL, MP4, VIDEO_MODEL, FakeWorld, png
from tests.conftest import API_KEY, Gateway

PNG = b"\x89PNG\r\n\x1a\n"


pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

GeminiFactory = Callable[..., genai.client.AsyncClient]


@pytest.fixture
def client(gemini_sdk: GeminiFactory) -> GeminiFactory:
    """``client(gateway, key=API_KEY)`` → the SDK's async client pointed at flow2api (:func:`flow2api.testing.gemini_sdk`)."""
    return gemini_sdk


async def test_generate_content_returns_inline_image(fake: FakeWorld, client: GeminiFactory) -> None:
    image = png(50, 50, (5, 6, 7))
    fake.image.default = [fake.image.default[0], type(fake.image.default[1])(
        kind=fake.image.default[1].kind, mime_type="image/png", data=image)]
    gw = await fake.start()
    response = await client(gw).models.generate_content(model=IMAGE_MODEL, contents="a teapot")
    parts = response.candidates[0].content.parts
    assert [p.inline_data.data for p in parts] == [image] and parts[0].inline_data.mime_type == "image/png"
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.model_version == IMAGE_MODEL
    assert fake.image.calls[0].job.prompt == "a teapot"


async def test_sdk_default_api_version_v1_also_works(fake: FakeWorld, client: GeminiFactory) -> None:
    """google-genai 3.x calls /v1/models/…:generateContent by default: same surface, Gemini auth and errors."""
    gw = await fake.start()
    response = await client(gw, api_version="v1").models.generate_content(model=IMAGE_MODEL, contents="a kettle")
    assert response.candidates[0].content.parts[0].inline_data.data
    with pytest.raises(genai.errors.ClientError) as err:
        await client(gw, key="wrong", api_version="v1").models.generate_content(model=IMAGE_MODEL, contents="x")
    assert err.value.code == 401 and err.value.status == "UNAUTHENTICATED"


async def test_inline_input_image_system_instruction_and_image_config(fake: FakeWorld, client: GeminiFactory) -> None:
    gw = await fake.start()
    source = png(30, 30)
    await client(gw).models.generate_content(
        model="fake-img",
        contents=[types.Content(role="user", parts=[
            types.Part.from_text(text="make it pop"), types.Part.from_bytes(data=source, mime_type="image/png")])],
        config=types.GenerateContentConfig(
            system_instruction="You are a poster designer.",
            image_config=types.ImageConfig(aspect_ratio="9:16"),
        ),
    )
    job = fake.image.calls[-1].job
    assert job.model == "fake-image-portrait"  # imageConfig.aspectRatio resolved the alias
    assert job.prompt == "You are a poster designer.\n\nmake it pop"
    assert [i.data for i in job.images] == [source]


async def test_tool_scaffolding_system_instruction_is_dropped(fake: FakeWorld, client: GeminiFactory) -> None:
    gw = await fake.start()
    await client(gw).models.generate_content(
        model=IMAGE_MODEL, contents="a cat",
        config=types.GenerateContentConfig(system_instruction="<tools>[{\"name\": \"search\"}]</tools> use tools"),
    )
    assert fake.image.calls[-1].job.prompt == "a cat"


async def test_video_comes_back_as_file_data(fake: FakeWorld, client: GeminiFactory) -> None:
    gw = await fake.start()
    response = await client(gw).models.generate_content(model=VIDEO_MODEL, contents="a river")
    part = response.candidates[0].content.parts[0]
    assert part.file_data.mime_type == "video/mp4"
    async with aiohttp.ClientSession() as http, http.get(part.file_data.file_uri) as r:
        assert await r.read() == MP4


async def test_stream_generate_content(fake: FakeWorld, client: GeminiFactory) -> None:
    fake.image.default = [Progress("step one"), 0.2, *fake.image.default]
    gw = await fake.start(generation={"keepalive_interval": 0.05})
    chunks = [c async for c in await client(gw).models.generate_content_stream(model=IMAGE_MODEL, contents="x")]
    thoughts = [p.text for c in chunks for p in c.candidates[0].content.parts if p.thought]
    assert "step one\n" in thoughts
    last = chunks[-1].candidates[0]
    assert last.finish_reason == types.FinishReason.STOP and last.content.parts[0].inline_data.data.startswith(PNG)
    assert all(c.text is None for c in chunks)  # progress is thought, not answer text


async def test_stream_error_after_start_is_a_gemini_error(fake: FakeWorld, client: GeminiFactory) -> None:
    fake.image.plans.append([Progress("working"), GenerationFailedError("Flow gave up.")])
    gw = await fake.start()
    with pytest.raises(errors.APIError) as err:
        async for _ in await client(gw).models.generate_content_stream(model=IMAGE_MODEL, contents="x"):
            pass
    assert err.value.code == 502 and "Flow gave up" in err.value.message


async def test_errors_have_the_gemini_shape(fake: FakeWorld, client: GeminiFactory) -> None:
    gw = await fake.start()
    with pytest.raises(errors.ClientError) as err:
        await client(gw).models.generate_content(model="no-such-model", contents="x")
    assert err.value.code == 404 and err.value.status == "NOT_FOUND"
    with pytest.raises(errors.ClientError) as err:
        await client(gw, key="wrong-key").models.generate_content(model=IMAGE_MODEL, contents="x")
    assert err.value.code == 401 and err.value.status == "UNAUTHENTICATED"
    async with aiohttp.ClientSession() as http:
        url = f"{gw.url}/v1beta/models/{IMAGE_MODEL}:generateContent?key={API_KEY}"
        async with http.post(url, json={"contents": []}) as r:
            body = await r.json()
    assert r.status == 400 and body["error"]["status"] == "INVALID_ARGUMENT" and set(body["error"]) == {
        "code", "message", "status", "details"}
    # A refusal naming a field says which one, as the Gemini API does (google.rpc.BadRequest).
    violation = body["error"]["details"][0]
    assert violation["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert violation["fieldViolations"][0]["field"] == "contents"


async def test_models_list_and_get(fake: FakeWorld, client: GeminiFactory) -> None:
    gw = await fake.start()
    listed = [m async for m in await client(gw).models.list()]
    names = {m.name for m in listed}
    assert f"models/{IMAGE_MODEL}" in names and "models/fake-img" in names  # aliases are listed too
    one = await client(gw).models.get(model=IMAGE_MODEL)
    assert one.name == f"models/{IMAGE_MODEL}" and one.version == "flow2api"
    assert "generateContent" in one.supported_actions
    with pytest.raises(errors.ClientError) as err:
        await client(gw).models.get(model="nope")
    assert err.value.code == 404



@pytest.mark.parametrize("api_version", [None, "v1beta"])
async def test_models_list_and_get_at_the_sdk_defaults(
        fake: FakeWorld, client: GeminiFactory, api_version: str | None) -> None:
    """Only ``base_url`` and ``api_key`` set: google-genai 3.x calls GET /v1/models[/{id}] with x-goog-api-key."""
    gw = await fake.start()
    sdk = client(gw, api_version=api_version)
    names = {m.name async for m in await sdk.models.list()}
    assert f"models/{IMAGE_MODEL}" in names and "models/fake-img" in names
    one = await sdk.models.get(model=IMAGE_MODEL)
    assert one.name == f"models/{IMAGE_MODEL}" and "generateContent" in one.supported_actions
    with pytest.raises(errors.ClientError) as err:
        await sdk.models.get(model="nope")
    assert err.value.code == 404 and err.value.status == "NOT_FOUND"
    assert f"API version {api_version or 'v1'}" in err.value.message
    with pytest.raises(errors.ClientError) as err:
        await client(gw, key="wrong-key", api_version=api_version).models.list()
    assert err.value.code == 401 and err.value.status == "UNAUTHENTICATED"


async def test_v1_models_answers_in_the_shape_of_the_key_it_got(fake: FakeWorld) -> None:
    """``x-goog-api-key``/``?key=`` → Gemini's shapes on /v1/models; a Bearer token → OpenAI's, as before."""
    gw = await fake.start()
    async with aiohttp.ClientSession() as http:
        async def get(path: str, **headers: str) -> tuple[int, dict]:
            async with http.get(f"{gw.url}{path}", headers=headers) as r:
                return r.status, await r.json()

        status, body = await get(f"/v1/models?key={API_KEY}")
        assert status == 200 and set(body) == {"models"} and body["models"][0]["name"].startswith("models/")
        status, body = await get(f"/v1/models/{IMAGE_MODEL}", **{"x-goog-api-key": API_KEY})
        assert status == 200 and body["name"] == f"models/{IMAGE_MODEL}"
        status, body = await get("/v1/models/aliases", **{"x-goog-api-key": API_KEY})
        assert status == 404 and body["error"]["status"] == "NOT_FOUND"
        status, body = await get("/v1/models", **{"x-goog-api-key": "wrong"})
        assert status == 401 and set(body["error"]) == {"code", "message", "status"}
        assert body["error"]["status"] == "UNAUTHENTICATED" and "wrong" not in body["error"]["message"]
        status, body = await get("/v1/models", Authorization=f"Bearer {API_KEY}")
        assert status == 200 and body["object"] == "list" and body["data"][0]["object"] == "model"
        status, body = await get("/v1/models/nope", Authorization=f"Bearer {API_KEY}")
        assert status == 404 and body["error"]["code"] == "model_not_found" and "type" in body["error"]
        status, body = await get("/v1/models")  # no key at all: OpenAI's 401 naming the Bearer header
        assert status == 401 and body["error"]["type"] and "Bearer" in body["error"]["message"]
        status, body = await get("/v1beta/models")
        assert status == 401 and "x-goog-api-key" in body["error"]["message"]
