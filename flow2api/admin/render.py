"""Rendering admin pages: the Jinja2 environment, where templates live, flash messages.

Templates are the top-level ``templates/`` directory of the source tree. A
wheel installs them as data files into ``<prefix>/share/flow2api/templates``
(see ``setup.cfg``), so :func:`template_dirs` looks in both places. Jinja2
autoescaping is on for every template (aiohttp-jinja2's default), and
``StrictUndefined`` turns a misspelt variable into an error instead of an
empty cell.
"""

from __future__ import annotations

import datetime
import sysconfig
from collections.abc import Mapping
from pathlib import Path
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

SOURCE_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
INSTALLED_TEMPLATES = Path(sysconfig.get_path("data")) / "share" / "flow2api" / "templates"

NAV = (
    ("dashboard", "/admin/", "Dashboard"),
    ("accounts", "/admin/accounts", "Accounts"),
    ("keys", "/admin/keys", "API keys"),
    ("models", "/admin/models", "Models"),
    ("logs", "/admin/logs", "Logs"),
    ("tasks", "/admin/tasks", "Tasks"),
    ("settings", "/admin/settings", "Settings"),
    ("playground", "/admin/playground", "Playground"),
    ("security", "/admin/security", "Security"),
)

#: Navigation entries of workflow plugins' admin pages (``(key, href, label)``), after :data:`NAV`.
WORKFLOW_NAV: Final = web.AppKey("workflow_nav", tuple)


def template_dirs() -> list[Path]:
    """Directories holding the admin templates: the source tree's, then the installed data files'."""
    found = [d for d in (SOURCE_TEMPLATES, INSTALLED_TEMPLATES) if (d / "base.html").is_file()]
    if not found:
        raise RuntimeError(f"admin templates not found in {SOURCE_TEMPLATES} or {INSTALLED_TEMPLATES}")
    return found


def _when(value: float | None) -> str:
    """Unix seconds → ``2026-01-31 12:00:00 UTC`` ("–" for none)."""
    if not value:
        return "–"
    return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def create_environment() -> jinja2.Environment:
    """A Jinja2 environment over :func:`template_dirs` with autoescape, strict undefined and the ``when`` filter."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in template_dirs()]),
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
