"""Stage 3, auth: the API key → ``state.caller``.

Accepted as ``Authorization: Bearer <key>`` (OpenAI), and on the Gemini
surface also as ``x-goog-api-key`` or ``?key=`` (spec §5.1). The settings'
``[global] api_key`` is compared in constant time; keys created by operators
are looked up by their SHA-256 (:mod:`flow2api.apikeys`). The key itself is
never logged or echoed.
"""

from __future__ import annotations

import hmac
import time

from aiohttp import web

from flow2api.apikeys import API_KEYS
from flow2api.catalog import CATALOG
from flow2api.errors import AuthenticationError
from flow2api.request_state import STATE, Caller
from flow2api.settings import SETTINGS

# What to tell a caller without a key, in the words of its surface's own docs.
MISSING_KEY = {
    "openai": "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
    "gemini": "Method doesn't allow unregistered callers. Send the API key as the 'x-goog-api-key: <key>' header "
              "(or '?key=<key>', or 'Authorization: Bearer <key>').",
}


def presented_key(request: web.Request, surface: str) -> str | None:
    """The API key the request carries, or ``None``."""
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if surface == "gemini":
        return request.headers.get("x-goog-api-key") or request.query.get("key") or None
    return None


@web.middleware
async def auth_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Refuse requests without a valid, enabled, unexpired key with 401 ``invalid_api_key``; set ``state.caller``."""
    state = request[STATE]
    key = presented_key(request, state.surface)
    if key is None:
        raise AuthenticationError(MISSING_KEY.get(state.surface, MISSING_KEY["openai"]))
    configured = request.config_dict[SETTINGS].current.global_.api_key
    expected = configured.get_secret_value() if configured is not None else ""
    if expected and hmac.compare_digest(key.encode(), expected.encode()):
        state.caller = Caller(name="global")
        return await handler(request)
    store = request.config_dict[API_KEYS]
    record = store.find(key)
    if record is None:
        raise AuthenticationError("Incorrect API key provided.")
    if not record.enabled:
        raise AuthenticationError("This API key has been disabled.")
    if not record.usable(time.time()):
        raise AuthenticationError("This API key has expired.")
    await store.touch(record)
    holder = request.config_dict.get(CATALOG)   # an app without a catalog (a bare pipeline) has no aliases
    state.caller = Caller.for_key(record, holder.current if holder is not None else None)
    return await handler(request)
