"""Stage 3, auth: the API key → ``state.caller``.

Accepted as ``Authorization: Bearer <key>`` (OpenAI), and on the Gemini
surface also as ``x-goog-api-key`` or ``?key=`` (spec §5.1). Keys are compared
in constant time; the key itself is never logged or echoed.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from flow2api.errors import AuthenticationError
from flow2api.keys import SETTINGS, STATE
from flow2api.request_state import Caller


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
    """Refuse requests without a valid key with 401 ``invalid_api_key``; set ``state.caller`` otherwise."""
    state = request[STATE]
    key = presented_key(request, state.surface)
    if key is None:
        raise AuthenticationError(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."
        )
    expected = request.config_dict[SETTINGS].current.global_.api_key.get_secret_value()
    if not hmac.compare_digest(key.encode(), expected.encode()):
        raise AuthenticationError("Incorrect API key provided.")
    state.caller = Caller(name="global")
    return await handler(request)
