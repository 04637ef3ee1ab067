"""Rendering admin pages: the Jinja2 environment, where templates live, flash messages.

Templates are package data, ``flow2api/templates/*.html`` (``setup.cfg``
``[options.package_data]``), loaded through the package's import machinery
(Jinja2's ``PackageLoader``, which uses :mod:`importlib`): the same lookup
serves a source checkout, an editable install and a wheel, whatever the
install scheme. (They were once data files under ``<prefix>/share/flow2api``,
which a ``--user``, ``--prefix`` or distribution-patched scheme put where
``sysconfig`` did not look, so ``flow2api serve`` died at start-up.) Jinja2
autoescaping is on for every template (aiohttp-jinja2's default), and
``StrictUndefined`` turns a misspelt variable into an error instead of an
empty cell.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Final

import aiohttp_jinja2
import jinja2
from aiohttp import web

from flow2api import __version__
from flow2api.admin.csrf import csrf_token
from flow2api.admin.session import session_of
from flow2api.admin.store import ADMIN_STORE
from flow2api.settings import SETTINGS
from flow2api.startup import DEMO

TEMPLATE_PACKAGE = ("flow2api", "templates")  # (package, directory inside it) for jinja2.PackageLoader

NAV = (
    ("dashboard", "/admin/", "Dashboard"),
    ("accounts", "/admin/accounts", "Accounts"),
    ("keys", "/admin/keys", "API keys"),
    ("models", "/admin/models", "Models"),
    ("logs", "/admin/logs", "Logs"),
    ("tasks", "/admin/tasks", "Tasks"),
    ("settings", "/admin/settings", "Settings"),
    ("webhooks", "/admin/webhooks", "Webhooks"),
    ("playground", "/admin/playground", "Playground"),
    ("security", "/admin/security", "Security"),
)

#: Navigation entries of workflow plugins' admin pages (``(key, href, label)``), after :data:`NAV`.
WORKFLOW_NAV: Final = web.AppKey("workflow_nav", tuple)


def _when(value: float | None) -> str:
    """Unix seconds → ``2026-01-31 12:00:00 UTC`` ("–" for none)."""
    if not value:
        return "–"
    return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def create_environment() -> jinja2.Environment:
    """A Jinja2 environment over the package's templates (:data:`TEMPLATE_PACKAGE`) with autoescape, strict
    undefined and the ``when`` filter. ``ValueError`` (from Jinja2) when the installed package has no templates."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(*TEMPLATE_PACKAGE),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    return env


def install_environment(app: web.Application, env: jinja2.Environment) -> None:
    """Make ``env`` the aiohttp-jinja2 environment of ``app`` (one environment shared by the admin sub-apps)."""
    app[aiohttp_jinja2.APP_KEY] = env


async def flash(request: web.Request, message: str, level: str = "ok") -> None:
    """Queue a one-time message for the next page (``level``: ``ok``, ``error``, ``warn``)."""
    session = await session_of(request)
    if session is not None:
        session["flash"] = [*session.get("flash", []), [level, message]]


async def render(
    request: web.Request, template: str, context: Mapping[str, Any] | None = None, *, status: int = 200,
    active: str = "",
) -> web.Response:
    """Render ``template`` with the common context (CSRF token, flash messages, nav, version, user).

    ``active`` names the nav entry to highlight. Pages are never cached (they
    show live state, and sometimes a secret shown once).
    """
    session = await session_of(request)
    store = request.config_dict.get(ADMIN_STORE)
    settings = request.config_dict.get(SETTINGS)
    common = {
        "csrf": csrf_token(session) if session is not None else "",
        "flashes": session.pop("flash", []) if session is not None else [],
        "nav": NAV + request.config_dict.get(WORKFLOW_NAV, ()),
        "active": active,
        "version": __version__,
        "instance": settings.current.server.instance_id if settings else "",  # which instance answered
        "demo": request.config_dict.get(DEMO, False),
        "user": session.get("user") if session is not None else None,
        "must_change": bool(store and store.login and store.login.must_change),
        "path": request.path,
    }
    response = aiohttp_jinja2.render_template(template, request, {**common, **(context or {})}, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response
