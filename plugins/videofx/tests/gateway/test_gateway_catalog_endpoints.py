"""``/v1/models``, ``/v1/models/aliases``, ``/v1/models/{id}``, and alias resolution through the whole pipeline."""

from __future__ import annotations

import base64
from pathlib import Path

import aiohttp
import pytest
from openai import AsyncOpenAI, NotFoundError

from flow2api.testing import copy_models_yaml, png
from videofx_gateway import API_KEY, Gateway, Upstream, make_settings, shipped_catalog

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def sdk(gateway: Gateway) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=API_KEY, max_retries=0, timeout=30)


async def get_json(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=AUTH) as resp:
        return resp.status, await resp.json()


async def test_aliases_are_listed_apart_with_is_alias(gateway: Gateway) -> None:
    status, body = await get_json(f"{gateway.url}/v1/models/aliases")
    assert status == 200 and body["object"] == "list"
    by_id = {item["id"]: item for item in body["data"]}
    assert set(by_id) == {a.id for a in shipped_catalog().public_aliases()}
    assert all(item["is_alias"] is True and item["object"] == "model" and item["owned_by"] == "flow2api" for item in body["data"])
    image = by_id["gemini-3.0-pro-image"]["flow2api"]
    assert image["kind"] == "image" and image["aspects"] == ["landscape", "portrait", "square", "four-three", "three-four"]
    assert image["sizes"] == ["2k", "4k"] and image["targets"]["portrait"]["4k"] == "gemini-3.0-pro-image-portrait-4k"
    video = by_id["veo_3_1_t2v_4s"]["flow2api"]
    assert video["also_concrete"] is True and "quality" not in video["hints"]
    assert video["targets"]["portrait"] == {"none": "veo_3_1_t2v_portrait_4s", "4k": "veo_3_1_t2v_portrait_4s_4k",
                                            "1080p": "veo_3_1_t2v_portrait_4s_1080p"}
    # a spec alias whose own model had another id's settings: a plain alias now, over the canonical ids
    folded = by_id["veo_3_1_t2v_8s"]["flow2api"]
    assert folded["also_concrete"] is False and folded["resolves_to"] == "veo_3_1_t2v_landscape"
    assert folded["targets"]["portrait"] == {"none": "veo_3_1_t2v_portrait", "4k": "veo_3_1_t2v_portrait_4k",
                                             "1080p": "veo_3_1_t2v_portrait_1080p"}


async def test_models_list_has_models_then_aliases_with_capabilities(gateway: Gateway) -> None:
    models = [m async for m in sdk(gateway).models.list()]
    ids = [m.id for m in models]
    catalog = shipped_catalog()
    concrete = [e.id for e in catalog.public_entries()]
    assert len(ids) == len(set(ids)) and ids[:len(concrete)] == concrete   # the models first, in file order
    assert set(ids[len(concrete):]) == {a.id for a in catalog.public_aliases()} - set(concrete)
    # the aliases the docs recommend are listed, marked as aliases, with what they resolve to (issue 19 item 7)
    by_id = {m.id: m.model_extra for m in models}
    for alias in ("gemini-3.1-flash-image", "veo_3_1_t2v_fast", "gemini-3.0-pro-image"):
        assert by_id[alias]["is_alias"] is True and by_id[alias]["flow2api"]["is_alias"] is True, alias
    flash = by_id["gemini-3.1-flash-image"]["flow2api"]
    assert flash["resolves_to"] == "gemini-3.1-flash-image-landscape" and flash["kind"] == "image"
    assert flash["aspect_ratio"] == "IMAGE_ASPECT_RATIO_LANDSCAPE" and flash["max_images"] is None
    fast = by_id["veo_3_1_t2v_fast"]["flow2api"]
    assert fast["sub_kind"] == "t2v" and fast["duration_seconds"] == 8 and fast["available"] is True
    assert by_id["veo_3_1_t2v_fast_4s"]["flow2api"]["is_alias"] is False   # an also-concrete id is listed once, as a model
    video = next(m for m in models if m.id == "veo_3_1_t2v_4k").model_extra["flow2api"]
    assert video["kind"] == "video" and video["is_alias"] is False and video["available"] is True
    assert video["duration_seconds"] == 8 and video["upsample"] == "VIDEO_RESOLUTION_4K"
    assert video["required_tier"] == "PAYGATE_TIER_TWO" and video["aspect_ratio"] == "VIDEO_ASPECT_RATIO_LANDSCAPE"
    image = next(m for m in models if m.id == "gemini-3.1-flash-image-square-2k").model_extra["flow2api"]
    assert (image["min_images"], image["max_images"], image["upsample"]) == (0, None, "UPSAMPLE_IMAGE_RESOLUTION_2K")


