"""``setup_admin(app, box)``: the admin site's resources, sub-apps and start-up step.

Built before start-up (app state is frozen after it)::

    app[ADMIN_STORE]      AdminStore (admin login, admin tokens, revoked sessions)
    app[LOGIN_THROTTLE]   LoginThrottle (5 failures / 15 min per address)
    app[SETTINGS_EDITOR]  SettingsEditor over app[SETTINGS] and the stored overrides

Sub-apps, each with its own middlewares so sessions never touch ``/v1``::

    /login   session cookie → admin pages (headers, error pages) → CSRF
    /admin   session cookie → admin pages → CSRF → admin auth (login, timeouts, forced password change)
    /api     JSON errors → session cookie → admin token or session (+ CSRF for the session)

The session cookie comes first so that a CSRF refusal or an error page can
still update the session (flash messages). One ``cleanup_ctx``,
``admin_store``, runs after the database is open: it seeds the admin login
from ``[global] admin_username`` / ``admin_password`` and loads tokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from flow2api.admin.api import create_api_app
from flow2api.admin.auth import admin_auth_middleware
from flow2api.admin.csrf import csrf_middleware
from flow2api.admin.headers import admin_pages_middleware
from flow2api.admin.overrides import SettingsOverrides
from flow2api.admin.pages import setup_pages
from flow2api.admin.render import WORKFLOW_NAV, create_environment, install_environment
from flow2api.admin.session import SessionCookies, load_or_create_session_key
from flow2api.admin.settings_edit import SETTINGS_EDITOR, SettingsEditor
from flow2api.admin.store import ADMIN_STORE, AdminStore
from flow2api.admin.throttle import LOGIN_THROTTLE, LoginThrottle
from flow2api.discovery import PROVIDERS
from flow2api.settings import SETTINGS
from flow2api.storage import DATABASE, SecretBox


def setup_admin(
    app: web.Application, box: SecretBox, *, pages: Sequence[web.AbstractRouteDef] = (),
    nav: tuple[tuple[str, str, str], ...] = (),
) -> None:
    """Install the admin site on the root ``app`` (which already holds the database, settings, pool …).

    ``box`` seals settings stored by the admin site; ``pages`` are workflow plugins' admin routes (added to
    the ``/admin`` sub-app, behind its login) and ``nav`` their navigation entries. Raises ``ValueError``
    when ``<data_dir>/session.key`` exists but is not 32 bytes.
    """
    settings = app[SETTINGS].current
    app[ADMIN_STORE] = AdminStore(app[DATABASE])
    app[LOGIN_THROTTLE] = LoginThrottle()
    app[SETTINGS_EDITOR] = SettingsEditor(app[SETTINGS], app[PROVIDERS], SettingsOverrides(app[DATABASE], box))
    app.cleanup_ctx.append(_admin_store)

    cookies = SessionCookies(
        load_or_create_session_key(settings.storage.data_dir), max_age=int(settings.admin.session_absolute_timeout) + 60,  # the server enforces the exact limit
    )
    env = create_environment()
    session = cookies.middleware()
    login_app = web.Application(middlewares=[session, admin_pages_middleware, csrf_middleware])
    admin_app = web.Application(middlewares=[session, admin_pages_middleware, csrf_middleware, admin_auth_middleware])
    install_environment(login_app, env)
    install_environment(admin_app, env)
    setup_pages(login_app, admin_app)
    admin_app.add_routes(pages)
    app[WORKFLOW_NAV] = nav
    app.add_subapp("/login", login_app)
    app.add_subapp("/admin", admin_app)
    app.add_subapp("/api", create_api_app(session))


async def _admin_store(app: web.Application) -> AsyncIterator[None]:
    """Seed or re-seed the admin login and load admin tokens (after the database is open)."""
    login = app[SETTINGS].current.global_
    await app[ADMIN_STORE].load(login.admin_username, login.admin_password.get_secret_value())
    yield
