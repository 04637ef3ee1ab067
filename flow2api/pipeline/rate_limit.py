"""Stage 4, rate limiting: the app's :class:`~flow2api.limits.RateLimiter` admits the caller for the whole response,
and a generation request takes its place in this process's :class:`~flow2api.limits.InFlightLimit` first."""

from __future__ import annotations

from aiohttp import web

from flow2api.limits import IN_FLIGHT, IN_FLIGHT_TICKET, RATE_LIMITER
from flow2api.pipeline.route import generation_schema
from flow2api.request_state import STATE


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Refuse with 429 ``rate_limit_exceeded`` + ``Retry-After`` before any work, else hold a slot until the response ends.

    Generation requests (the route stage's :func:`~flow2api.pipeline.route.generation` handlers) are counted
    against ``[server] max_in_flight`` and ``max_in_flight_bytes`` before the body is read; their ticket is
    ``request[IN_FLIGHT_TICKET]``, which input images fetched from URLs are charged to.
    """
    if generation_schema(request) is not None:
        async with request.config_dict[IN_FLIGHT].admit(request.content_length) as ticket:
            request[IN_FLIGHT_TICKET] = ticket
            return await _limited(request, handler)
    return await _limited(request, handler)


async def _limited(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    caller = request[STATE].caller
    if caller is None:
        return await handler(request)
    async with request.config_dict[RATE_LIMITER].admit(caller):
        return await handler(request)
