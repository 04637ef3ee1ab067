"""The route stage on a bare app: the body parsed once into the surface's typed request (JSON, Gemini path),
aliases resolved from its hints. Forms (Images edits, Videos) are parsed by the same stage; tests/api covers them."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from flow2api.api.schemas import ChatCompletionRequest, GenerateContentRequest
from flow2api.catalog import CATALOG, CatalogHolder, parse_catalog
from flow2api.pipeline.errors import errors_middleware
from flow2api.pipeline.route import generation, route_middleware
from flow2api.request_state import STATE, RequestState
from flow2api.settings import SETTINGS, Settings, SettingsHolder
from tests.catalog.catalog_helpers import PROVIDERS, SMALL, png_bytes


@web.middleware
async def state_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    request[STATE] = RequestState(request_id="test", surface="gemini" if "generateContent" in request.path else "openai")
    return await handler(request)


def bare_app(text: str = SMALL) -> web.Application:
    app = web.Application(middlewares=[state_middleware, errors_middleware, route_middleware])
    app[CATALOG] = CatalogHolder(path=Path("cat.yaml"), providers=PROVIDERS, current=parse_catalog(text, "cat.yaml", PROVIDERS))
    app[SETTINGS] = SettingsHolder(Settings())

    async def answer(request: web.Request) -> web.Response:
        state = request[STATE]
        return web.json_response({"entry": state.entry.id, "body": state.request.model_dump(exclude_unset=True),
                                  "type": type(state.request).__name__})

    @generation(ChatCompletionRequest)
    async def chat(request: web.Request) -> web.Response:
        return await answer(request)

    @generation(GenerateContentRequest)
    async def gemini(request: web.Request) -> web.Response:
        return await answer(request)

    async def plain(request: web.Request) -> web.Response:
        state = request[STATE]
        return web.json_response({"entry": state.entry, "body": state.request, "raw": (await request.read()).decode()})

    app.router.add_post("/chat", chat)
    app.router.add_post("/models/{model}:generateContent", gemini)
    app.router.add_post("/plain", plain)
    return app


USER = [{"role": "user", "content": "a cat"}]


async def test_json_bodies_resolve_aliases_from_their_hints(aiohttp_client: Callable) -> None:
    client = await aiohttp_client(bare_app())
    resp = await client.post("/chat", json={"model": "pic", "aspect_ratio": "9:16", "messages": USER})
    assert (await resp.json())["entry"] == "pic-portrait"
    tall = "data:image/png;base64," + base64.b64encode(png_bytes(90, 160)).decode()
    resp = await client.post("/chat", json={"model": "pic", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "this"}, {"type": "image_url", "image_url": {"url": tall}}]}]})
    body = await resp.json()
    assert body["entry"] == "pic-portrait" and body["body"]["model"] == "pic"
    assert body["type"] == "ChatCompletionRequest"   # the typed model the handler reads
    resp = await client.post("/chat", json={"model": "pic-square", "size": "1792x1024", "messages": USER})
    assert (await resp.json())["entry"] == "pic-square"   # a concrete id ignores hints


async def test_gemini_paths_read_generation_config_and_inline_data(aiohttp_client: Callable) -> None:
    client = await aiohttp_client(bare_app())
    contents = [{"parts": [{"text": "a cat"}]}]
    resp = await client.post("/models/pic:generateContent", json={
        "contents": contents, "generationConfig": {"imageConfig": {"aspectRatio": "1:1"}}})
    assert (await resp.json())["entry"] == "pic-square"
    inline = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png_bytes(90, 160)).decode()}}
    resp = await client.post("/models/clip:generateContent", json={"contents": [{"role": "user", "parts": [{"text": "x"}, inline]}]})
    assert (await resp.json())["entry"] == "clip-portrait"
    resp = await client.post("/models/clip:generateContent", json={"contents": contents})   # no hints: the default
    assert (await resp.json())["entry"] == "clip"
    resp = await client.post("/models/clip:generateContent")   # no body at all: Gemini's 400 naming contents
    assert resp.status == 400 and (await resp.json())["error"]["details"][0]["fieldViolations"][0]["field"] == "contents"


async def test_errors_of_the_stage(aiohttp_client: Callable) -> None:
    text = SMALL.replace("  - provider: paint\n    options: {color: green", "  - provider: airbrush\n    options: {color: green", 1)
    client = await aiohttp_client(bare_app(text))
    cases = [
        ("/chat", {"messages": USER}, 400, "invalid_request"),
        ("/chat", {"model": "nope"}, 404, "model_not_found"),
        ("/chat", {"model": "pic-portrait"}, 503, "provider_unavailable"),
        ("/chat", {"model": "pic", "aspect_ratio": "9:16"}, 503, "provider_unavailable"),
    ]
    for path, payload, status, code in cases:
        resp = await client.post(path, json={"messages": USER, **payload})
        assert (resp.status, (await resp.json())["error"]["code"]) == (status, code), payload
    resp = await client.post("/chat", data=b"{nope", headers={"Content-Type": "application/json"})
    assert resp.status == 400
    resp = await client.post("/models/pic:generateContent", data=b"[1]", headers={"Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["error"]["status"] == "INVALID_ARGUMENT"
    error = (await (await client.post("/chat", json={"model": "pic-portrait", "messages": USER})).json())["error"]
    assert error["message"] == "The model 'pic-portrait' is unavailable: its provider 'airbrush' is not installed on this server."


async def test_handlers_that_are_not_generations_pass_through_untouched(aiohttp_client: Callable) -> None:
    client = await aiohttp_client(bare_app())
    resp = await client.post("/plain", data=b"not json")
    assert await resp.json() == {"entry": None, "body": None, "raw": "not json"}
