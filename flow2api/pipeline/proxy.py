"""Stage 7, proxy routing: which HTTP session talks upstream for a leased account.

The stage attaches a :data:`SessionChooser` to the request (``state.sessions``);
the job engine calls it once per attempt with that attempt's lease, so each
attempt goes through its own account's proxy: the account's ``proxy_url``,
else the ``[proxy]`` one, else a direct session. The background video runner
uses the same :class:`ProxyRouting`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from aiohttp.helpers import ChainMapProxy

from flow2api.pool import Lease
from flow2api.proxies import HTTP_SESSIONS, HttpSessions
from flow2api.request_state import STATE
from flow2api.settings import SETTINGS, SettingsHolder

SessionChooser = Callable[[Lease], aiohttp.ClientSession]


@dataclass(frozen=True, slots=True)
class ProxyRouting:
    """A :data:`SessionChooser`: ``routing(lease)`` → the session for the lease's account (read per call, so a
    proxy changed in the admin site applies from the next attempt)."""

    http: HttpSessions
    settings: SettingsHolder

    def __call__(self, lease: Lease) -> aiohttp.ClientSession:
        """The account's ``proxy_url`` session, else the ``[proxy]`` one, else direct."""
        return self.http.get(lease.view.proxy_url or self.settings.current.global_proxy_url)

    @classmethod
    def of(cls, app: web.Application | ChainMapProxy) -> ProxyRouting:
        """The routing over ``app``'s HTTP sessions and settings (root app or a request's ``config_dict``)."""
        return cls(http=app[HTTP_SESSIONS], settings=app[SETTINGS])


def route_for(request: web.Request) -> ProxyRouting:
    """The request's :class:`ProxyRouting`, stored as ``state.sessions``."""
    routing = request[STATE].sessions = ProxyRouting.of(request.config_dict)
    return routing


@web.middleware
async def proxy_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Set ``state.sessions`` (a :class:`ProxyRouting`) for requests that generate (``state.selection`` set)."""
    if request[STATE].selection is not None:
        route_for(request)
    return await handler(request)
