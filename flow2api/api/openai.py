"""The OpenAI chat completions surface: ``POST /v1/chat/completions``.

Shapes follow the OpenAI API reference ("Chat Completions", "Chat
Completions streaming"): a completion is ``chat.completion``; a stream is
Server-Sent Events of ``chat.completion.chunk`` objects sharing one ``id`` and
``created``, echoing the requested ``model``, the role in the first delta,
``finish_reason`` on the last choice chunk, a ``usage`` chunk (empty
``choices``) when ``stream_options.include_usage`` is set, then ``data: [DONE]``.

Progress goes to ``delta.reasoning_content`` (clients that render thinking) or
``delta.content``, per ``[generation] progress_field``; SSE keep-alive
comments are written during silences (``[generation] keepalive_interval``).
Results are markdown (spec §5.3/§5.4): ``![Generated Image](<url>)`` for
images; for videos, with ``[generation] video_output = "tag"`` (default) the
``<video src='<url>' data-media-id='…' controls …></video>`` tag when
streaming and the same tag in an ```` ```html ```` block in a non-stream
answer, or with ``"link"`` a markdown link ``[Generated Video](<url>)``.

Input (spec §5.2): the last message's text and ``image_url`` parts (data URIs,
http(s) URLs, our own ``/media/`` URLs), the deprecated top-level ``image``
data URI; for image models, the image flow2api produced in the newest earlier
assistant message becomes the first input image (multi-turn editing).
"""

from __future__ import annotations

import logging
import time
from contextlib import aclosing
from typing import Any

from aiohttp import web

from flow2api.api.inputs import decode_image, input_reader
from flow2api.api.idempotency import body_hash
from flow2api.api.runs import start_jobs
from flow2api.api.schemas import ChatCompletionRequest
from flow2api.api.streaming import OPENAI_KEEPALIVE, send_event, serve_stream, sse_response, with_keepalive
from flow2api.errors import InvalidRequestError
from flow2api.jobs import Result, events_from
from flow2api.pipeline import generation
from flow2api.pipeline.errors import openai_error_body
from flow2api.plugin import InputImage, Kind, Progress
from flow2api.request_state import STATE
from flow2api.settings import SETTINGS

log = logging.getLogger(__name__)

ZERO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def result_markdown(result: Result, *, stream: bool = True, video_output: str = "tag") -> str:
    """The chat rendering of one result (spec §5.3 stream, §5.4 non-stream); see the module docstring."""
    if result.kind is not Kind.VIDEO:
        return f"![Generated Image]({result.url})"
    if video_output == "link":
        return f"[Generated Video]({result.url})"
    # data-media-id (spec §5.3) is what a client passes back as extend://<id>; non-stream answers carry it too.
    media_id = f" data-media-id='{result.upstream_id}'" if result.upstream_id else ""
    if not stream:
        return f"```html\n<video src='{result.url}'{media_id} controls></video>\n```"
    return f"<video src='{result.url}'{media_id} controls style='max-width:100%'></video>"


EXTEND_SCHEME = "extend://"


async def _read_inputs(request: web.Request, body: ChatCompletionRequest) -> tuple[tuple[InputImage, ...], str | None]:
    """Input images and the extend source of the request, read before any account is leased.

    An ``image_url`` of the form ``extend://<media id>`` is not an image: it names
    the video an extend model continues (spec §4.2 rule 6) and becomes
    ``Job.extend_media_id``.
    """
    state = request[STATE]
    assert state.entry is not None
    reader = input_reader(request)
    urls = body.image_urls()
    extends = [url[len(EXTEND_SCHEME):] for url in urls if url.startswith(EXTEND_SCHEME)]
    if len(extends) > 1 or (extends and not extends[0]):
        raise InvalidRequestError("Give one extend://<media id> to extend a video.", param="messages")
    extend_media_id = extends[0] if extends else None
    images = await reader.read_all([(url, "messages") for url in urls if not url.startswith(EXTEND_SCHEME)])
    if state.entry.kind is Kind.IMAGE:
        url = body.history_image_url()
        data = await reader.cached(url) if url else None
        if data is not None and all(image.data != data for image in images):
            images.insert(0, decode_image(data, param="messages", max_bytes=reader.max_bytes))
            reader.check_total(sum(len(image.data) for image in images), "messages")
        elif url and data is None:
            log.info("earlier image in the conversation is not one of our cached files; not used as input")
    return tuple(images), extend_media_id


@generation(ChatCompletionRequest)
async def chat_completions(request: web.Request) -> web.StreamResponse:
    """``POST /v1/chat/completions``: generate an image or video from the last message.

    Body: :class:`~flow2api.api.schemas.ChatCompletionRequest` (OpenAI's ``model``,
    ``messages`` with text and ``image_url`` parts, ``stream``,
    ``stream_options.include_usage``), parsed by the route stage. Answers a ``chat.completion``
    or, with ``stream: true``, an SSE stream of chunks. Errors before the
    provider accepted the job are HTTP errors in the OpenAI shape (the job
    engine failed over to another account where that could help); after the stream started, one
    ``data: {"error": {...}}`` event followed by ``data: [DONE]``. A client that leaves after upstream accepted
    the job does not cancel it (it finishes and is stored); ``Idempotency-Key`` replays or joins it
    (:mod:`flow2api.api.idempotency`; 409 ``idempotency_key_reused`` for another body).
    """
    state = request[STATE]
    body = state.request
    assert isinstance(body, ChatCompletionRequest)
    settings = request.config_dict[SETTINGS].current.generation
    images, extend_media_id = await _read_inputs(request, body)
    completion_id = f"chatcmpl-{state.request_id}"
    created = int(time.time())
    model = body.model
    [events] = await start_jobs(
        request, digest=body_hash(body, images), task_ids=[state.request_id], prompt=body.prompt, images=images,
        extend_media_id=extend_media_id, surface="chat", rows=[{"summary": body.summary()}])
    if not body.stream:
        results = [e async for e in events if isinstance(e, Result)]
        content = "\n\n".join(result_markdown(r, stream=False, video_output=settings.video_output) for r in results)
        return web.json_response({
            "id": completion_id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": ZERO_USAGE,
        })

    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    # Until the provider commits, errors are plain HTTP errors (the engine fails over before that point).
    first = await anext(events)
    response = sse_response()

    async def beat() -> None:
        await response.write(OPENAI_KEEPALIVE)

    async def write() -> None:
        results: list[Result] = []
        await send_event(response, chunk({"role": "assistant", "content": ""}))
        stream = with_keepalive(events_from(first, events), settings.keepalive_interval, beat)
        async with aclosing(stream):
            async for event in stream:
                if isinstance(event, Progress):
                    await send_event(response, chunk({settings.progress_field: event.message + "\n"}))
                elif isinstance(event, Result):
                    results.append(event)
        content = "\n\n".join(result_markdown(r, video_output=settings.video_output) for r in results)
        await send_event(response, chunk({"content": content}))
        await send_event(response, chunk({}, "stop"))
        if include_usage:
            await send_event(response, {
                "id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [], "usage": ZERO_USAGE,
            })

    if await serve_stream(request, response, events, write, error_body=openai_error_body):
        await send_event(response, "[DONE]")
        await response.write_eof()
    return response


def setup_openai_routes(app: web.Application) -> None:
    """Register ``/chat/completions`` on the ``/v1`` sub-app."""
    app.router.add_post("/chat/completions", chat_completions)
