"""The security page (``/admin/security``): admin API tokens and a link to the password form.

Admin tokens authenticate scripts and the CLI against the admin JSON API
(``Authorization: Bearer f2a-admin-…``). A new token is shown once, in the
answer to the create form; only its SHA-256 is stored.
"""

from __future__ import annotations

from aiohttp import web

from flow2api.admin.render import flash, render
from flow2api.admin.store import ADMIN_STORE
from flow2api.admin.views import token_view
from flow2api.errors import NotFoundError


async def _page(request: web.Request, *, new_token: str | None = None) -> web.Response:
    store = request.config_dict[ADMIN_STORE]
    return await render(request, "security.html", {
        "tokens": [token_view(t) for t in store.tokens()], "new_token": new_token, "username": store.login.username,
    }, active="security")


async def security_page(request: web.Request) -> web.StreamResponse:
    """``GET /admin/security``: admin tokens and the password link."""
    return await _page(request)


async def create_token(request: web.Request) -> web.StreamResponse:
    """``POST /admin/security/tokens`` (``name``): create an admin token and show it once."""
    form = await request.post()
    try:
        _, token = await request.config_dict[ADMIN_STORE].create_token(str(form.get("name", "")))
    except ValueError as exc:
        await flash(request, f"Token not created: {exc}", "error")
        raise web.HTTPSeeOther("/admin/security") from None
    return await _page(request, new_token=token)


async def revoke_token(request: web.Request) -> web.StreamResponse:
    """``POST /admin/security/tokens/{id}/revoke``: delete an admin token."""
    token_id = int(request.match_info["id"])
    if not await request.config_dict[ADMIN_STORE].revoke_token(token_id):
        raise NotFoundError(f"No admin token {token_id}")
    await flash(request, f"Admin token {token_id} revoked.")
    raise web.HTTPSeeOther("/admin/security")


def setup_security_routes(admin_app: web.Application) -> None:
    """Register the security page on the admin sub-app."""
    admin_app.router.add_get("/security", security_page)
    admin_app.router.add_post("/security/tokens", create_token)
    admin_app.router.add_post(r"/security/tokens/{id:\d+}/revoke", revoke_token)
