"""The model lists (issue 19 item 7): one set on every list, aliases in it, only what the key may use, legacy ids.

Over the fake family: its catalog (:func:`flow2api.testing.write_fake_catalog`) plus one legacy id
(``alias_of``), so the set is ``fake-image … fake-video-8s-portrait`` (models) then ``fake-img``, ``fake-video``
(aliases); the legacy id resolves and generates but is listed nowhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
import yaml

from flow2api.apikeys import API_KEYS
from flow2api.testing import (API_KEY, FAKE_IMAGE_MODEL, FAKE_VIDEO_MODEL, FAKE_VIDEO_PORTRAIT_MODEL, AdminSite,
                              FakeWorld, Gateway, write_fake_catalog)

LEGACY = "image-fake"
MODELS = [FAKE_IMAGE_MODEL, "fake-image-portrait", "fake-image-2k", FAKE_VIDEO_MODEL, FAKE_VIDEO_PORTRAIT_MODEL]
ALIASES = ["fake-img", "fake-video"]


@pytest.fixture
async def gateway(fake: FakeWorld, tmp_path: Path) -> Gateway:
    """A fake-family gateway whose catalog also has the legacy id ``image-fake`` → ``fake-image``."""
    path = write_fake_catalog(tmp_path / "legacy-models.yaml")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["aliases"].append({"id": LEGACY, "alias_of": FAKE_IMAGE_MODEL})
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return await fake.start(catalog={"path": str(path)})


async def get(gw: Gateway, path: str, key: str = API_KEY, *, goog: bool = False) -> tuple[int, dict]:
    headers = {"x-goog-api-key": key} if goog else {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as session, session.get(f"{gw.url}{path}", headers=headers) as resp:
        return resp.status, await resp.json()


async def openai_ids(gw: Gateway, key: str = API_KEY) -> list[str]:
    status, body = await get(gw, "/v1/models", key)
    assert status == 200 and body["object"] == "list", body
    return [m["id"] for m in body["data"]]


async def gemini_ids(gw: Gateway, path: str, key: str = API_KEY) -> list[str]:
    status, body = await get(gw, path, key, goog=True)
    assert status == 200, body
    return [m["name"].removeprefix("models/") for m in body["models"]]


async def test_models_then_aliases_marked_with_what_they_resolve_to(gateway: Gateway) -> None:
    _, body = await get(gateway, "/v1/models")
    assert [m["id"] for m in body["data"]] == MODELS + ALIASES
    alias = next(m for m in body["data"] if m["id"] == "fake-img")
    assert alias["object"] == "model" and alias["owned_by"] == "flow2api" and alias["is_alias"] is True
    extension = alias["flow2api"]
    assert extension["is_alias"] is True and extension["kind"] == "image" and extension["available"] is True
    # the capabilities are those of the model it resolves to without hints (the fake's describe: its options)
    assert extension["resolves_to"] == FAKE_IMAGE_MODEL and extension["aspect_ratio"] == "landscape"
    assert extension["targets"]["portrait"] == {"none": "fake-image-portrait"}
    video = next(m for m in body["data"] if m["id"] == "fake-video")["flow2api"]
    assert video["duration_seconds"] == 8 and video["kind"] == "video"
    assert all(m["flow2api"]["is_alias"] is False for m in body["data"][:len(MODELS)])


async def test_every_list_shows_the_same_set(gateway: Gateway, admin_clients: Callable[..., AdminSite]) -> None:
    expected = MODELS + ALIASES
    assert await openai_ids(gateway) == expected
    assert await gemini_ids(gateway, "/v1beta/models") == expected
    assert await gemini_ids(gateway, "/v1/models") == expected   # google-genai's default api_version
    site = await admin_clients(gateway).log_in()
    _, page, _ = await site.client.get("/admin/playground")
    assert re.findall(r'<option value="([^"]+)" data-kind', page) == expected
    assert "fake-img (alias)" in page


async def test_a_legacy_id_generates_and_is_shown_but_never_listed(gateway: Gateway, sdk: Callable) -> None:
    status, aliases = await get(gateway, "/v1/models/aliases")
    assert status == 200 and [a["id"] for a in aliases["data"]] == ALIASES
    status, legacy = await get(gateway, f"/v1/models/{LEGACY}")
    assert status == 200 and legacy["is_alias"] is True
    assert legacy["flow2api"]["alias_of"] == FAKE_IMAGE_MODEL and legacy["flow2api"]["hints"] == []
    status, gemini = await get(gateway, f"/v1beta/models/{LEGACY}", goog=True)
    assert status == 200 and gemini["name"] == f"models/{LEGACY}"
    done = await sdk(gateway).chat.completions.create(
        model=LEGACY, messages=[{"role": "user", "content": "a kite"}], extra_body={"aspect_ratio": "9:16"})
    assert done.model == LEGACY and done.choices[0].message.content.startswith("![")


async def test_a_key_limited_to_models_lists_and_shows_only_those(gateway: Gateway) -> None:
    store = gateway.app[API_KEYS]
    _, one = await store.create("one", models=[FAKE_IMAGE_MODEL])
    assert await openai_ids(gateway, one) == [FAKE_IMAGE_MODEL]
    assert await gemini_ids(gateway, "/v1beta/models", one) == [FAKE_IMAGE_MODEL]
    assert await gemini_ids(gateway, "/v1/models", one) == [FAKE_IMAGE_MODEL]
    status, body = await get(gateway, "/v1/models/aliases", one)
    assert status == 200 and body["data"] == []
    # an alias that may resolve to a model the key may not use is not shown, nor is another model
    for model_id in ("fake-img", "fake-image-portrait", FAKE_VIDEO_MODEL):
        status, body = await get(gateway, f"/v1/models/{model_id}", one)
        assert status == 404 and body["error"]["code"] == "model_not_found" and body["error"]["param"] == "model"
        status, body = await get(gateway, f"/v1beta/models/{model_id}", one, goog=True)
        assert status == 404 and body["error"]["status"] == "NOT_FOUND"
    status, _ = await get(gateway, f"/v1/models/{LEGACY}", one)   # it resolves only into the allowed model
    assert status == 200
    # every model an alias can pick is allowed: the alias is listed too
    _, images = await store.create("images", models=[FAKE_IMAGE_MODEL, "fake-image-portrait", "fake-image-2k"])
    assert await openai_ids(gateway, images) == [FAKE_IMAGE_MODEL, "fake-image-portrait", "fake-image-2k", "fake-img"]


async def test_a_key_naming_an_alias_may_use_what_it_resolves_to(gateway: Gateway, sdk: Callable) -> None:
    store = gateway.app[API_KEYS]
    _, videos = await store.create("videos", models=["fake-video"])
    assert await openai_ids(gateway, videos) == [FAKE_VIDEO_MODEL, FAKE_VIDEO_PORTRAIT_MODEL, "fake-video"]
    # a key written for an id that later became a legacy id keeps working
    _, old = await store.create("old", models=[LEGACY])
    assert await openai_ids(gateway, old) == [FAKE_IMAGE_MODEL]
    done = await sdk(gateway, old).chat.completions.create(model=LEGACY, messages=[{"role": "user", "content": "a"}])
    assert done.choices[0].message.content.startswith("![")
