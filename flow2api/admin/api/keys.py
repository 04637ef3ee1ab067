"""Admin JSON API: client API keys (``/api/keys…``) and admin tokens (``/api/admin-tokens…``).

=======  ========================  ===================================================================
GET      /api/keys                 ``{"data": [key]}`` (prefix only, never a key)
POST     /api/keys                 body :class:`~flow2api.admin.forms.KeyCreate` → 201 ``{"key": "sk-f2a-…",
                                   "record": key}``; the key is in this answer only
GET      /api/keys/{id}            key
PATCH    /api/keys/{id}            body :class:`~flow2api.admin.forms.KeyFields` → key
DELETE   /api/keys/{id}            revoke → ``{"id", "revoked": true}``
GET      /api/admin-tokens         ``{"data": [token]}``
POST     /api/admin-tokens         ``{"name"}`` → 201 ``{"token": "f2a-admin-…", "record": token}`` (shown once)
DELETE   /api/admin-tokens/{id}    ``{"id", "revoked": true}``
=======  ========================  ===================================================================

Allowed ``models`` must be ids or aliases of the current catalog (400 ``param: models``).
"""

from __future__ import annotations

from aiohttp import web

from flow2api.admin.api.common import json_response, read_json
from flow2api.admin.forms import KeyCreate, KeyFields, TokenCreate, parse
from flow2api.admin.pages.apikeys import create_key_from, find_key, update_key_from
from flow2api.admin.store import ADMIN_STORE
from flow2api.admin.views import key_view, token_view
from flow2api.apikeys import API_KEYS
from flow2api.errors import NotFoundError

routes = web.RouteTableDef()  # filled by the decorators below, in source order; installed by setup_key_api


@routes.get("/keys")
async def list_keys(request: web.Request) -> web.Response:
    """``GET /api/keys``."""
    return json_response({"data": [key_view(r) for r in await request.config_dict[API_KEYS].list()]})


@routes.post("/keys")
async def create_key(request: web.Request) -> web.Response:
    """``POST /api/keys`` → 201 with the plaintext key, once."""
    record, key = await create_key_from(request, parse(KeyCreate, await read_json(request)))
    return json_response({"key": key, "record": key_view(record)}, status=201)


@routes.get(r"/keys/{id:\d+}")
async def get_key(request: web.Request) -> web.Response:
    """``GET /api/keys/{id}``."""
    return json_response(key_view(await find_key(request)))


@routes.patch(r"/keys/{id:\d+}")
async def patch_key(request: web.Request) -> web.Response:
    """``PATCH /api/keys/{id}``: change the given fields only."""
    record = await find_key(request)
    updated = await update_key_from(request, record.id, parse(KeyFields, await read_json(request)))
    return json_response(key_view(updated))


@routes.delete(r"/keys/{id:\d+}")
async def revoke_key(request: web.Request) -> web.Response:
    """``DELETE /api/keys/{id}``: revoke for good."""
    record = await find_key(request)
    await request.config_dict[API_KEYS].revoke(record.id)
    return json_response({"id": record.id, "revoked": True})


@routes.get("/admin-tokens")
async def list_tokens(request: web.Request) -> web.Response:
    """``GET /api/admin-tokens``."""
    return json_response({"data": [token_view(t) for t in request.config_dict[ADMIN_STORE].tokens()]})


@routes.post("/admin-tokens")
async def create_token(request: web.Request) -> web.Response:
    """``POST /api/admin-tokens`` → 201 with the plaintext token, once."""
    data = parse(TokenCreate, await read_json(request))
    record, token = await request.config_dict[ADMIN_STORE].create_token(data.name)
    return json_response({"token": token, "record": token_view(record)}, status=201)


@routes.delete(r"/admin-tokens/{id:\d+}")
async def revoke_token(request: web.Request) -> web.Response:
    """``DELETE /api/admin-tokens/{id}``."""
    token_id = int(request.match_info["id"])
    if not await request.config_dict[ADMIN_STORE].revoke_token(token_id):
        raise NotFoundError(f"No admin token {token_id}")
    return json_response({"id": token_id, "revoked": True})


def setup_key_api(api: web.Application) -> None:
    """Register the key and admin-token endpoints on the ``/api`` sub-app."""
    api.router.add_routes(routes)
