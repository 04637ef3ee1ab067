"""The OpenAI chat completions surface: ``POST /v1/chat/completions``.

Shapes follow the OpenAI API reference ("Chat Completions", "Chat
Completions streaming"): a completion is ``chat.completion``; a stream is Server-Sent Events of
``chat.completion.chunk`` objects with one ``id`` and ``created``, the role in
the first delta, ``finish_reason`` on the last chunk, then ``data: [DONE]``.
Progress goes to ``delta.reasoning_content`` (or ``content``, per
``[generation] progress_field``); the result is markdown: ``![Generated
Image](<url>)`` for images, a ``<video>`` tag for videos (spec §5.3/§5.4).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from aiohttp import web

from flow2api.api.inputs import image_from_url, last_user_parts
from flow2api.api.jobs import Result, run_job
from flow2api.errors import Flow2APIError
from flow2api.keys import SETTINGS, STATE
from flow2api.pipeline import generation
from flow2api.pipeline.errors import openai_error_body
from flow2api.plugin import Job, Kind, Progress

log = logging.getLogger(__name__)


def result_markdown(result: Result) -> str:
    """The chat rendering of one result (spec §5.3): markdown image, or an HTML ``<video>`` tag."""
    if result.kind is Kind.VIDEO:
        return f"<video src='{result.url}' controls style='max-width:100%'></video>"
    return f"![Generated Image]({result.url})"


async def _prepare_inputs(request: web.Request) -> tuple[str, tuple]:
    state = request[STATE]
    if state.prepared is None:
        prompt, urls = last_user_parts(state.body.get("messages"))
        images = [await image_from_url(state.http, url, param="messages") for url in urls]
        state.prepared = (prompt, tuple(images))
    return state.prepared


@generation()
async def chat_completions(request: web.Request) -> web.StreamResponse:
    """``POST /v1/chat/completions``: generate an image or video from the last message.

    Body: OpenAI's ``model``, ``messages`` (text and ``image_url`` parts),
    ``stream``, ``stream_options.include_usage``. Answers a ``chat.completion``
    or, with ``stream: true``, an SSE stream of chunks. Errors before the first
    chunk are HTTP errors in the OpenAI shape; after it, one
    ``data: {"error": {...}}`` event followed by ``data: [DONE]``.
    """
    state = request[STATE]
    body = state.body
    assert body is not None and state.entry is not None and state.lease is not None
    prompt, images = await _prepare_inputs(request)
    job = Job(
        model=state.entry.id, kind=state.entry.kind, prompt=prompt, options=state.lease.route.options,
        images=images, n=1, request_id=state.request_id,
    )
    completion_id = f"chatcmpl-{state.request_id}"
    created = int(time.time())
    model = body["model"]
    events = run_job(request, job)
    if not body.get("stream"):
        results = [e async for e in events if isinstance(e, Result)]
        content = "\n\n".join(result_markdown(r) for r in results)
        return web.json_response({
            "id": completion_id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        })

    progress_field = request.config_dict[SETTINGS].current.generation.progress_field
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    # The first event decides: until the provider commits, errors are plain HTTP errors (and fail over).
    first = await anext(events)
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
    })
    await response.prepare(request)

    async def send(payload: dict[str, Any] | str) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        await response.write(f"data: {data}\n\n".encode())

    results: list[Result] = []
    try:
        await send(chunk({"role": "assistant", "content": ""}))
        event = first
        while True:
            if isinstance(event, Progress):
                await send(chunk({progress_field: event.message + "\n"}))
            elif isinstance(event, Result):
                results.append(event)
            try:
                event = await anext(events)
            except StopAsyncIteration:
                break
        await send(chunk({"content": "\n\n".join(result_markdown(r) for r in results)}))
        await send(chunk({}, "stop"))
        if include_usage:
            await send({
                "id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [], "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            })
    except Flow2APIError as exc:
        state.failure = exc
        await send(openai_error_body(exc))
    except (ConnectionResetError, ConnectionError):
        log.info("client went away during the stream")
        await events.aclose()
        return response
    await send("[DONE]")
    await response.write_eof()
    return response


def setup_openai_routes(app: web.Application) -> None:
    """Register ``/chat/completions`` on the ``/v1`` sub-app."""
    app.router.add_post("/chat/completions", chat_completions)
