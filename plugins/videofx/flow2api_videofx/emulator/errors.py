"""Errors the emulator answers, one exception per surface, rendered in that surface's shape.

```
EmulatorError                      render() -> web.Response
 ├── GoogleError                   {api} (aisandbox) calls: Google error envelope (spec §1.5)
 ├── TrpcError                     {labs}/trpc calls: tRPC/superjson error envelope
 ├── SolverError                   solver: anti-captcha style {"errorId": n, "errorCode", ...}, HTTP 200
 └── CdnError                      signed media CDN: plain text, like Google's front end
```

Handlers raise; `error_middleware` renders. The constructors below (`unauthenticated`,
`invalid_argument`, `recaptcha_failed`, ...) are the only places the exact bodies are written.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

logger = logging.getLogger(__name__)

API_DOMAIN = "aisandbox-pa.googleapis.com"

GRPC_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    409: "ABORTED", 412: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
    500: "INTERNAL", 501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}
DEFAULT_MESSAGE = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    409: "The operation was aborted.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "Internal error encountered.",
    502: "The service is currently unavailable.",
    503: "The service is currently unavailable.",
    504: "The request timed out.",
}
_AUTH_HELP = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


class EmulatorError(Exception):
    """Root: anything a handler raises to answer an error. ``detail`` is logged, never sent."""

    status: int = 500
    detail: str = ""

    def render(self) -> web.Response:  # pragma: no cover - abstract
        raise NotImplementedError


class GoogleError(EmulatorError):
    """``{"error": {"code", "message", "status", "details"?}}`` with optional extra headers."""

    def __init__(self, status: int, message: str | None = None, *, grpc_status: str | None = None,
                 details: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
                 detail: str = "") -> None:
        self.status = status
        self.message = message or DEFAULT_MESSAGE.get(status, "Unknown error.")
        self.grpc_status = grpc_status or GRPC_STATUS.get(status, "UNKNOWN")
        self.details = details
        self.headers = headers or {}
        self.detail = detail
        super().__init__(f"{status} {self.grpc_status}: {self.message}")

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.status, "message": self.message, "status": self.grpc_status}
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def render(self) -> web.Response:
        headers = dict(self.headers)
        if self.detail:
            headers["X-Emulator-Detail"] = self.detail
        return web.json_response(self.body(), status=self.status, headers=headers)


def error_info(reason: str, *, domain: str = API_DOMAIN, **metadata: str) -> dict[str, Any]:
    """A ``google.rpc.ErrorInfo`` detail; clients read its ``reason`` (spec §1.5). Auth and API-key
    errors come from Google's front end (``domain`` ``googleapis.com``), the rest from the service."""
    info: dict[str, Any] = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                            "domain": domain}
    if metadata:
        info["metadata"] = metadata
    return info


def unauthenticated(reason: str) -> GoogleError:
    """401 for a missing (``CREDENTIALS_MISSING``), unknown (``ACCESS_TOKEN_TYPE_UNSUPPORTED``) or
    expired (``ACCESS_TOKEN_EXPIRED``) bearer token."""
    if reason == "CREDENTIALS_MISSING":
        message = "Request is missing required authentication credential. " + _AUTH_HELP
    else:
        message = "Request had invalid authentication credentials. " + _AUTH_HELP
    return GoogleError(401, message, details=[error_info(reason, domain="googleapis.com", service=API_DOMAIN)],
                       detail=reason.lower())


def invalid_argument(field: str, message: str) -> GoogleError:
    """400 ``INVALID_ARGUMENT``; ``message`` names ``field`` (a JSON path such as ``requests[0].seed``)."""
    violation = {"field": field, "description": message}
    return GoogleError(400, message, details=[
        {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}
    ], detail=f"field {field}")


def unknown_field(name: str, where: str) -> GoogleError:
    """400 the way Google's JSON transcoder rejects a field the message type does not have."""
    message = f'Invalid JSON payload received. Unknown name "{name}" at \'{where}\': Cannot find field.'
    return invalid_argument(f"{where}.{name}" if where else name, message)


