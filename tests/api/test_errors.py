"""Bad requests get OpenAI-shaped errors with the right status, and never a stack trace."""

from __future__ import annotations

import aiohttp
import pytest

from flow2api.errors import all_error_classes
from flow2api.pipeline.errors import GRPC_STATUS, gemini_error_body, openai_error_body
from flow2api.testing import API_KEY, FAKE_IMAGE_MODEL, FakeWorld, Gateway

MODEL = FAKE_IMAGE_MODEL


@pytest.fixture
async def gateway(fake: FakeWorld) -> Gateway:
    """A gateway of fake providers with one account (tier ``fake``)."""
    return await fake.start()


async def post(url: str, data: bytes | str, *, key: str | None = API_KEY) -> tuple[int, dict, str]:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    async with aiohttp.ClientSession() as session, session.post(url, data=data, headers=headers) as resp:
        text = await resp.text()
        return resp.status, (await resp.json(content_type=None)), text


def assert_openai_error(body: dict, text: str, code: str) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in text and 'File "' not in text


def chat(model: str = MODEL) -> str:
    import json

    return json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]})


async def test_wrong_api_key_is_401(gateway: Gateway) -> None:
    status, body, text = await post(f"{gateway.url}/v1/chat/completions", chat(), key="sk-wrong")
    assert status == 401
    assert_openai_error(body, text, "invalid_api_key")
    assert "sk-wrong" not in text


async def test_missing_api_key_is_401(gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{gateway.url}/v1/models") as resp:
        assert resp.status == 401
        assert_openai_error(await resp.json(), await resp.text(), "invalid_api_key")


async def test_unknown_model_is_404_model_not_found(gateway: Gateway) -> None:
    status, body, text = await post(f"{gateway.url}/v1/chat/completions", chat("no-such-model"))
    assert status == 404
    assert_openai_error(body, text, "model_not_found")
    assert body["error"]["param"] == "model"


@pytest.mark.parametrize("payload", ["{not json", "[1, 2]", "", '{"model": 5}', '{"model": "' + MODEL + '"}'])
async def test_malformed_body_is_400(gateway: Gateway, payload: str) -> None:
    status, body, text = await post(f"{gateway.url}/v1/chat/completions", payload)
    assert status == 400
    assert_openai_error(body, text, "invalid_request")


async def test_bad_image_data_uri_is_400(gateway: Gateway) -> None:
    import json

    payload = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,!!notbase64"}},
    ]}]})
    status, body, text = await post(f"{gateway.url}/v1/chat/completions", payload)
    assert status == 400
    assert_openai_error(body, text, "invalid_request")


async def test_no_account_is_503_with_a_clear_message(fake: FakeWorld) -> None:
    gw = await fake.start(accounts=0)
    status, body, text = await post(f"{gw.url}/v1/chat/completions", chat())
    assert status == 503
    assert_openai_error(body, text, "no_account_available")
    assert "no account is configured" in body["error"]["message"]


async def test_account_without_the_tier_is_503_naming_why(fake: FakeWorld) -> None:
    # The provider decides (``can_serve``): here only tier-"pro" accounts, and the one account is tier "fake".
    fake.image.serves = lambda options, account: account.tier == "pro"
    gw = await fake.start()
    status, body, text = await post(f"{gw.url}/v1/chat/completions", chat())
    assert status == 503
    assert_openai_error(body, text, "no_account_available")
    assert "tier" in body["error"]["message"]


async def test_unknown_path_under_v1_is_an_openai_404(gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{gateway.url}/v1/nope", headers={"Authorization": f"Bearer {API_KEY}"}) as resp:
            assert resp.status == 404
            assert_openai_error(await resp.json(), await resp.text(), "not_found")


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.__name__)
def test_every_error_class_renders_in_both_shapes(cls: type) -> None:
    exc = cls("something went wrong")
    openai = openai_error_body(exc)
    assert openai == {"error": {"message": "something went wrong", "type": cls.type, "param": None, "code": cls.code}}
    gemini = gemini_error_body(exc)
    assert gemini["error"]["code"] == cls.status and gemini["error"]["status"] == GRPC_STATUS[cls.status]
    assert cls.__name__.endswith("Error")
