"""Client HTTP sessions, one per distinct upstream proxy, reused across requests.

``HttpSessions.get(None)`` is the direct session; ``get("socks5h://host:1080")``
or ``get("http://user:pass@host:3128")`` a session whose connector tunnels
through that proxy (aiohttp-socks, which speaks HTTP CONNECT, SOCKS4 and SOCKS5;
``socks5h`` resolves host names on the proxy). The proxy routing stage picks
the session for the leased account: its own ``proxy_url``, else the global
``[proxy]`` one.
"""

from __future__ import annotations

import logging
from typing import Final
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from aiohttp_socks import ProxyConnector

log = logging.getLogger(__name__)

SUPPORTED_SCHEMES = ("http", "https", "socks4", "socks5", "socks5h")


def redact_proxy(url: str | None, *, keep_user: bool = True) -> str:
    """The proxy URL without its password (``socks5://bob:***@host:1080``), for logs and messages; with
    ``keep_user=False`` without the user name either (``socks5://***@host:1080``, as ``flow2api accounts
    list`` prints it). ``"direct"`` for no proxy."""
    if not url:
        return "direct"
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    user = "" if not parts.username else f"{parts.username}:***@" if keep_user else "***@"
    return f"{parts.scheme}://{user}{host}{port}"


def validate_proxy_url(url: str) -> str:
    """Return ``url`` if it is a usable proxy URL; raises ``ValueError`` (message without the password)."""
    parts = urlsplit(url)
    if parts.scheme not in SUPPORTED_SCHEMES or not parts.hostname:
        raise ValueError(f"unsupported proxy URL {redact_proxy(url)!r}: use one of {', '.join(SUPPORTED_SCHEMES)}://host:port")
    return url


class HttpSessions:
    """A registry of ``aiohttp.ClientSession`` objects keyed by proxy URL; close with :meth:`close`.

    The sessions keep no cookies (``DummyCookieJar``): one session serves every account behind
    the same proxy, and Google rotates session cookies with ``Set-Cookie`` (spec §1.3, flowweb
    ``__Secure-1PSIDTS``); a shared jar would send one account's cookies, overriding the
    ``Cookie`` header a provider set, on another account's requests. Providers that need
    cookies read ``Set-Cookie`` and keep them per account. (It also skips the jar's work on
    every request and answer.)
    """

    def __init__(self, *, user_agent: str = "flow2api") -> None:
        self._sessions: dict[str | None, aiohttp.ClientSession] = {}
        self._headers = {"User-Agent": user_agent}

    def get(self, proxy_url: str | None) -> aiohttp.ClientSession:
        """The session for ``proxy_url`` (``None`` or ``""`` = direct), created on first use."""
        key = proxy_url or None
        session = self._sessions.get(key)
        if session is None or session.closed:
            if key is None:
                connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
            else:
                rdns = urlsplit(key).scheme == "socks5h"
                connector = ProxyConnector.from_url(key.replace("socks5h://", "socks5://", 1), rdns=rdns, limit=0)
            session = aiohttp.ClientSession(connector=connector, headers=self._headers, trust_env=False,
                                            cookie_jar=aiohttp.DummyCookieJar())
            self._sessions[key] = session
            log.info("opened upstream HTTP session via %s", redact_proxy(key))
        return session

    async def close(self) -> None:
        """Close every session."""
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()

HTTP_SESSIONS: Final = web.AppKey("http_sessions", HttpSessions)
