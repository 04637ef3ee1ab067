"""Stage 4, rate limiting: asks the app's :class:`~flow2api.limits.RateLimiter` to admit the caller."""

from __future__ import annotations

from aiohttp import web

from flow2api.keys import RATE_LIMITER, STATE


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Admit or refuse (429 ``rate_limit_exceeded`` with ``Retry-After``) before any work is done."""
    caller = request[STATE].caller
    if caller is not None:
        await request.config_dict[RATE_LIMITER].admit(caller)
    return await handler(request)
