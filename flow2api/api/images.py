"""The OpenAI Images API: ``POST /v1/images/generations`` and ``POST /v1/images/edits``.

Request and response shapes follow the OpenAI API reference ("Images"):
``{"created", "data": [{"url"} | {"b64_json"}]}``. Mapping to the catalog:

* ``model`` — a catalog image model or resolver alias (required: there is no default).
* ``size`` (``"WxH"``) and ``quality`` (``medium`` → 2K, ``high``/``hd`` → 4K) are
  resolver hints (spec §4.4): they pick the variant of an alias such as
  ``gemini-3.1-flash-image``; a concrete model id keeps its own aspect and size.
* ``n`` (1–10): each image is its own job engine run (:mod:`flow2api.jobs`)
  **on its own lease**, run in parallel, so several accounts share the work,
  each with the same failover rules. These endpoints read multipart forms
  themselves, so they are not ``@generation`` handlers; they resolve, select and
  route through the same functions the pipeline stages use. Each image is a
  task row ``<request id>-<index>``.
* When some images fail and others succeed, the answer is 200 with the images
  that succeeded and ``flow2api.errors``: ``[{"index", "error": {message, type,
  param, code}}]`` for the rest; when all fail, the first error is the answer.
* ``response_format``: ``url`` (default; a flow2api ``/media/`` URL) or
  ``b64_json`` (the cached file, base64).
* Edits take the input image(s) as multipart ``image`` or ``image[]`` files
  (or JSON ``images: [{"image_url"}]``); ``mask`` is refused with 400 because
  Flow has no masked editing.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import Any

from aiohttp import web

from flow2api.api.inputs import FORM_TYPES, decode_image, input_reader, read_form
from flow2api.api.runs import start_job
from flow2api.catalog import CatalogEntry, ResolveHints, hints_from_image
from flow2api.errors import Flow2APIError, InvalidRequestError
from flow2api.jobs import Result, public_base_url
from flow2api.media import MEDIA
from flow2api.pipeline.errors import openai_error_body
from flow2api.pipeline.proxy import route_for
from flow2api.pipeline.route import hints_from_body, read_json_object, resolve_entry
from flow2api.pipeline.selection import select_for
from flow2api.plugin import InputImage, Kind
from flow2api.request_state import STATE
from flow2api.storage.tasks import summarize_request

log = logging.getLogger(__name__)

MAX_N = 10
RESPONSE_FORMATS = ("url", "b64_json")


def _text_field(value: Any, name: str, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise InvalidRequestError(f"You must provide the '{name}' parameter.", param=name)
        return None
    if not isinstance(value, str):
        raise InvalidRequestError(f"'{name}' must be a string.", param=name)
    return value


def _n(value: Any) -> int:
    """``n`` of a JSON body or a multipart form field (a string): 1–10, default 1; ``true`` is not a number here
    (Python's ``bool`` is an ``int``, OpenAI refuses it). Raises ``InvalidRequestError`` (400, ``param`` n)."""
    if value is None or value == "":
        return 1
    if isinstance(value, bool):
        raise InvalidRequestError("'n' must be an integer from 1 to 10.", param="n")
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise InvalidRequestError("'n' must be an integer from 1 to 10.", param="n") from None
    if not 1 <= n <= MAX_N or (isinstance(value, float) and value != n):
        raise InvalidRequestError("'n' must be an integer from 1 to 10.", param="n")
    return n


def _resolve(request: web.Request, model: str, hints: ResolveHints) -> CatalogEntry:
    """The image model for ``model`` with ``hints``, its account selection and proxy routing on the request state.

    Raises 404 ``model_not_found``, 400 for a video model, 503 without its
    provider, 403 when the caller's key may not use it.
    """
    entry = resolve_entry(request, model, hints)
    if entry.kind is not Kind.IMAGE:
        raise InvalidRequestError(f"The model '{entry.id}' makes {entry.kind.value}s, not images.", param="model")
    select_for(request, entry)
    route_for(request)
    return entry


async def _run(
    request: web.Request, *, prompt: str, images: tuple[InputImage, ...], n: int, response_format: str,
    summary: dict[str, Any],
) -> web.Response:
    """Fan ``n`` single-image jobs out (one job engine run each, so each leases its own account) and answer
    the OpenAI ``ImagesResponse``."""
    request_id = request[STATE].request_id
    base = public_base_url(request)

    async def one(index: int) -> list[Result]:
        events = start_job(request, task_id=f"{request_id}-{index}", prompt=prompt, images=images, surface="images",
                           row={"summary": summary, "index": index}, base_url=base)
        return [e async for e in events if isinstance(e, Result)]

    outcomes = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    app = request.config_dict
    data: list[dict[str, Any]] = []
    errors: list[tuple[int, Flow2APIError]] = []
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, Flow2APIError):
            errors.append((index, outcome))
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            for result in outcome:
                data.append(await _image_object(app, result, response_format))
    if not data:
        raise errors[0][1]
    body: dict[str, Any] = {"created": int(time.time()), "data": data}
    if errors:
        body["flow2api"] = {
            "requested": n,
            "errors": [{"index": i, "error": openai_error_body(exc)["error"]} for i, exc in errors],
        }
    return web.json_response(body)


