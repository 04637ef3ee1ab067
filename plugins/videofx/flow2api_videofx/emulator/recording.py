"""Request recording: every request the emulator receives (control paths excepted), in order.

`recording_middleware` is the outermost middleware: it classifies the request
(`operations.classify`), works out which account it acts for (bearer AT on {api}, ST cookie
on {labs}, media owner on the CDN), stores a `RequestContext` under `keys.CONTEXT` for the
inner middlewares and handlers, and appends a `RecordedRequest` to `FlowEmulator.requests`.
"""

from __future__ import annotations

import json as _json
import time
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from .keys import CONTEXT, EMULATOR
from .operations import classify
from .settings import SESSION_COOKIE


@dataclass
class RecordedRequest:
    """One received request. ``headers`` has lower-case names; ``json`` is the parsed body (None
    when absent or not JSON); ``account`` the e-mail it acted for; ``time`` Unix seconds;
    ``status`` the HTTP status answered (None while in flight)."""

    method: str
    path: str
    operation: str
    headers: dict[str, str]
    json: Any | None
    account: str | None
    time: float
    query: dict[str, str]
    status: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RequestContext:
    """What the middlewares and handlers of one request share."""

    surface: str
    operation: str
    param: str | None
    method_ok: bool
    account: str | None
    record: RecordedRequest | None


def session_token(request: web.Request) -> str | None:
    """The ST from the NextAuth cookie, re-joining chunked ``.0``/``.1`` cookies like NextAuth does."""
    cookies = request.cookies
    if SESSION_COOKIE in cookies:
        return cookies[SESSION_COOKIE]
    chunks = []
    while f"{SESSION_COOKIE}.{len(chunks)}" in cookies:
        chunks.append(cookies[f"{SESSION_COOKIE}.{len(chunks)}"])
    return "".join(chunks) or None


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``authorization: Bearer <AT>`` header (scheme case-insensitive)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _account_for(request: web.Request, surface: str, param: str | None) -> str | None:
    world = request.app[EMULATOR].world
    if surface in ("labs", "trpc"):
        account = world.account_by_st(session_token(request))
        return account.email if account else None
    if surface == "api":
        token = world.access_tokens.get(bearer_token(request) or "")
        return token.email if token else None
    if surface == "cdn" and param:
        return world.owner_of_media(param)
    return None


@web.middleware
async def recording_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Classify, attribute and record the request, then record the status it was answered with."""
    emulator = request.app[EMULATOR]
    op = classify(request.method, request.path)
    if op.surface == "control":
        request[CONTEXT] = RequestContext(op.surface, op.name, op.param, op.method_ok, None, None)
        return await handler(request)
    raw = await request.read() if request.can_read_body else b""
    try:
        body = _json.loads(raw) if raw else None
    except (UnicodeDecodeError, ValueError):
        body = None
    record = RecordedRequest(
        method=request.method, path=request.path, operation=op.name,
        headers={name.lower(): value for name, value in request.headers.items()},
        json=body, account=_account_for(request, op.surface, op.param), time=time.time(),
        query=dict(request.query),
    )
    emulator.record(record)
    request[CONTEXT] = RequestContext(op.surface, op.name, op.param, op.method_ok, record.account, record)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        record.status = exc.status
        raise
    finally:
        limit = emulator.settings.max_recorded_body_bytes
        if limit is not None and len(raw) > limit:
            record.json = None
    record.status = response.status
    return response
