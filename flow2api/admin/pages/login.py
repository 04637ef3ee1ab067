"""Login (``/login``), logout (``POST /admin/logout``) and the password form (``/admin/password``).

Login failures are throttled per client address (:mod:`flow2api.admin.throttle`):
past the limit the form answers 429 with ``Retry-After`` without checking the
password. The password form is where every admin page leads while the
password is still the one seeded from the settings file; changing it starts a
new session and logs every other session out.
"""

from __future__ import annotations

import logging
import math

from aiohttp import web

from flow2api.admin.auth import PASSWORD_PATH, admin_of, end_admin_session, must_change_password, start_admin_session
from flow2api.admin.render import flash, render
from flow2api.admin.store import ADMIN_STORE, PasswordPolicyError, WrongPasswordError
from flow2api.admin.throttle import LOGIN_THROTTLE

log = logging.getLogger(__name__)


def _next_target(value: str | None) -> str:
    """Only a local admin path may be a post-login target (no open redirect to another site)."""
    if value and value.startswith("/admin") and "//" not in value and "\\" not in value:
        return value
    return "/admin/"


async def login_page(request: web.Request) -> web.StreamResponse:
    """``GET /login``: the login form (already logged in → on to ``next``)."""
    if await admin_of(request) is not None:
        raise web.HTTPSeeOther(_next_target(request.query.get("next")))
    return await render(request, "login.html", {"next": _next_target(request.query.get("next")), "username": ""})


async def login_submit(request: web.Request) -> web.StreamResponse:
    """``POST /login`` (form ``username``, ``password``, ``next``, ``_csrf``): 303 on success, 401 or 429 page otherwise."""
    throttle = request.config_dict[LOGIN_THROTTLE]
    address = request.remote or "unknown"
    form = await request.post()
    username = str(form.get("username", ""))
    target = _next_target(str(form.get("next", "")))
    keys = (f"addr:{address}", f"user:{username.casefold()}")
    wait = throttle.reserve(*keys)
    if wait:
        log.warning("admin login refused: too many failures from %s", address)
        response = await render(
            request, "login.html",
            {"next": target, "username": username, "error": f"Too many failed logins. Try again in {math.ceil(wait)} s."},
            status=429,
        )
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    store = request.config_dict[ADMIN_STORE]
    if not await store.check_password(username, str(form.get("password", ""))):
        log.warning("admin login failed from %s", address)
        return await render(
            request, "login.html", {"next": target, "username": username, "error": "Wrong username or password."},
            status=401,
        )
    throttle.succeeded(*keys)
    await start_admin_session(request, store.login.username)
    log.info("admin logged in from %s", address)
    raise web.HTTPSeeOther(PASSWORD_PATH if must_change_password(request) else target)


async def logout(request: web.Request) -> web.StreamResponse:
    """``POST /admin/logout``: end the session (its cookie stops working even if copied) → ``/login``."""
    await end_admin_session(request)
    raise web.HTTPSeeOther("/login")


async def password_page(request: web.Request) -> web.StreamResponse:
    """``GET /admin/password``: the change-password form (forced while the password is the seeded one)."""
    return await render(request, "password.html", {"forced": must_change_password(request), "error": None}, active="security")


async def password_submit(request: web.Request) -> web.StreamResponse:
    """``POST /admin/password`` (``current``, ``new``, ``confirm``, optional ``username``): 303 to the dashboard, or the form with the reason (400)."""
    form = await request.post()
    store = request.config_dict[ADMIN_STORE]
    throttle = request.config_dict[LOGIN_THROTTLE]
    new, confirm = str(form.get("new", "")), str(form.get("confirm", ""))
    error, status = None, 400
    keys = (f"addr:{request.remote or 'unknown'}", f"user:{store.login.username.casefold()}")
    if new != confirm:
        error = "The two new passwords differ."
    elif wait := throttle.reserve(*keys):
        error, status = f"Too many wrong current passwords. Try again in {math.ceil(wait)} s.", 429
    else:
        try:
            await store.change_password(str(form.get("current", "")), new, username=str(form.get("username", "")) or None)
            throttle.succeeded(*keys)
        except WrongPasswordError as exc:
            error = str(exc).capitalize() + "."
        except PasswordPolicyError as exc:
            throttle.succeeded(*keys)  # the current password was right: nothing to count
            error = str(exc).capitalize() + "."
    if error:
        response = await render(
            request, "password.html", {"forced": must_change_password(request), "error": error}, status=status,
            active="security",
        )
        if status == 429:
            response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    await start_admin_session(request, store.login.username)
    await flash(request, "Password changed. Other sessions were logged out.")
    raise web.HTTPSeeOther("/admin/")


def setup_login_routes(login_app: web.Application, admin_app: web.Application) -> None:
    """``/login`` on its own sub-app; logout and the password form on the admin sub-app."""
    login_app.router.add_get("", login_page)
    login_app.router.add_post("", login_submit)
    admin_app.router.add_post("/logout", logout)
    admin_app.router.add_get("/password", password_page)
    admin_app.router.add_post("/password", password_submit)