async def test_retrieve_a_model_an_alias_and_an_unknown_id(gateway: Gateway) -> None:
    client = sdk(gateway)
    model = await client.models.retrieve("gemini-3.1-flash-image-portrait")
    assert model.id == "gemini-3.1-flash-image-portrait" and model.model_extra["flow2api"]["is_alias"] is False
    alias = await client.models.retrieve("gemini-3.1-flash-image")
    assert alias.model_extra["is_alias"] is True and alias.model_extra["flow2api"]["default_aspect"] == "landscape"
    concrete = await client.models.retrieve("veo_3_1_t2v_fast_4s")   # the model object wins for also-concrete ids
    assert concrete.model_extra["flow2api"]["is_alias"] is False
    with pytest.raises(NotFoundError) as caught:
        await client.models.retrieve("no-such-model")
    assert caught.value.body["code"] == "model_not_found"


def chat_body(model: str, content: object, **extra: object) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


async def post_chat(gateway: Gateway, body: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.post(
        f"{gateway.url}/v1/chat/completions", json=body, headers=AUTH,
    ) as resp:
        return resp.status, await resp.json()


def sent_aspect_ratios(upstream: Upstream) -> list[str]:
    return [c.json["requests"][0]["imageAspectRatio"] for c in upstream.emulator.calls("batchGenerateImages")]


async def test_alias_resolves_from_the_request_before_an_account_is_leased(gateway: Gateway, upstream: Upstream) -> None:
    client = sdk(gateway)
    alias = "gemini-3.1-flash-image"
    await client.chat.completions.create(model=alias, messages=[{"role": "user", "content": "a"}])
    await client.chat.completions.create(
        model=alias, messages=[{"role": "user", "content": "b"}],
        extra_body={"generationConfig": {"imageConfig": {"aspectRatio": "9:16"}}},
    )
    await client.chat.completions.create(model=alias, messages=[{"role": "user", "content": "c"}], extra_body={"size": "1024x1024"})
    tall = "data:image/png;base64," + base64.b64encode(png(300, 400)).decode()
    completion = await client.chat.completions.create(model=alias, messages=[{"role": "user", "content": [
        {"type": "text", "text": "d"}, {"type": "image_url", "image_url": {"url": tall}},
    ]}])
    assert completion.model == alias   # the client sees the id it asked for
    assert sent_aspect_ratios(upstream) == [
        "IMAGE_ASPECT_RATIO_LANDSCAPE", "IMAGE_ASPECT_RATIO_PORTRAIT", "IMAGE_ASPECT_RATIO_SQUARE",
        "IMAGE_ASPECT_RATIO_PORTRAIT_THREE_FOUR",
    ]
    await client.chat.completions.create(model=alias, messages=[{"role": "user", "content": "e"}], extra_body={"quality": "medium"})
    assert upstream.emulator.calls("upsampleImage")[0].json["targetResolution"] == "UPSAMPLE_IMAGE_RESOLUTION_2K"


async def test_an_alias_target_the_account_tier_cannot_serve_is_refused_before_upstream(gateway: Gateway, upstream: Upstream) -> None:
    status, body = await post_chat(gateway, chat_body("gemini-3.1-flash-image", "x", generationConfig={"imageConfig": {"imageSize": "4K"}}))
    assert status == 503 and body["error"]["code"] == "no_account_available"
    assert "gemini-3.1-flash-image-landscape-4k" in body["error"]["message"]
    assert upstream.emulator.calls("batchGenerateImages") == []


async def test_disabled_entries_are_hidden_and_refused(tmp_path: Path, upstream: Upstream, start_gateway) -> None:
    path = copy_models_yaml(tmp_path)
    text = path.read_text(encoding="utf-8")
    text = text.replace("- id: gemini-3.1-flash-image-portrait\n  kind: image\n",
                        "- id: gemini-3.1-flash-image-portrait\n  kind: image\n  enabled: false\n", 1)
    text = text.replace("- id: imagen-4.0-generate-preview\n  kind: image\n",
                        "- id: imagen-4.0-generate-preview\n  kind: image\n  enabled: false\n", 1)
    path.write_text(text, encoding="utf-8")
    gw = await start_gateway(make_settings(tmp_path, upstream, catalog={"path": str(path)}))
    _, listing = await get_json(f"{gw.url}/v1/models")
    listed = {m["id"] for m in listing["data"]}
    assert listed == {i.id for i in shipped_catalog().listing()} - {"gemini-3.1-flash-image-portrait", "imagen-4.0-generate-preview"}
    _, aliases = await get_json(f"{gw.url}/v1/models/aliases")
    assert "imagen-4.0-generate-preview" not in {a["id"] for a in aliases["data"]}
    for model_id in ("gemini-3.1-flash-image-portrait", "imagen-4.0-generate-preview"):
        status, body = await get_json(f"{gw.url}/v1/models/{model_id}")
        assert status == 404 and body["error"]["code"] == "model_not_found"
        status, body = await post_chat(gw, chat_body(model_id, "x"))
        assert status == 404 and body["error"]["code"] == "model_not_found" and body["error"]["param"] == "model"
    status, body = await post_chat(gw, chat_body("gemini-3.1-flash-image", "x", aspect_ratio="9:16"))
    assert status == 404 and "resolves to 'gemini-3.1-flash-image-portrait'" in body["error"]["message"]
