"""The OpenAI Images API: ``POST /v1/images/generations`` and ``POST /v1/images/edits``.

Request and response shapes follow the OpenAI API reference ("Images"):
``{"created", "data": [{"url"} | {"b64_json"}]}``. Mapping to the catalog:

* ``model`` — a catalog image model or resolver alias (required: there is no default).
* ``size`` (one of the model's sizes, :mod:`flow2api.api.schemas.sizes`) and
  ``quality`` (``medium`` → 2K, ``high``/``hd`` → 4K) are resolver hints (spec
  §4.4): they pick the variant of an alias such as ``gemini-3.1-flash-image``;
  a concrete model id keeps its own aspect and size.
* ``output_format`` (``png``|``jpeg``|``webp``) and ``output_compression``:
  the result is re-encoded with Pillow when its type differs
  (:mod:`flow2api.api.imageformat`); ``background: "transparent"`` → 400.
* ``n`` (1–10): each image is its own job engine run (:mod:`flow2api.jobs`)
  **on its own lease**, run in parallel, so several accounts share the work,
  each with the same failover rules (the pipeline attached one account
  selection; the job engine leases per run). Each image is a task row
  ``<request id>-<index>``.
* When some images fail and others succeed, the answer is 200 with the images
  that succeeded and ``flow2api.errors``: ``[{"index", "error": {message, type,
  param, code}}]`` for the rest; when all fail, the first error is the answer.
* ``response_format``: ``url`` (default; a flow2api ``/media/`` URL) or
  ``b64_json`` (the cached file, base64).
* ``stream: true`` (with ``partial_images`` 0–3) answers ``text/event-stream``
  with the events the ``openai`` SDK parses (:mod:`flow2api.api.imagestream`).
* ``Idempotency-Key``: the same key and body replays (or joins) the stored images, another body is a 409
  (:mod:`flow2api.api.idempotency`); a client that leaves after the submit does not cancel a job.
* Edits take the input image(s) as multipart ``image`` or ``image[]`` files
  (or JSON ``images: [{"image_url"}]``); ``mask`` is refused with 400 because
  Flow has no masked editing.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from flow2api.api.imageformat import convert, needs_conversion
from flow2api.api.imagestream import stream_images
from flow2api.api.inputs import decode_image, input_reader
from flow2api.api.idempotency import body_hash
from flow2api.api.runs import start_jobs
from flow2api.api.schemas import ImageEditRequest, ImageGenerationRequest
from flow2api.errors import Flow2APIError, InvalidRequestError
from flow2api.jobs import JobEvent, Result, media_url, public_base_url
from flow2api.media import MEDIA
from flow2api.pipeline import generation
from flow2api.pipeline.errors import openai_error_body
from flow2api.plugin import InputImage
from flow2api.request_state import STATE
from flow2api.settings import SETTINGS

log = logging.getLogger(__name__)

async def _jobs(
    request: web.Request, body: ImageGenerationRequest, *, images: tuple[InputImage, ...], summary: dict[str, Any],
) -> list[AsyncIterator[JobEvent]]:
    """One job engine run per image of ``body.n`` (not started yet), each leasing its own account, or the stored
    ones of a repeated ``Idempotency-Key``; the caller iterates each to its end or closes it."""
    request_id = request[STATE].request_id
    return await start_jobs(
        request, digest=body_hash(body, images), task_ids=[f"{request_id}-{index}" for index in range(body.count)],
        prompt=body.prompt.strip(), images=images, surface="images", base_url=public_base_url(request),
        rows=[{"summary": summary, "index": index} for index in range(body.count)])


async def _run(
    request: web.Request, body: ImageGenerationRequest, *, images: tuple[InputImage, ...], summary: dict[str, Any],
) -> web.StreamResponse:
    """Fan ``body.n`` single-image jobs out (one job engine run each, so each leases its own account) and answer
    the OpenAI ``ImagesResponse``, or with ``stream`` its event stream (:mod:`flow2api.api.imagestream`)."""
    jobs = await _jobs(request, body, images=images, summary=summary)
    if body.stream:
        return await stream_images(request, body, jobs, edit=isinstance(body, ImageEditRequest),
                                   encode=lambda result: output_bytes(request, result, body))
    base = public_base_url(request)

    async def one(job: AsyncIterator[JobEvent]) -> list[Result]:
        return [e async for e in job if isinstance(e, Result)]

    outcomes = await asyncio.gather(*(one(job) for job in jobs), return_exceptions=True)
    data: list[dict[str, Any]] = []
    errors: list[tuple[int, Flow2APIError]] = []
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, Flow2APIError):
            errors.append((index, outcome))
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            for result in outcome:
                data.append(await _image_object(request, result, body, base))
    if not data:
        raise errors[0][1]
    answer: dict[str, Any] = {"created": int(time.time()), "data": data}
    if body.output_format:
        answer["output_format"] = body.output_format
    if errors:
        answer["flow2api"] = {
            "requested": body.count,
            "errors": [{"index": i, "error": openai_error_body(exc)["error"]} for i, exc in errors],
        }
    return web.json_response(answer)


async def output_bytes(request: web.Request, result: Result, body: ImageGenerationRequest) -> tuple[bytes, str]:
    """The bytes and MIME type of one result as the client asked for it (``output_format`` / compression)."""
    data = await request.config_dict[MEDIA].read_bytes(result.name)
    if data is None:  # evicted between caching and answering: only with a tiny size cap
        raise InvalidRequestError("The generated image was evicted from the media cache before it could be sent.")
    if needs_conversion(result.mime_type, body.output_format, body.output_compression):
        assert body.output_format is not None
        return await convert(data, body.output_format, body.output_compression)
    return data, result.mime_type


async def _image_object(
    request: web.Request, result: Result, body: ImageGenerationRequest, base: str,
) -> dict[str, Any]:
    """``{"url"}`` or ``{"b64_json"}`` for one result, re-encoded first when ``output_format`` asks for another type
    (the converted file is cached beside the original, so its URL works like any other)."""
    app = request.config_dict
    convert_it = needs_conversion(result.mime_type, body.output_format, body.output_compression)
    if body.response_format != "b64_json" and not convert_it:
        return {"url": result.url}
    data, mime = await output_bytes(request, result, body)
    if body.response_format != "b64_json":
        stored = await app[MEDIA].store_bytes(data, mime)
        return {"url": media_url(app[SETTINGS], app[MEDIA], base, stored.name)}
    return {"b64_json": base64.b64encode(data).decode("ascii")}


@generation(ImageGenerationRequest)
async def create_image(request: web.Request) -> web.StreamResponse:
    """``POST /v1/images/generations`` (OpenAI "Create image").

    JSON body: :class:`~flow2api.api.schemas.ImageGenerationRequest` (``model``,
    ``prompt`` required; ``n`` 1–10, ``size`` from the model's list, ``quality``,
    ``response_format`` ``url``|``b64_json``; other OpenAI fields accepted and
    ignored), parsed by the route stage. Errors: 400 bad field (``param`` names
    it), 404 unknown model, 503 no account; see the module docstring for partial failures.
    """
    body = request[STATE].request
    assert isinstance(body, ImageGenerationRequest)
    return await _run(request, body, images=(), summary=body.summary())


@generation(ImageEditRequest)
async def create_image_edit(request: web.Request) -> web.StreamResponse:
    """``POST /v1/images/edits`` (OpenAI "Create image edit").

    Multipart form: ``image`` or ``image[]`` (one or more PNG/JPEG/WebP files,
    each ≤ ``[generation] max_input_image_bytes``), ``prompt``, ``model``, ``n``,
    ``size``, ``quality``, ``response_format``. A JSON body with ``images:
    [{"image_url": …}]`` is accepted too (:class:`~flow2api.api.schemas.ImageEditRequest`).
    ``mask`` → 400 (``param: mask``).
    """
    body = request[STATE].request
    assert isinstance(body, ImageEditRequest)
    reader = input_reader(request)
    given: list[tuple[InputImage | str, str]] = [
        (decode_image(data, param=param, max_bytes=reader.max_bytes), param) for param, data in body.uploads()]
    given += body.urls()
    images = await reader.read_all(given)
    summary = {**body.summary(), "image": [f"<{img.mime_type}, {len(img.data)} bytes>" for img in images]}
    return await _run(request, body, images=tuple(images), summary=summary)


def setup_image_routes(app: web.Application) -> None:
    """Register ``/images/generations`` and ``/images/edits`` on the ``/v1`` sub-app."""
    app.router.add_post("/images/generations", create_image)
    app.router.add_post("/images/edits", create_image_edit)
