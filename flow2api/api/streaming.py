"""Server-Sent Events for the streaming surfaces (OpenAI chat, Gemini ``streamGenerateContent``).

Each event is ``data: <json>\\n\\n``. While a job is silent (a video polls for
minutes), :func:`with_keepalive` lets the surface write a keep-alive every
``[generation] keepalive_interval`` seconds so proxies and load balancers do
not cut an idle connection: an SSE comment (``: keep-alive``) on the OpenAI
surface — every SSE parser ignores comments, the ``openai`` SDK included — and
a bare empty line on the Gemini surface, because ``google-genai`` reads every
non-``data:`` line as JSON but skips empty lines.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from flow2api.errors import Flow2APIError

log = logging.getLogger(__name__)

T = TypeVar("T")

OPENAI_KEEPALIVE = b": keep-alive\n\n"
GEMINI_KEEPALIVE = b"\n"


def sse_response() -> web.StreamResponse:
    """A ``text/event-stream`` response (no caching, no proxy buffering), not prepared yet.

    The surface prepares it inside the ``try`` that ends its stream: when the
    client is gone already, ``prepare`` raises ``ConnectionError`` like any
    later write, and that must close the job and end the handler quietly with
    this response (see :meth:`flow2api.jobs.JobEngine.run`). Raised out of the
    handler instead, it would leave the job suspended, and aiohttp would log it
    with a traceback that keeps the handler's frames — job, attempt, request
    state — alive for as long as the log record lives.
    """
    return web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
    })


async def send_event(response: web.StreamResponse, payload: dict[str, Any] | str) -> None:
    """Write one ``data:`` event; ``payload`` is JSON-encoded unless it is a string (``[DONE]``)."""
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    await response.write(f"data: {data}\n\n".encode())


async def serve_stream(
    request: web.Request,
    response: web.StreamResponse,
    events: AsyncIterator[Any],
    write: Callable[[], Awaitable[None]],
    *,
    error_body: Callable[[Flow2APIError], dict[str, Any]],
) -> bool:
    """Open the SSE ``response`` and run the surface's ``write()``, which reads ``events`` and writes the answer.

    A :class:`~flow2api.errors.Flow2APIError` after the stream opened becomes its
    last event (``error_body(exc)``, the surface's error shape; the job engine
    recorded it against the account already); a client that is gone
    (``ConnectionError``, also from ``prepare``) ends it quietly. ``events`` (the
    job, :meth:`flow2api.jobs.JobEngine.run`) is closed on every exit,
    cancellation included, so the task row is settled (``client_disconnected``
    when it did not finish) and the lease released.
    Returns ``True`` when the surface may end the stream normally (``write_eof``),
    ``False`` when the client is gone.
    """
    try:
        await response.prepare(request)
        await write()
    except Flow2APIError as exc:
        try:
            await send_event(response, error_body(exc))
        except ConnectionError:
            return False
    except ConnectionError:
        log.info("client went away during the stream")
        return False
    finally:
        await events.aclose()  # a no-op after a job that ran to its end
    return True


async def with_keepalive(
    source: AsyncIterator[T], interval: float, beat: Callable[[], Awaitable[None]]
) -> AsyncIterator[T]:
    """Iterate ``source``, awaiting ``beat()`` each time ``interval`` seconds pass without an item.

    ``interval`` 0 disables beats. Each step of ``source`` runs in its own
    task so a beat can be written while the step is pending; when this
    iterator is closed early (the client went away, a write failed) the
    pending step is cancelled and ``source`` closed.
    """
    pending: asyncio.Future[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
            done, _ = await asyncio.wait({pending}, timeout=interval if interval > 0 else None)
            if not done:
                await beat()
                continue
            step, pending = pending, None
            try:
                item = step.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            await asyncio.wait({pending})  # unlike awaiting it, this never raises the step's own exception
            if not pending.cancelled():
                pending.exception()  # retrieved, so asyncio does not log it as never retrieved
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
