"""The admin JSON API's middlewares: errors in the OpenAI shape, and who may call.

Auth (in this order):

* ``Authorization: Bearer f2a-admin-…`` — an admin token from the security
  page (or ``POST /api/admin-tokens``); anything else after ``Bearer`` is 401.
* the admin site's session cookie — the same checks as the pages (timeouts,
  revocation); state-changing calls must send the session's CSRF token in
  ``X-CSRF-Token``; while the seeded password is unchanged every call is 403
  ``password_change_required``.

Every error is ``{"error": {"message", "type", "param", "code"}}`` with the
HTTP status of its :class:`~flow2api.errors.Flow2APIError` class, including
unknown paths (404 ``not_found``) and methods (405 ``method_not_allowed``).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from flow2api.admin.auth import ADMIN_CALLER, admin_of, must_change_password
from flow2api.admin.csrf import SAFE_METHODS, CsrfError, check_csrf
from flow2api.admin.store import ADMIN_STORE
from flow2api.errors import (
    AuthenticationError,
    Flow2APIError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
)
from flow2api.pipeline.errors import error_response
from flow2api.pipeline.route import loads_json

log = logging.getLogger(__name__)


def _coded(cls: type[Flow2APIError], message: str, *, status: int | None = None, code: str | None = None) -> Flow2APIError:
    err = cls(message)
    if status is not None:
        err.status = status
    if code is not None:
        err.code = code
    return err


def http_error(exc: web.HTTPException) -> Flow2APIError:
    """The API error for an aiohttp HTTP exception (unknown path, wrong method, body too large …)."""
    if exc.status == 404:
        return NotFoundError("Unknown admin API path")
    if exc.status == 405:
        return _coded(InvalidRequestError, "Method not allowed for this endpoint", status=405, code="method_not_allowed")
    if exc.status == 413:
        return PayloadTooLargeError("The request body is larger than the server accepts")
    return _coded(InvalidRequestError, exc.reason or "Bad request", status=exc.status)


@web.middleware
async def api_errors_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Render every failure of the admin API in the OpenAI error shape."""
    try:
        return await handler(request)
    except Flow2APIError as exc:
        if exc.status >= 500:
            log.warning("admin API call failed: %s %s: %s", exc.status, exc.code, exc.message)
        return error_response(exc, "openai")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(http_error(exc), "openai")


@web.middleware
async def api_auth_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Admit an admin token or a logged-in admin session (see the module docstring); set ``request[ADMIN_CALLER]``."""
    store = request.config_dict[ADMIN_STORE]
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        record = store.find_token(value.strip())
        if record is None:
            raise AuthenticationError("Invalid admin token. Create one on the admin site's Security page.")
        await store.touch_token(record)
        request[ADMIN_CALLER] = f"token {record.id} ({record.name})"
        return await handler(request)
    user = await admin_of(request)
    if user is None:
        raise AuthenticationError("Log in to the admin site, or send 'Authorization: Bearer <admin token>'.")
    if must_change_password(request):
        raise _coded(PermissionDeniedError, "Change the admin password on the admin site first.", code="password_change_required")
    if request.method not in SAFE_METHODS:
        try:
            await check_csrf(request)
        except CsrfError:
            raise _coded(
                PermissionDeniedError, "Send the session's CSRF token in X-CSRF-Token (or use an admin token).",
                code="csrf_failed",
            ) from None
    request[ADMIN_CALLER] = f"session ({user})"
    return await handler(request)


async def read_json(request: web.Request) -> Any:
    """The request body parsed as JSON (any JSON value); 400 ``invalid_request`` when it is not JSON."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLargeError("The request body is larger than the server accepts") from None
    return loads_json(raw or b"null")  # bad JSON and 4,000-digit numbers → 400, never 500


def json_response(data: Any, *, status: int = 200) -> web.Response:
    """A JSON response that is never cached (it may hold a token shown once)."""
    return web.json_response(data, status=status, headers={"Cache-Control": "no-store"})
