"""The Gemini surface on the ``/v1beta`` sub-app (Gemini API reference "models", "generateContent"; spec §5.1–§5.4).

Endpoints::

    GET  /v1beta/models                                   {"models": [model, …]}
    GET  /v1beta/models/{model}                           one model, or a Gemini 404

``GET /v1/models`` and ``/v1/models/{model}`` answer with these shapes too when the key comes as
``x-goog-api-key`` or ``?key=`` (google-genai's default ``api_version`` is ``v1``; :mod:`flow2api.api.models`
hands them over here), and OpenAI's when it comes as a Bearer token.
    POST /v1beta/models/{model}:generateContent           one GenerateContentResponse
    POST /v1beta/models/{model}:streamGenerateContent     SSE of GenerateContentResponse chunks (?alt=sse)

Auth: ``x-goog-api-key``, ``?key=`` or a Bearer key; errors in Gemini's shape
``{"error": {"code", "message", "status"}}`` (the errors stage does both).

Request (:class:`~flow2api.api.schemas.GenerateContentRequest`, parsed by the
route stage; spec §5.2): the last ``user`` item of ``contents`` (parts ``text``,
``inlineData`` images, ``fileData`` image URIs — http(s) or our ``/media/``
URLs), ``systemInstruction`` prepended to the prompt unless it looks like tool
scaffolding, ``generationConfig.imageConfig.{aspectRatio,imageSize}`` as
resolver hints (applied by the route stage).

Response: ``candidates[0].content`` (role ``model``) with ``inlineData
{mimeType, data}`` parts for images (read from our media cache) and
``fileData {mimeType: "video/mp4", fileUri}`` for videos, ``finishReason
"STOP"``, ``modelVersion`` = the concrete catalog model. Streaming sends
progress as text parts (``thought: true`` when ``[generation] progress_field``
is ``reasoning_content``, so SDKs keep it out of ``.text``), the media in the
last chunk; an error after the stream started is one ``data:`` Gemini error
object, then the stream ends (spec §5.4). Keep-alives are empty lines.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from aiohttp import web

from flow2api.api.inputs import decode_base64_image, input_reader
from flow2api.api.idempotency import body_hash
from flow2api.api.runs import start_jobs
from flow2api.api.schemas import GenerateContentRequest
from flow2api.api.schemas.gemini import Blob
from flow2api.api.streaming import GEMINI_KEEPALIVE, send_event, serve_stream, sse_response, with_keepalive
from flow2api.catalog import CATALOG
from flow2api.errors import ModelNotFoundError
from flow2api.jobs import JobEvent, Result, events_from
from flow2api.media import MEDIA
from flow2api.pipeline import API_MIDDLEWARES, generation
from flow2api.pipeline.errors import gemini_error_body
from flow2api.plugin import InputImage, Kind, Progress
from flow2api.request_state import STATE, model_permission
from flow2api.settings import SETTINGS

log = logging.getLogger(__name__)

METHODS = ["generateContent", "streamGenerateContent"]
ZERO_USAGE = {"promptTokenCount": 0, "candidatesTokenCount": 0, "totalTokenCount": 0}


def gemini_model(model_id: str, description: str, kind: Kind) -> dict[str, Any]:
    """One Gemini model object (spec §5.1): ``name: "models/<id>"``, ``version: "flow2api"``, zero token limits."""
    return {
        "name": f"models/{model_id}", "baseModelId": model_id, "version": "flow2api", "displayName": model_id,
        "description": description or f"{kind.value} model served by flow2api", "inputTokenLimit": 0,
        "outputTokenLimit": 0, "supportedGenerationMethods": METHODS,
    }


async def list_models(request: web.Request) -> web.Response:
    """``GET /v1beta/models`` → ``{"models": [...]}``: the set ``/v1/models`` lists (enabled models, then enabled
    aliases; only what the key may use; :meth:`~flow2api.catalog.Catalog.listing`)."""
    catalog = request.config_dict[CATALOG].current
    items = catalog.listing(model_permission(request))
    return web.json_response({"models": [gemini_model(i.id, i.description, i.kind) for i in items]})


def model_response(request: web.Request, model_id: str) -> web.Response:
    """One Gemini model object for ``model_id`` (``models/`` prefix optional; an enabled model or alias the key
    may use, :meth:`~flow2api.catalog.Catalog.lookup`).

    Raises ``ModelNotFoundError`` (404 ``NOT_FOUND``) naming the API version of the path (``v1`` or ``v1beta``),
    as the Gemini API words it.
    """
    catalog = request.config_dict[CATALOG].current
    model_id = model_id.removeprefix("models/")
    item = catalog.lookup(model_id, model_permission(request))
    if item is None:
        version = request.path.split("/")[1]
        raise ModelNotFoundError(f"models/{model_id} is not found for API version {version}.", param="model")
    return web.json_response(gemini_model(item.id, item.description, item.kind))


async def get_model(request: web.Request) -> web.Response:
    """``GET /v1beta/models/{model}`` → one model object; 404 ``NOT_FOUND`` when unknown or disabled."""
    return model_response(request, request.match_info["model"])


async def _read_inputs(request: web.Request, body: GenerateContentRequest) -> tuple[InputImage, ...]:
    """The input images of the request (``inlineData`` decoded, ``fileData`` URIs fetched), read before any
    account is leased."""
    reader = input_reader(request)
    given = [(decode_base64_image(image.data, param=param, max_bytes=reader.max_bytes) if isinstance(image, Blob)
              else image, param) for image, param in body.images()]
    return tuple(await reader.read_all(given))


async def _media_part(request: web.Request, result: Result) -> dict[str, Any]:
    """``inlineData`` (images, bytes from the cache) or ``fileData`` (videos, our URL) for one result."""
    if result.kind is Kind.VIDEO:
        return {"fileData": {"mimeType": result.mime_type, "fileUri": result.url}}
    data = await request.config_dict[MEDIA].read_bytes(result.name)
    if data is None:  # evicted already (tiny size cap): a link still lets the client get it while it lasts
        return {"fileData": {"mimeType": result.mime_type, "fileUri": result.url}}
    return {"inlineData": {"mimeType": result.mime_type, "data": base64.b64encode(data).decode("ascii")}}


def _response(parts: list[dict[str, Any]], model: str, response_id: str, *, finish: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    body: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": response_id}
    if finish:
        body["usageMetadata"] = ZERO_USAGE
    return body


async def _start(request: web.Request) -> AsyncIterator[JobEvent]:
    state = request[STATE]
    body = state.request
    assert isinstance(body, GenerateContentRequest)
    images = await _read_inputs(request, body)
    [events] = await start_jobs(request, digest=body_hash(body, images), task_ids=[state.request_id],
                                prompt=body.prompt, images=images, surface="gemini", rows=[{"summary": body.summary()}])
    return events


@generation(GenerateContentRequest)
async def generate_content(request: web.Request) -> web.Response:
    """``POST /v1beta/models/{model}:generateContent`` → ``GenerateContentResponse`` with the media parts.

    Errors (Gemini shape): 400 ``INVALID_ARGUMENT`` bad contents, 401, 404
    unknown model, 409 ``Idempotency-Key`` reused with another body, 429, 503 no account, 502/504 upstream.
    ``Idempotency-Key`` and a client that leaves after the submit: as for chat (:mod:`flow2api.api.idempotency`).
    """
    state = request[STATE]
    assert state.entry is not None
    events = await _start(request)
    parts = [await _media_part(request, e) async for e in events if isinstance(e, Result)]
    return web.json_response(_response(parts, state.entry.id, state.request_id, finish=True))


@generation(GenerateContentRequest)
async def stream_generate_content(request: web.Request) -> web.StreamResponse:
    """``POST /v1beta/models/{model}:streamGenerateContent[?alt=sse]`` → SSE ``data:`` chunks (always SSE).

    Errors before the provider accepted the job are plain HTTP errors (Gemini
    shape; the job engine failed over where it could); afterwards one ``data: {"error": …}`` event ends the stream.
    """
    state = request[STATE]
    assert state.entry is not None
    settings = request.config_dict[SETTINGS].current.generation
    model = state.entry.id
    events = await _start(request)
    first = await anext(events)
    response = sse_response()

    async def beat() -> None:
        await response.write(GEMINI_KEEPALIVE)

    thought = settings.progress_field == "reasoning_content"

    async def write() -> None:
        results: list[Result] = []
        stream = with_keepalive(events_from(first, events), settings.keepalive_interval, beat)
        async with aclosing(stream):
            async for event in stream:
                if isinstance(event, Progress):
                    part: dict[str, Any] = {"text": event.message + "\n"}
                    if thought:
                        part["thought"] = True
                    await send_event(response, _response([part], model, state.request_id, finish=False))
                elif isinstance(event, Result):
                    results.append(event)
        parts = [await _media_part(request, r) for r in results]
        await send_event(response, _response(parts, model, state.request_id, finish=True))

    if await serve_stream(request, response, events, write, error_body=gemini_error_body):
        await response.write_eof()
    return response


def setup_generate_routes(app: web.Application) -> None:
    """``POST /models/{model}:generateContent`` and ``:streamGenerateContent`` (``{model}`` never includes ``:method``).

    Also registered on ``/v1``: google-genai 3.x calls ``/v1/models/…:generateContent``
    unless told ``api_version="v1beta"``; the context stage treats those paths as Gemini.
    """
    app.router.add_post("/models/{model:[^/:]+}:generateContent", generate_content)
    app.router.add_post("/models/{model:[^/:]+}:streamGenerateContent", stream_generate_content)


def create_gemini_app() -> web.Application:
    """The ``/v1beta`` sub-app: the API pipeline and the Gemini routes."""
    app = web.Application(middlewares=API_MIDDLEWARES)
    app.router.add_get("/models", list_models)
    app.router.add_get("/models/{model:[^/:]+}", get_model)
    setup_generate_routes(app)
    return app
