"""Admin sessions: aiohttp-session's ``EncryptedCookieStorage`` with a key kept in the data dir.

The cookie (``flow2api_admin``, path ``/``) is ``HttpOnly`` and ``SameSite=Lax``,
and ``Secure`` when the request came over https — directly, or through a
reverse proxy that says so in ``X-Forwarded-Proto``. aiohttp-session fixes the
cookie flags per storage, so there are two storages with one key and the
middleware picks one per request. The 32-byte key lives in
``<data_dir>/session.key`` (mode 0600), so sessions survive a restart; deleting
the file logs everyone out. Only the ``/login`` and ``/admin`` sub-apps (and the
admin JSON API, for reading the session) carry this middleware, never ``/v1``.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp_session import STORAGE_KEY, Session, get_session, session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage

log = logging.getLogger(__name__)

COOKIE_NAME = "flow2api_admin"
SESSION_KEY_FILE = "session.key"


def load_or_create_session_key(data_dir: Path) -> bytes:
    """The 32 random bytes in ``<data_dir>/session.key``, created (mode 0600) on first start.

    Raises ``ValueError`` when the file exists but does not hold 32 bytes.
    """
    path = data_dir / SESSION_KEY_FILE
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise ValueError(f"{path} must hold exactly 32 bytes; delete it to create a new one (logs everyone out)")
        return key
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    log.info("generated a new admin session key in %s", path)
    return key


def is_https(request: web.Request) -> bool:
    """True when the client reached us over https (``X-Forwarded-Proto`` from a reverse proxy wins)."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return forwarded == "https" if forwarded else request.secure


class SessionCookies:
    """The two cookie storages (plain and ``Secure``) for one key; ``max_age`` is the absolute timeout in seconds."""

    def __init__(self, key: bytes, *, max_age: int) -> None:
        params = {"cookie_name": COOKIE_NAME, "httponly": True, "samesite": "Lax", "path": "/", "max_age": max_age}
        self._plain = session_middleware(EncryptedCookieStorage(key, secure=False, **params))
        self._secure = session_middleware(EncryptedCookieStorage(key, secure=True, **params))

    def middleware(self) -> Middleware:
        """The session middleware: loads the cookie lazily, saves it when the session changed."""

        @web.middleware
        async def session_cookie_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
            """Delegate to aiohttp-session's middleware with the ``Secure`` storage over https, the plain one otherwise."""
            chosen = self._secure if is_https(request) else self._plain
            return await chosen(request, handler)

        return session_cookie_middleware


async def session_of(request: web.Request) -> Session | None:
    """The request's session, or ``None`` outside the session middleware (e.g. a token-only API call)."""
    if request.get(STORAGE_KEY) is None:
        return None
    return await get_session(request)
