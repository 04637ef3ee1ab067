"""API key pages (``/admin/keys…``): create (the key is shown once), list, edit limits and models, revoke.

Keys live in :class:`flow2api.apikeys.ApiKeyStore` (stored hashed). The
create form answers with the page itself showing the new key — never a
redirect, so the key is not carried through the session cookie — and the
key cannot be shown again afterwards. Allowed models must be ids or aliases
of the current catalog.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from flow2api.admin.forms import KeyCreate, KeyFields, form_data, parse
from flow2api.admin.pages.webhooks import key_endpoint
from flow2api.admin.render import flash, render
from flow2api.admin.views import key_view
from flow2api.apikeys import API_KEYS, ApiKeyRecord
from flow2api.catalog import CATALOG
from flow2api.errors import InvalidRequestError, NotFoundError

KEY_FIELDS = ("name", "rpm", "concurrency", "models", "expires_at")

routes = web.RouteTableDef()  # filled by the decorators below, in source order; installed by setup_key_routes


def check_models(request: web.Request, models: Iterable[str] | None) -> None:
    """Raise ``InvalidRequestError`` (param ``models``) naming ids the current catalog does not know."""
    catalog = request.config_dict[CATALOG].current
    unknown = [m for m in models or () if m not in catalog.entries and m not in catalog.aliases]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise InvalidRequestError(f"unknown model id(s): {shown}", param="models")


async def find_key(request: web.Request) -> ApiKeyRecord:
    """The API key of the path's ``{id}``; raises ``NotFoundError`` (404) when there is none."""
    record = await request.config_dict[API_KEYS].get(int(request.match_info["id"]))
    if record is None:
        raise NotFoundError(f"No API key {request.match_info['id']}")
    return record


async def create_key_from(request: web.Request, data: KeyCreate) -> tuple[ApiKeyRecord, str]:
    """Create the key ``data`` describes: its record and the plaintext key (shown once, never stored).

    Raises ``InvalidRequestError`` for a model the catalog does not know (param ``models``) or a value the
    key store refuses (an empty name, a negative limit)."""
    check_models(request, data.models)
    try:
        return await request.config_dict[API_KEYS].create(
            data.name, rpm=data.rpm or 0, concurrency=data.concurrency or 0, models=tuple(data.models or ()),
            expires_at=data.expires_at,
        )
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None


async def update_key_from(request: web.Request, key_id: int, fields: KeyFields) -> ApiKeyRecord:
    """Change the key's fields that ``fields`` sets; the updated record. ``InvalidRequestError`` as
    :func:`create_key_from`."""
    check_models(request, fields.models)
    try:
        return await request.config_dict[API_KEYS].update(key_id, **fields.changes())
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None


async def _page(request: web.Request, *, new_key: str | None = None, created: dict | None = None, status: int = 200) -> web.Response:
    keys = [key_view(r) for r in await request.config_dict[API_KEYS].list()]
    return await render(request, "apikeys.html", {
        "keys": keys, "new_key": new_key, "created": created,
        "model_ids": sorted(request.config_dict[CATALOG].current.entries),
    }, status=status, active="keys")


@routes.get("/keys")
async def keys_page(request: web.Request) -> web.StreamResponse:
    """``GET /admin/keys``: the key list and the create form."""
    return await _page(request)


@routes.post("/keys")
async def create_key(request: web.Request) -> web.StreamResponse:
    """``POST /admin/keys`` (``name``, ``rpm``, ``concurrency``, ``models``, ``expires_at`` date): create and show the key once."""
    form = await request.post()
    try:
        record, key = await create_key_from(request, parse(KeyCreate, form_data(form, KEY_FIELDS)))
    except InvalidRequestError as exc:
        await flash(request, f"Key not created: {exc.message}", "error")
        raise web.HTTPSeeOther("/admin/keys") from None
    return await _page(request, new_key=key, created=key_view(record))


@routes.get(r"/keys/{id:\d+}")
async def key_page(request: web.Request) -> web.StreamResponse:
    """``GET /admin/keys/{id}``: the edit form."""
    record = await find_key(request)
    return await render(request, "apikey.html", {
        "key": key_view(record), "model_ids": sorted(request.config_dict[CATALOG].current.entries),
        "webhook": await key_endpoint(request, record.id),
    }, active="keys")


@routes.post(r"/keys/{id:\d+}")
async def edit_key(request: web.Request) -> web.StreamResponse:
    """``POST /admin/keys/{id}``: save name, limits, allowed models (empty = all), expiry (empty = never), enabled."""
    key_id = (await find_key(request)).id
    form = await request.post()
    data = form_data(form, KEY_FIELDS, checkboxes=("enabled",), keep_empty=("models", "expires_at"))
    try:
        await update_key_from(request, key_id, parse(KeyFields, data))
    except InvalidRequestError as exc:
        await flash(request, f"Not saved: {exc.message}", "error")
        raise web.HTTPSeeOther(f"/admin/keys/{key_id}") from None
    await flash(request, "Key saved.")
    raise web.HTTPSeeOther("/admin/keys")


@routes.post(r"/keys/{id:\d+}/revoke")
async def revoke_key(request: web.Request) -> web.StreamResponse:
    """``POST /admin/keys/{id}/revoke``: delete the key; clients using it get 401 from then on."""
    record = await find_key(request)
    await request.config_dict[API_KEYS].revoke(record.id)
    await flash(request, f"Key {record.id} revoked.")
    raise web.HTTPSeeOther("/admin/keys")


def setup_key_routes(admin_app: web.Application) -> None:
    """Register the API key pages on the admin sub-app."""
    admin_app.router.add_routes(routes)