def recaptcha_failed(detail: str) -> GoogleError:
    """403 reCAPTCHA failure (spec §1.5/§1.6). The body never says why; ``detail`` goes to the
    ``X-Emulator-Detail`` header and the log so tests can tell causes apart."""
    logger.info("reCAPTCHA evaluation failed: %s", detail)
    return GoogleError(403, "reCAPTCHA evaluation failed",
                       details=[error_info("PUBLIC_ERROR_UNUSUAL_ACTIVITY")], detail=detail)


def not_found(what: str, field: str | None = None) -> GoogleError:
    """404 ``NOT_FOUND`` naming the entity (and the request field that referenced it)."""
    message = f"Requested entity was not found: {what}" + (f" (field '{field}')" if field else "")
    return GoogleError(404, message, detail=f"not found {what}")


def permission_denied(message: str, reason: str | None = None) -> GoogleError:
    """403 ``PERMISSION_DENIED`` (e.g. a project owned by another account)."""
    return GoogleError(403, message, details=[error_info(reason)] if reason else None, detail=message)


class TrpcError(EmulatorError):
    """tRPC error: ``{"error": {"json": {"message", "code", "data": {"code", "httpStatus", "path"}}}}``."""

    RPC_CODES = {400: ("BAD_REQUEST", -32600), 401: ("UNAUTHORIZED", -32001), 403: ("FORBIDDEN", -32003),
                 404: ("NOT_FOUND", -32004), 405: ("METHOD_NOT_SUPPORTED", -32005),
                 429: ("TOO_MANY_REQUESTS", -32029), 500: ("INTERNAL_SERVER_ERROR", -32603),
                 503: ("INTERNAL_SERVER_ERROR", -32603)}

    def __init__(self, status: int, message: str, path: str, *, headers: dict[str, str] | None = None) -> None:
        self.status, self.message, self.path = status, message, path
        self.headers = headers or {}
        self.detail = message
        super().__init__(f"{status} {message}")

    def render(self) -> web.Response:
        name, code = self.RPC_CODES.get(self.status, ("INTERNAL_SERVER_ERROR", -32603))
        body = {"error": {"json": {"message": self.message, "code": code,
                                   "data": {"code": name, "httpStatus": self.status, "path": self.path}}}}
        return web.json_response(body, status=self.status, headers=self.headers)


class SolverError(EmulatorError):
    """Anti-captcha style failure, HTTP 200 unless ``http_status`` says otherwise."""

    CODES = {"ERROR_KEY_DOES_NOT_EXIST": 1, "ERROR_NO_SLOT_AVAILABLE": 2, "ERROR_TASK_ABSENT": 10,
             "ERROR_TASK_NOT_SUPPORTED": 11, "ERROR_NO_SUCH_CAPCHA_ID": 16,
             "ERROR_RECAPTCHA_INVALID_SITEKEY": 31, "ERROR_INCORRECT_SESSION_DATA": 32,
             "ERROR_BAD_REQUEST": 55}

    def __init__(self, code: str, description: str, *, http_status: int = 200) -> None:
        self.code, self.description, self.status = code, description, http_status
        self.detail = f"{code}: {description}"
        super().__init__(self.detail)

    def render(self) -> web.Response:
        body = {"errorId": self.CODES.get(self.code, 1), "errorCode": self.code,
                "errorDescription": self.description}
        return web.json_response(body, status=self.status)


class CdnError(EmulatorError):
    """Signed-URL CDN failure: plain text, status 403/404/416/5xx, optional headers."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        self.status, self.message, self.headers = status, message, headers or {}
        self.detail = message
        super().__init__(message)

    def render(self) -> web.Response:
        return web.Response(status=self.status, text=f"{self.status}. {self.message}", headers=self.headers)


def parse_json_object(raw: bytes, *, field: str = "") -> dict[str, Any]:
    """Decode a request body into a JSON object or raise the 400 Google answers for bad JSON."""
    try:
        value = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise invalid_argument(field or "body", f"Invalid JSON payload received. {exc}") from exc
    if not isinstance(value, dict):
        raise invalid_argument(field or "body", "Invalid JSON payload received. Expected a JSON object.")
    return value


@web.middleware
async def error_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Turn any `EmulatorError` a handler (or an inner middleware) raises into its response."""
    try:
        return await handler(request)
    except EmulatorError as exc:
        logger.debug("%s %s -> %s", request.method, request.path, exc)
        return exc.render()
