"""Trying a proxy URL against a target URL (admin "Test proxy", ``POST /api/proxies/test``).

The answer separates the two ways a test fails, because they call for
different fixes: ``stage: "proxy"`` — the proxy could not be reached, refused
us, or could not open the tunnel (wrong host, port, password, or the proxy
cannot reach the target); ``stage: "target"`` — the tunnel worked and the
target answered HTTP *n* (``ok`` when *n* < 500) or broke the connection. The
original project tests against ``https://labs.google/`` (spec §5.11
``POST /api/proxy/test``), which is our default target too.

The test uses its own :class:`~flow2api.proxies.HttpSessions`, closed after
the test, so trying many URLs leaves no session behind. Messages carry the
proxy with its password removed (:func:`~flow2api.proxies.redact_proxy`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError

from flow2api.errors import InvalidRequestError
from flow2api.proxies import HttpSessions, redact_proxy, validate_proxy_url


def _scrub(text: str, proxy_url: str) -> str:
    password = urlsplit(proxy_url).password
    return text.replace(password, "***") if password else text


async def try_proxy(proxy_url: str, target_url: str, *, timeout: float = 15.0) -> dict[str, Any]:
    """Fetch ``target_url`` through ``proxy_url`` (no redirects followed) and say what happened.

    Returns ``{"ok", "stage", "status", "message", "proxy", "target_url", "elapsed_ms"}``:
    ``stage`` is ``proxy``, ``target`` or ``timeout``; ``status`` the target's
    HTTP status when it answered. Raises ``InvalidRequestError`` (param
    ``proxy_url``) for a URL that is not a supported proxy URL.
    """
    try:
        validate_proxy_url(proxy_url)
    except ValueError as exc:
        raise InvalidRequestError(str(exc), param="proxy_url") from None
    shown = redact_proxy(proxy_url)
    sessions = HttpSessions(user_agent="flow2api proxy test")
    started = time.perf_counter()
    outcome: dict[str, Any] = {"ok": False, "status": None, "proxy": shown, "target_url": target_url}
    try:
        session = sessions.get(proxy_url)
        async with asyncio.timeout(timeout):
            async with session.get(target_url, allow_redirects=False) as resp:
                outcome.update(ok=resp.status < 500, stage="target", status=resp.status,
                               message=f"target answered HTTP {resp.status}")
    except (ProxyConnectionError, ProxyError, ProxyTimeoutError) as exc:
        reason = _scrub(str(exc), proxy_url) or type(exc).__name__
        outcome.update(stage="proxy", message=f"proxy could not connect: {reason}")
    except TimeoutError:
        outcome.update(stage="timeout", message=f"no answer within {timeout:g} s (the proxy or the target is too slow)")
    except aiohttp.ClientSSLError as exc:
        outcome.update(stage="target", message=f"TLS with the target failed: {type(exc).__name__}")
    except aiohttp.ClientConnectorDNSError:
        outcome.update(stage="target", message="the target's host name could not be resolved")
    except aiohttp.ClientError as exc:
        outcome.update(stage="target", message=f"the target broke the connection: {_scrub(str(exc), proxy_url) or type(exc).__name__}")
    finally:
        await sessions.close()
    outcome["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return outcome
