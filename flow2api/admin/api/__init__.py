"""The admin JSON API under ``/api``: accounts, keys, admin tokens, catalog, settings, logs, tasks, proxy test.

Authenticated by an admin token or the admin session (:mod:`.common`); every
error has the OpenAI shape ``{"error": {"message", "type", "param", "code"}}``.
The endpoints are listed in each module's docstring and in ``docs/admin.md``.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from flow2api.admin.api.accounts import setup_account_api
from flow2api.admin.api.common import api_auth_middleware, api_errors_middleware
from flow2api.admin.api.keys import setup_key_api
from flow2api.admin.api.system import setup_system_api


def create_api_app(session_middleware: Middleware) -> web.Application:
    """The ``/api`` sub-app. Middleware order: errors outermost (so auth failures get the JSON shape),
    then the session cookie (needed to read a browser's login), then auth."""
    api = web.Application(middlewares=[api_errors_middleware, session_middleware, api_auth_middleware])
    setup_account_api(api)
    setup_key_api(api)
    setup_system_api(api)
    return api
