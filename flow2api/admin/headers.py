"""Outermost middleware of the admin pages: security headers, and errors as HTML pages.

Headers on every admin response: a Content-Security-Policy allowing only our
own scripts and styles (no inline script: the pages use files under
``/admin/static/``), images and video from anywhere (generated media may be
served from ``[cache] base_url``), no framing; ``X-Content-Type-Options``,
``Referrer-Policy``. Errors: a :class:`Flow2APIError` or HTTP error raised by
a page handler is rendered as the error page with its status, so the
operator sees a readable message (never a stack trace, never a secret).
"""

from __future__ import annotations

import logging

from aiohttp import web

from flow2api.admin.render import render
from flow2api.errors import Flow2APIError

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: http: https:; "
    "media-src 'self' blob: http: https:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _secure(response: web.StreamResponse) -> web.StreamResponse:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@web.middleware
async def admin_pages_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Add the security headers; turn errors into the error page (redirects pass through)."""
    try:
        return _secure(await handler(request))
    except web.HTTPException as exc:
        if exc.status < 400:
            _secure(exc)
            raise
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        return _secure(await render(request, "error.html", {"status": exc.status, "message": message}, status=exc.status))
    except Flow2APIError as exc:
        if exc.status >= 500:
            log.warning("admin page failed: %s %s: %s", exc.status, exc.code, exc.message)
        return _secure(await render(request, "error.html", {"status": exc.status, "message": exc.message}, status=exc.status))
