"""Admin JSON API: accounts (``/api/accounts…``).

=======  ==================================  ==============================================================
GET      /api/accounts?q=&state=             ``{"data": [account], "total": n}`` (secrets masked)
POST     /api/accounts                       body :class:`~flow2api.admin.forms.AccountCreate` → 201 account
                                             (``st``, or ``credentials`` for other families)
GET      /api/accounts/{id}                  account
PATCH    /api/accounts/{id}                  body :class:`~flow2api.admin.forms.AccountFields` → account
DELETE   /api/accounts/{id}                  ``{"id", "deleted": true}``
POST     /api/accounts/{id}/enable|disable   account
POST     /api/accounts/{id}/refresh          account after ST→AT and credits (upstream errors as errors)
POST     /api/accounts/import                body: the original's ``{"tokens": [...]}``, a list, or tokens
                                             → ``{"added", "updated", "failed", "ids", "errors"}``
GET      /api/accounts/export                ``?include_secrets=true`` adds credentials and proxy URLs
=======  ==================================  ==============================================================

An account is :func:`flow2api.admin.views.account_view`. Errors: 400
``invalid_request`` (validation, naming the field in ``param``), 404
``not_found``, and the family's upstream errors (e.g. 502
``upstream_credential_rejected`` for a dead ST) when adding or refreshing.
"""

from __future__ import annotations

import json

from aiohttp import web

from flow2api.admin.api.common import json_response, read_json
from flow2api.admin.forms import AccountCreate, AccountFields, parse
from flow2api.admin.pages.accounts import find_account, matches, set_account_enabled, store_new_account
from flow2api.admin.transfer import build_export, parse_import, run_import
from flow2api.admin.views import account_view
from flow2api.errors import InvalidRequestError
from flow2api.pool import POOL

routes = web.RouteTableDef()  # filled by the decorators below, in source order; installed by setup_account_api


@routes.get("/accounts")
async def list_accounts(request: web.Request) -> web.Response:
    """``GET /api/accounts``: every account matching ``q`` (search) and ``state``."""
    pool = request.config_dict[POOL]
    views = [account_view(r, pool) for r in pool.records()]
    shown = [v for v in views if matches(v, request.query.get("q", "").strip(), request.query.get("state", ""))]
    return json_response({"data": shown, "total": len(views)})


@routes.post("/accounts")
async def create_account(request: web.Request) -> web.Response:
    """``POST /api/accounts``: check the credential upstream, store (upsert by e-mail) → 201."""
    pool = request.config_dict[POOL]
    record = await store_new_account(pool, parse(AccountCreate, await read_json(request)))
    return json_response(account_view(record, pool), status=201)


@routes.get(r"/accounts/{id:\d+}")
async def get_account(request: web.Request) -> web.Response:
    """``GET /api/accounts/{id}``."""
    pool = request.config_dict[POOL]
    return json_response(account_view(find_account(pool, request.match_info["id"]), pool))


@routes.patch(r"/accounts/{id:\d+}")
async def patch_account(request: web.Request) -> web.Response:
    """``PATCH /api/accounts/{id}``: change the given fields only."""
    pool = request.config_dict[POOL]
    record = find_account(pool, request.match_info["id"])
    changes = parse(AccountFields, await read_json(request)).changes()
    if changes.get("enabled") is False:
        changes.setdefault("ban_reason", "disabled by the operator")
    return json_response(account_view(await pool.update(record.id, **changes), pool))


@routes.delete(r"/accounts/{id:\d+}")
async def delete_account(request: web.Request) -> web.Response:
    """``DELETE /api/accounts/{id}``: delete for good."""
    pool = request.config_dict[POOL]
    record = find_account(pool, request.match_info["id"])
    await pool.delete(record.id)
    return json_response({"id": record.id, "deleted": True})


@routes.post(r"/accounts/{id:\d+}/{action:enable|disable}")
async def set_enabled(request: web.Request) -> web.Response:
    """``POST /api/accounts/{id}/enable`` (clears ban and error streak) or ``/disable``."""
    pool = request.config_dict[POOL]
    record = await set_account_enabled(pool, request.match_info["id"], request.match_info["action"] == "enable")
    return json_response(account_view(record, pool))


@routes.post(r"/accounts/{id:\d+}/refresh")
async def refresh_account(request: web.Request) -> web.Response:
    """``POST /api/accounts/{id}/refresh``: ST→AT and credits now; a dead ST disables the account (and is the error)."""
    pool = request.config_dict[POOL]
    record = find_account(pool, request.match_info["id"])
    await pool.refresh_now(record.id)
    return json_response(account_view(find_account(pool, record.id), pool))


@routes.post("/accounts/import")
async def import_accounts(request: web.Request) -> web.Response:
    """``POST /api/accounts/import``: bulk upsert; items that fail are listed, the others imported."""
    body = await read_json(request)
    text = body if isinstance(body, str) else json.dumps(body)
    items, refused = parse_import(text)
    report = await run_import(request.config_dict[POOL], items)
    out = report.as_json()
    out["errors"] = sorted(refused + out["errors"], key=lambda e: e["item"])
    out["failed"] = len(out["errors"])
    return json_response(out)


@routes.get("/accounts/export")
async def export_accounts(request: web.Request) -> web.Response:
    """``GET /api/accounts/export[?include_secrets=true]``: ``{"tokens": [...], "exported_at", "secrets_included"}``."""
    flag = request.query.get("include_secrets", "false").lower()
    if flag not in ("true", "false", "1", "0"):
        raise InvalidRequestError("include_secrets must be true or false", param="include_secrets")
    return json_response(build_export(request.config_dict[POOL], include_secrets=flag in ("true", "1")))


def setup_account_api(api: web.Application) -> None:
    """Register the account endpoints on the ``/api`` sub-app."""
    api.router.add_routes(routes)
