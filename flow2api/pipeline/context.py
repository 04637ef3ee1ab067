"""Stage 1, request context: a request id, one access log line, timing, and the request log row."""

from __future__ import annotations

import logging
import random
import re
import time

from aiohttp import web

from flow2api.logs import request_id_var
from flow2api.request_state import STATE, RequestState
from flow2api.storage.tasks import REQUEST_LOGS

log = logging.getLogger("flow2api.access")

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
API_PREFIXES = ("/v1/", "/v1beta/")


GEMINI_METHODS = (":generateContent", ":streamGenerateContent")
# GET /v1/models and /v1/models/{id}: google-genai's default api_version is "v1" (checked on 3.6:
# models.list() → GET /v1/models, models.get() → GET /v1/models/{id}, key in x-goog-api-key), so these
# paths are Gemini's when the key comes Gemini's way and OpenAI's when it comes as a Bearer token.
_SHARED_MODEL_PATH = re.compile(r"^/v1/models(/[^/:]+)?$")


def new_request_id() -> str:
    """16 random hex digits. Ids need to be unique, not secret: ``random`` spares the ``getrandom``
    system call ``uuid4`` makes for every request (≈ 2 % of the event loop under load, issue 8)."""
    return f"{random.getrandbits(64):016x}"


def keyed_gemini_way(request: web.BaseRequest) -> bool:
    """The request carries its key as ``x-goog-api-key`` or ``?key=`` and no ``Authorization: Bearer``."""
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        return False
    return bool(request.headers.get("x-goog-api-key") or request.query.get("key"))


def surface_of(path: str, *, gemini_key: bool = False) -> str:
    """Which error shape a path answers with: ``gemini`` (/v1beta, the Gemini
    ``/v1/models/{model}:generateContent`` paths google-genai uses by default, and ``/v1/models[/{id}]`` when
    ``gemini_key``: the key came as ``x-goog-api-key``/``?key=``), ``openai`` (/v1), else ``plain``."""
    if path.startswith("/v1beta/") or path == "/v1beta" or (path.startswith("/v1/models/") and path.endswith(GEMINI_METHODS)):
        return "gemini"
    if gemini_key and _SHARED_MODEL_PATH.match(path):
        return "gemini"
    if path.startswith("/v1/") or path == "/v1":
        return "openai"
    return "plain"


async def stamp_request_id(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """``on_response_prepare`` signal: every response, streamed ones included, carries ``X-Request-ID``."""
    state = request.get(STATE)
    if state is not None:
        response.headers["X-Request-ID"] = state.request_id


@web.middleware
async def context_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Create the request's :class:`RequestState`, echo ``X-Request-ID``, log and record the outcome.

    A client-sent ``X-Request-ID`` (1–64 of ``[A-Za-z0-9._-]``) becomes the
    prefix of the id (``<client id>.<6 hex>``), else a random one is made.
    API requests get a ``request_logs`` row (no bodies, no secrets); the
    access line is ``METHOD path status duration_ms`` (at DEBUG for a successful ``/media/`` fetch).
    """
    sent = request.headers.get("X-Request-ID", "")
    # The id also names the request's task row, so it must be unique: a client's id is kept as a prefix
    # (its logs still correlate) and made unique with a suffix; a repeated X-Request-ID is not an error.
    request_id = f"{sent}.{new_request_id()[:6]}" if _CLIENT_ID.match(sent) else new_request_id()
    state = RequestState(request_id=request_id, surface=surface_of(request.path, gemini_key=keyed_gemini_way(request)))
    request[STATE] = state
    token = request_id_var.set(request_id)
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers["X-Request-ID"] = request_id
        raise
    finally:
        duration_ms = (time.perf_counter() - state.started) * 1000
        # A served result (/media/ 2xx) is a static-file fetch, one per generated image: DEBUG, so the INFO log
        # keeps one line per API request. Its failures (404, 403) stay at INFO.
        quiet = status < 400 and request.path.startswith("/media/")
        log.log(logging.DEBUG if quiet else logging.INFO, "%s %s %d %.1fms", request.method, request.path, status,
                duration_ms)
        if request.path.startswith(API_PREFIXES):
            request.config_dict[REQUEST_LOGS].add(
                request_id=request_id, method=request.method, path=request.path, status=status,
                duration_ms=duration_ms, model=state.entry.id if state.entry else None,
                account_id=state.account_id, api_key=state.caller.name if state.caller else None, error=state.error,
            )
        request_id_var.reset(token)
