"""Stage 2, errors: every failure becomes the calling surface's error body, never a stack trace.

``openai_error_body`` renders the OpenAI shape
(``{"error": {"message", "type", "param", "code"}}``, OpenAI API reference
"Error codes"); ``gemini_error_body`` the Gemini one
(``{"error": {"code", "message", "status"}}`` with gRPC status names, spec §5.4).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from flow2api.errors import (
    AuthenticationError,
    Flow2APIError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
)
from flow2api.request_state import STATE

log = logging.getLogger(__name__)

GRPC_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    405: "INVALID_ARGUMENT", 408: "DEADLINE_EXCEEDED", 409: "ABORTED", 413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}


def openai_error_body(exc: Flow2APIError) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}`` for any :class:`Flow2APIError`."""
    return {"error": {"message": exc.message, "type": exc.type, "param": exc.param, "code": exc.code}}


def gemini_error_body(exc: Flow2APIError) -> dict[str, Any]:
    """``{"error": {"code": <http status>, "message", "status": <gRPC name>}}`` for any :class:`Flow2APIError`.

    A 400 naming a request field adds ``details: [{"@type": "type.googleapis.com/google.rpc.BadRequest",
    "fieldViolations": [{"field", "description"}]}]``, as the Gemini API does for a bad argument.
    """
    error: dict[str, Any] = {"code": exc.status, "message": exc.message, "status": GRPC_STATUS.get(exc.status, "UNKNOWN")}
    if exc.param and exc.status == 400:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                             "fieldViolations": [{"field": exc.param, "description": exc.message}]}]
    return {"error": error}


def error_response(exc: Flow2APIError, surface: str) -> web.Response:
    """The HTTP response for ``exc`` on ``surface`` (``gemini`` or anything else = OpenAI shape).

    Sets ``Retry-After`` (whole seconds, at least 1) for every error that carries a ``retry_after``,
    and ``WWW-Authenticate`` for 401s.
    """
    body = gemini_error_body(exc) if surface == "gemini" else openai_error_body(exc)
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:  # 429s, and 503s whose end is known (a cool-down, an overload)
        headers["Retry-After"] = str(max(1, round(retry_after)))
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    return web.json_response(body, status=exc.status, headers=headers, dumps=json.dumps)


def _from_http_exception(exc: web.HTTPException) -> Flow2APIError:
    if exc.status == 404:
        return NotFoundError("Unknown path: no such endpoint")
    if exc.status == 405:
        return MethodNotAllowedError("Method not allowed for this endpoint")
    if exc.status == 413:
        return PayloadTooLargeError("The request body is larger than the server accepts")
    err = InvalidRequestError(exc.reason or "Bad request")
    err.status = exc.status
    return err


@web.middleware
async def errors_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Render :class:`Flow2APIError` and stray exceptions in the request's surface shape.

    HTTP exceptions (404, 405, 413 from aiohttp) on API paths become API error
    bodies too; on other paths (admin, media) they pass through. Unexpected
    exceptions are logged with their traceback and answered with a 500 that
    names only the request id.
    """
    state = request[STATE]
    try:
        return await handler(request)
    except Flow2APIError as exc:
        if exc.status >= 500:
            log.warning("request failed: %s %s: %s", exc.status, exc.code, exc.message)
        state.error = f"{exc.code}: {exc.message}"
        return error_response(exc, state.surface)
    except web.HTTPException as exc:
        if state.surface == "plain" or exc.status < 400:
            raise
        err = _from_http_exception(exc)
        state.error = f"{err.code}: {err.message}"
        return error_response(err, state.surface)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("unhandled error")
        state.error = "internal_error: unhandled exception (see the server log)"
        if state.surface == "plain":
            raise web.HTTPInternalServerError(text=f"internal error (request id {state.request_id})") from None
        return error_response(Flow2APIError(f"Internal server error (request id {state.request_id})"), state.surface)
