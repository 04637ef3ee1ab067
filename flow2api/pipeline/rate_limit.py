"""Stage 4, rate limiting: the app's :class:`~flow2api.limits.RateLimiter` admits the caller for the whole response."""

from __future__ import annotations

from aiohttp import web

from flow2api.limits import RATE_LIMITER
from flow2api.request_state import STATE


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Refuse with 429 ``rate_limit_exceeded`` + ``Retry-After`` before any work, else hold a slot until the response ends."""
    caller = request[STATE].caller
    if caller is None:
        return await handler(request)
    async with request.config_dict[RATE_LIMITER].admit(caller):
        return await handler(request)
