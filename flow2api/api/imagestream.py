"""The Images API event stream: ``POST /v1/images/generations`` and ``/edits`` with ``"stream": true``.

OpenAI API reference "Image generation streaming events" and the ``openai``
SDK's ``ImageGenStreamEvent`` / ``ImageEditStreamEvent`` (discriminated on
``type``): each event is ``event: <type>`` + ``data: <json>``::

    image_generation.partial_image   {type, b64_json, partial_image_index, background, created_at,
                                      output_format, quality, size}
    image_generation.completed       the same without partial_image_index, plus usage
    image_edit.partial_image / image_edit.completed   the same for edits

Flow renders no intermediate images, so no ``partial_image`` events are sent
for any ``partial_images`` (0–3): OpenAI's reference allows fewer partial images
than asked when the final image is ready first. Each of the ``n`` images is a
``completed`` event as soon as it is done (``b64_json``, after any
``output_format`` conversion); ``background`` is ``opaque`` (Flow's images
are), ``size`` the image's own pixel size, ``usage`` zeros (Flow counts no
tokens).

As on the chat surface, the stream opens only after every job passed its commit
point (upstream accepted it): until then a failure is a plain HTTP error. After
it, the SSE comment ``: keep-alive`` is written every ``[generation]
keepalive_interval`` seconds of silence; when some images failed, one
``data: {"error": {…}}`` event follows the completed ones (the SDK raises
``APIError`` from it), and the stream ends.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from flow2api.api.imageformat import FORMATS
from flow2api.api.schemas import ImageGenerationRequest
from flow2api.api.streaming import OPENAI_KEEPALIVE, send_event, sse_response
from flow2api.errors import Flow2APIError
from flow2api.jobs import JobEvent, Result
from flow2api.pipeline.errors import openai_error_body
from flow2api.settings import SETTINGS

log = logging.getLogger(__name__)

#: Our ``quality`` values → the ones the SDK's event models list (``hd``/``ultra`` are the original's 4K words).
_QUALITY = {"low": "low", "medium": "medium", "high": "high", "auto": "auto", "standard": "medium", "hd": "high",
            "ultra": "high"}
_FORMAT_OF = {mime: name for name, (_, mime) in FORMATS.items()}

Encoder = Callable[[Result], Awaitable[tuple[bytes, str]]]


def _size_of(data: bytes) -> str:
    from PIL import Image  # lazily, as in imageformat

    with Image.open(io.BytesIO(data)) as image:
        return f"{image.width}x{image.height}"


async def completed_event(body: ImageGenerationRequest, data: bytes, mime: str, *, edit: bool) -> dict[str, Any]:
    """The ``image_generation.completed`` (``image_edit.completed``) event for one image's final bytes."""
    return {
        "type": f"{'image_edit' if edit else 'image_generation'}.completed",
        "b64_json": base64.b64encode(data).decode("ascii"), "created_at": int(time.time()),
        "background": "opaque", "output_format": body.output_format or _FORMAT_OF.get(mime, "png"),
        "quality": _QUALITY.get(body.quality or "auto", "auto"), "size": await asyncio.to_thread(_size_of, data),
        "usage": {"input_tokens": 0, "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
                  "output_tokens": 0, "total_tokens": 0},
    }


async def _write_named(response: web.StreamResponse, event: dict[str, Any]) -> None:
    data = json.dumps(event, separators=(",", ":"))
    await response.write(f"event: {event['type']}\ndata: {data}\n\n".encode())


async def _results(job: AsyncIterator[JobEvent]) -> list[Result]:
    """The rest of a started job's results; the job is closed on every exit (a cancelled stream included)."""
    try:
        return [e async for e in job if isinstance(e, Result)]
    finally:
        await job.aclose()  # type: ignore[attr-defined]


async def stream_images(request: web.Request, body: ImageGenerationRequest, jobs: list[AsyncIterator[JobEvent]],
                        *, edit: bool, encode: Encoder) -> web.StreamResponse:
    """Answer ``jobs`` (one per image) as the SSE stream of the module docstring; ``encode(result)`` gives the
    bytes and MIME type the client asked for. Raises the first error when every job fails before committing."""
    try:
        firsts = await asyncio.gather(*(anext(job) for job in jobs), return_exceptions=True)
    except BaseException:  # cancelled (client gone) before the commit point: settle every row and lease
        await asyncio.gather(*(job.aclose() for job in jobs), return_exceptions=True)  # type: ignore[attr-defined]
        raise
    errors: list[Flow2APIError] = []
    running: list[AsyncIterator[JobEvent]] = []
    for job, first in zip(jobs, firsts, strict=True):
        if isinstance(first, Flow2APIError):
            errors.append(first)
        elif isinstance(first, BaseException):
            raise first
        else:
            running.append(job)
    if not running:
        raise errors[0]
    tasks = {asyncio.ensure_future(_results(job)) for job in running}
    response = sse_response()
    interval = request.config_dict[SETTINGS].current.generation.keepalive_interval
    try:
        await response.prepare(request)
        while tasks:
            done, tasks = await asyncio.wait(tasks, timeout=interval or None, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                await response.write(OPENAI_KEEPALIVE)
            for task in done:
                outcome = task.exception()
                if isinstance(outcome, Flow2APIError):
                    errors.append(outcome)
                    continue
                if outcome is not None:
                    raise outcome
                for result in task.result():
                    data, mime = await encode(result)
                    await _write_named(response, await completed_event(body, data, mime, edit=edit))
        if errors:
            await send_event(response, openai_error_body(errors[0]))
        await response.write_eof()
    except ConnectionError:
        log.info("client went away during the image stream")
    except Flow2APIError as exc:  # an encoding failure after the stream opened
        with contextlib.suppress(ConnectionError):
            await send_event(response, openai_error_body(exc))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return response
