"""Who is logged in to the admin site: session life cycle, timeouts, the forced password change.

A logged-in session holds ``sid`` (random id, for logout revocation),
``user``, ``login_at`` and ``seen_at`` (Unix s), ``epoch`` (the password's
change time when the session began) and ``csrf``. :func:`admin_of` accepts a
session only when all hold: not revoked, not older than the absolute timeout
(``[admin] session_absolute_timeout``), not idle longer than
``[admin] session_idle_timeout``, and started after the last password change
(changing the password logs every other session out, as in the original).

:func:`admin_auth_middleware` guards every ``/admin`` page: no session →
redirect to ``/login?next=…``; password still the seeded one → redirect to
``/admin/password`` until it is changed.
"""

from __future__ import annotations

import secrets
import time
from typing import Final
from urllib.parse import quote

from aiohttp import web
from aiohttp_session import Session, new_session

from flow2api.admin.session import session_of
from flow2api.admin.store import ADMIN_STORE
from flow2api.settings import SETTINGS

PASSWORD_PATH = "/admin/password"
# pages reachable while the password must still be changed: the form itself, logout, and assets
_OPEN_WHILE_DEFAULT = (PASSWORD_PATH, "/admin/logout", "/admin/static/")
_SEEN_WRITE_INTERVAL = 60  # seconds; re-saving the cookie on every click buys nothing


async def start_admin_session(request: web.Request, username: str) -> Session:
    """Replace any existing session by a fresh logged-in one (a new id defeats session fixation)."""
    store = request.config_dict[ADMIN_STORE]
    session = await new_session(request)
    now = time.time()
    session.update({
        "sid": secrets.token_urlsafe(16), "user": username, "login_at": now, "seen_at": now,
        "epoch": store.login.epoch if store.login else now, "csrf": secrets.token_urlsafe(32),
    })
    return session


async def end_admin_session(request: web.Request) -> None:
    """Log the request's session out: revoke its id until its absolute expiry, then clear the cookie."""
    session = await session_of(request)
    if session is None:
        return
    sid = session.get("sid")
    if sid:
        absolute = request.config_dict[SETTINGS].current.admin.session_absolute_timeout
        await request.config_dict[ADMIN_STORE].revoke_session(sid, session.get("login_at", 0) + absolute)
    session.invalidate()


async def admin_of(request: web.Request) -> str | None:
    """The logged-in admin's username for this request, or ``None`` (expired sessions are cleared)."""
    session = await session_of(request)
    if session is None or "user" not in session:
        return None
    store = request.config_dict[ADMIN_STORE]
    policy = request.config_dict[SETTINGS].current.admin
    now = time.time()
    login = store.login
    valid = (
        login is not None
        and not store.is_revoked(session.get("sid", ""))
        and now - session.get("login_at", 0) <= policy.session_absolute_timeout
        and now - session.get("seen_at", 0) <= policy.session_idle_timeout
        and session.get("epoch", 0) >= login.epoch
        and session["user"] == login.username
    )
    if not valid:
        session.invalidate()
        return None
    # background refreshes (?fragment=…) are not activity: an open dashboard must not keep a session alive
    if "fragment" not in request.query and now - session["seen_at"] >= min(_SEEN_WRITE_INTERVAL, policy.session_idle_timeout / 4):
        session["seen_at"] = now
    return session["user"]


def must_change_password(request: web.Request) -> bool:
    """True while the admin password is still the one seeded from the settings file."""
    login = request.config_dict[ADMIN_STORE].login
    return login is None or login.must_change


@web.middleware
async def admin_auth_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Let logged-in admins through; send everyone else to ``/login``, and to the password form while it is the default."""
    if request.path.startswith("/admin/static/"):
        return await handler(request)
    if await admin_of(request) is None:
        target = request.path_qs if request.method == "GET" else "/admin/"
        raise web.HTTPSeeOther(f"/login?next={quote(target, safe='')}")
    if must_change_password(request) and not request.path.startswith(_OPEN_WHILE_DEFAULT):
        raise web.HTTPSeeOther(PASSWORD_PATH)
    return await handler(request)

ADMIN_CALLER: Final = web.RequestKey("admin_caller", str)