async def _image_object(app: Any, result: Result, response_format: str) -> dict[str, Any]:
    if response_format == "url":
        return {"url": result.url}
    data = await app[MEDIA].read_bytes(result.name)
    if data is None:  # evicted between caching and answering: only with a tiny size cap
        raise InvalidRequestError("The generated image was evicted from the media cache before it could be sent.")
    return {"b64_json": base64.b64encode(data).decode("ascii")}


def _common(fields: dict[str, Any]) -> tuple[str, str, int, str]:
    model = _text_field(fields.get("model"), "model", required=True)
    prompt = _text_field(fields.get("prompt"), "prompt", required=True)
    assert model is not None and prompt is not None
    if not prompt.strip():
        raise InvalidRequestError("'prompt' must not be empty.", param="prompt")
    response_format = _text_field(fields.get("response_format"), "response_format") or "url"
    if response_format not in RESPONSE_FORMATS:
        raise InvalidRequestError("'response_format' must be 'url' or 'b64_json'.", param="response_format")
    return model, prompt.strip(), _n(fields.get("n")), response_format


async def create_image(request: web.Request) -> web.Response:
    """``POST /v1/images/generations`` (OpenAI "Create image").

    JSON body: ``model``, ``prompt`` (required), ``n`` 1–10, ``size``, ``quality``,
    ``response_format`` ``url``|``b64_json``; other OpenAI fields (``style``,
    ``user`` …) are accepted and ignored. Errors: 400 bad field (``param`` names
    it), 404 unknown model, 503 no account; see the module docstring for partial failures.
    """
    body = await read_json_object(request)
    model, prompt, n, response_format = _common(body)
    request[STATE].body = body
    _resolve(request, model, hints_from_body(body))
    return await _run(request, prompt=prompt, images=(), n=n, response_format=response_format,
                      summary=summarize_request(body))


async def create_image_edit(request: web.Request) -> web.Response:
    """``POST /v1/images/edits`` (OpenAI "Create image edit").

    Multipart form: ``image`` or ``image[]`` (one or more PNG/JPEG/WebP files,
    each ≤ ``[generation] max_input_image_bytes``), ``prompt``, ``model``, ``n``,
    ``size``, ``quality``, ``response_format``. A JSON body with ``images:
    [{"image_url": …}]`` is accepted too. ``mask`` → 400 (``param: mask``).
    """
    reader = input_reader(request)
    max_bytes = reader.max_bytes
    given: list[InputImage | tuple[str, str]] = []  # decoded uploads, and URLs read below all at once
    if request.content_type in FORM_TYPES:
        form, fields = await read_form(request)
        if "mask" in form:
            raise _mask_refused()
        for name in ("image", "image[]"):
            for value in form.getall(name, []):
                if isinstance(value, web.FileField):
                    given.append(decode_image(value.file.read(max_bytes + 1), param=name, max_bytes=max_bytes))
                elif isinstance(value, str) and value:
                    given.append((value, name))
    else:
        fields = await read_json_object(request)
        if fields.get("mask"):
            raise _mask_refused()
        for i, item in enumerate(fields.get("images") or ()):
            url = item.get("image_url") if isinstance(item, dict) else item
            if not isinstance(url, str):
                raise InvalidRequestError("images[] items need an image_url.", param=f"images[{i}]")
            given.append((url, f"images[{i}]"))
        if isinstance(fields.get("image"), str):
            given.append((fields["image"], "image"))
    if not given:
        raise InvalidRequestError("You must provide at least one image to edit ('image').", param="image")
    images = await reader.read_all(given)
    model, prompt, n, response_format = _common(fields)
    hints = hints_from_image(images[0].data, hints_from_body(fields))
    summary = summarize_request({**fields, "image": [f"<{img.mime_type}, {len(img.data)} bytes>" for img in images]})
    request[STATE].body = summary
    _resolve(request, model, hints)
    return await _run(request, prompt=prompt, images=tuple(images), n=n, response_format=response_format,
                      summary=summary)


def _mask_refused() -> InvalidRequestError:
    return InvalidRequestError(
        "Masked edits are not supported: Flow edits the whole image from the prompt. Send the request without 'mask'.",
        param="mask",
    )


def setup_image_routes(app: web.Application) -> None:
    """Register ``/images/generations`` and ``/images/edits`` on the ``/v1`` sub-app."""
    app.router.add_post("/images/generations", create_image)
    app.router.add_post("/images/edits", create_image_edit)
