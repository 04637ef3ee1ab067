"""Stage 7, proxy routing: the HTTP session for the leased account's proxy (or the global one)."""

from __future__ import annotations

from aiohttp import web

from flow2api.keys import HTTP_SESSIONS, SETTINGS, STATE


@web.middleware
async def proxy_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Set ``state.http``: the account's ``proxy_url`` session, else the ``[proxy]`` one, else direct."""
    state = request[STATE]
    if state.lease is not None:
        proxy = state.lease.view.proxy_url or request.config_dict[SETTINGS].current.global_proxy_url
        state.http = request.config_dict[HTTP_SESSIONS].get(proxy)
    return await handler(request)
