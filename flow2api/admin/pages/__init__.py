"""The admin pages, one module per area; :func:`setup_pages` registers them all.

Static assets (one CSS file, two small scripts) are package data of
``flow2api.static``, found with :mod:`importlib.resources` and served under
``/admin/static/`` (aiohttp serves files from a directory, so the package must
be installed unzipped, as pip always does).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

from flow2api.admin.pages.accounts import setup_account_routes
from flow2api.admin.pages.apikeys import setup_key_routes
from flow2api.admin.pages.dashboard import setup_dashboard_routes
from flow2api.admin.pages.login import setup_login_routes
from flow2api.admin.pages.logs import setup_log_routes
from flow2api.admin.pages.models import setup_model_routes
from flow2api.admin.pages.playground import setup_playground_routes
from flow2api.admin.pages.security import setup_security_routes
from flow2api.admin.pages.settings import setup_settings_routes
from flow2api.admin.pages.webhooks import setup_webhook_routes

STATIC_DIR = Path(str(resources.files("flow2api.static")))


def setup_pages(login_app: web.Application, admin_app: web.Application) -> None:
    """Register every page route on the ``/login`` and ``/admin`` sub-apps, and the static files."""
    setup_login_routes(login_app, admin_app)
    setup_dashboard_routes(admin_app)
    setup_account_routes(admin_app)
    setup_key_routes(admin_app)
    setup_settings_routes(admin_app)
    setup_model_routes(admin_app)
    setup_log_routes(admin_app)
    setup_playground_routes(admin_app)
    setup_security_routes(admin_app)
    setup_webhook_routes(admin_app)
    admin_app.router.add_static("/static", STATIC_DIR, append_version=True)
