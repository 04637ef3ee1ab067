"""CSRF protection for the admin site: a per-session synchronizer token.

Every form the admin site renders carries the session's token in a hidden
``_csrf`` field; scripts send it as ``X-CSRF-Token``. Every state-changing
request (POST, PUT, PATCH, DELETE) to ``/login`` and ``/admin`` must present
the token of its session or is refused with 403 before the handler runs. The
token is compared in constant time. ``SameSite=Lax`` cookies already stop most
cross-site posts; the token also covers old browsers and same-site attackers.
The admin JSON API applies the same check to requests authenticated by the
session cookie (a bearer admin token cannot be sent by another site).
"""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web
from aiohttp_session import Session

from flow2api.admin.session import session_of

FIELD = "_csrf"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfError(web.HTTPForbidden):
    """403: the request did not carry this session's CSRF token."""


def csrf_token(session: Session) -> str:
    """The session's CSRF token, created on first use."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


async def presented_token(request: web.Request) -> str:
    """The token the request carries: the ``X-CSRF-Token`` header, else the ``_csrf`` form field ("" if none)."""
    header = request.headers.get(HEADER)
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()  # aiohttp caches the parsed form: the handler reads it again for free
        value = form.get(FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def check_csrf(request: web.Request) -> None:
    """Raise :class:`CsrfError` unless the request presents its session's CSRF token."""
    session = await session_of(request)
    expected = session.get("csrf") if session is not None else None
    presented = await presented_token(request)
    if not expected or not presented or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise CsrfError(text="The form expired or did not come from this site (CSRF check failed). Reload the page and try again.")


@web.middleware
async def csrf_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Refuse state-changing requests without the session's CSRF token (403)."""
    if request.method not in SAFE_METHODS:
        await check_csrf(request)
    return await handler(request)
