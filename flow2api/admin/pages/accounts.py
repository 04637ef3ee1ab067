"""Accounts pages: list with search and state filter, add by ST, import/export, edit, enable/disable,
refresh, delete with confirmation (``/admin/accounts…``).

Every form posts and redirects back with a flash message (post/redirect/get).
Inputs are validated by the models of :mod:`flow2api.admin.forms`, the same
as the JSON API's. Secrets are shown masked (:mod:`flow2api.admin.views`);
the proxy URL is write-only (it may carry a password): an empty input keeps it.
"""

from __future__ import annotations

import json
import time

from aiohttp import web

from flow2api.admin.forms import AccountCreate, AccountFields, form_data, parse
from flow2api.admin.queries import LogFilter, recent_requests, recent_tasks
from flow2api.admin.render import flash, render
from flow2api.admin.transfer import build_export, parse_import, run_import
from flow2api.admin.views import ACCOUNT_STATES, account_view
from flow2api.errors import Flow2APIError, InvalidRequestError, NotFoundError
from flow2api.pool import POOL, AccountPool
from flow2api.storage import DATABASE
from flow2api.storage.accounts import AccountRecord

EDIT_FIELDS = ("name", "remark", "image_concurrency", "video_concurrency", "proxy_url")
EDIT_CHECKBOXES = ("image_enabled", "video_enabled")
MAX_UPLOAD_BYTES = 5 * 1024 * 1024

routes = web.RouteTableDef()  # filled by the decorators below, in source order; installed by setup_account_routes


def find_account(pool: AccountPool, account_id: str | int) -> AccountRecord:
    """The pool record with this id; raises ``NotFoundError`` (404)."""
    try:
        wanted = int(account_id)
    except (TypeError, ValueError):
        raise NotFoundError(f"No account {account_id!r}") from None
    for record in pool.records():
        if record.id == wanted:
            return record
    raise NotFoundError(f"No account {wanted}")


def family_credentials(pool: AccountPool, create: AccountCreate) -> dict[str, str]:
    """The credential map for ``pool.add``: the form's one credential box (``st``) fills the family's
    single credential field when that field is not ``st`` (e.g. flowweb's ``cookies``)."""
    credentials = create.credential_map()
    family = pool.families.get(create.family)
    fields = family.credential_fields if family is not None else ()
    if "st" in credentials and "st" not in fields and len(fields) == 1 and fields[0] not in credentials:
        credentials[fields[0]] = credentials.pop("st")
    return credentials


async def store_new_account(pool: AccountPool, create: AccountCreate) -> AccountRecord:
    """Check the credential upstream and store the account (upsert by e-mail) with the fields ``create`` sets;
    the family's upstream errors propagate (e.g. ``upstream_credential_rejected`` for a dead ST)."""
    fields = create.model_dump(exclude_unset=True, exclude={"family", "st", "credentials"})
    fields = {k: v for k, v in fields.items() if v is not None}
    return await pool.add(create.family, family_credentials(pool, create), **fields)


async def set_account_enabled(pool: AccountPool, account_id: str | int, enable: bool) -> AccountRecord:
    """Enable the account (clears the ban and the error streak) or disable it (ban reason "disabled by the
    operator"); the updated record. Raises ``NotFoundError`` (404) for an unknown id."""
    record = find_account(pool, account_id)
    changes = parse(AccountFields, {"enabled": enable}).changes()
    if not enable:
        changes["ban_reason"] = "disabled by the operator"
    return await pool.update(record.id, **changes)


def matches(view: dict, query: str, state: str) -> bool:
    """Search over id, e-mail, name, remark, tier (case-insensitive) and an exact state filter."""
    if state and view["state"] != state:
        return False
    if not query:
        return True
    haystack = " ".join(str(view[k] or "") for k in ("id", "email", "name", "remark", "tier", "family")).lower()
    return query.lower() in haystack


@routes.get("/accounts")
async def accounts_page(request: web.Request) -> web.StreamResponse:
    """``GET /admin/accounts?q=&state=``: the account list, add, import and export forms."""
    pool = request.config_dict[POOL]
    query, state = request.query.get("q", "").strip(), request.query.get("state", "")
    views = [account_view(r, pool) for r in pool.records()]
    shown = [v for v in views if matches(v, query, state)]
    return await render(request, "accounts.html", {
        "accounts": shown, "total": len(views), "q": query, "state": state, "states": ACCOUNT_STATES,
        "families": {name: list(f.credential_fields) for name, f in sorted(pool.families.items())},
    }, active="accounts")


@routes.post("/accounts")
async def add_account(request: web.Request) -> web.StreamResponse:
    """``POST /admin/accounts`` (``st``, ``remark``, ``proxy_url``, concurrency, kind checkboxes): check the ST upstream, store."""
    pool = request.config_dict[POOL]
    form = await request.post()
    data = form_data(form, ("family", "st", "remark", "proxy_url", "image_concurrency", "video_concurrency"))
    try:
        record = await store_new_account(pool, parse(AccountCreate, data))
    except Flow2APIError as exc:
        await flash(request, f"Account not added: {exc.message}", "error")
        raise web.HTTPSeeOther("/admin/accounts") from None
    await flash(request, f"Account {record.id} ({record.email}) added: tier {record.tier or '?'}, credits {record.credits}.")
    raise web.HTTPSeeOther(f"/admin/accounts/{record.id}")


@routes.post("/accounts/import")
async def import_accounts(request: web.Request) -> web.StreamResponse:
    """``POST /admin/accounts/import`` (multipart: ``data`` text or ``file`` upload): bulk upsert, report flashed."""
    form = await request.post()
    upload = form.get("file")
    text = str(form.get("data", "") or "")
    if isinstance(upload, web.FileField) and upload.filename:
        raw = upload.file.read(MAX_UPLOAD_BYTES + 1)
        if len(raw) > MAX_UPLOAD_BYTES:
            await flash(request, "The file is larger than 5 MB.", "error")
            raise web.HTTPSeeOther("/admin/accounts")
        text = raw.decode("utf-8", errors="replace")
    try:
        items, refused = parse_import(text)
    except InvalidRequestError as exc:
        await flash(request, f"Nothing imported: {exc.message}", "error")
        raise web.HTTPSeeOther("/admin/accounts") from None
    report = await run_import(request.config_dict[POOL], items)
    errors = sorted(refused + report.failed, key=lambda e: e["item"])
    level = "ok" if not errors else ("warn" if report.added or report.updated else "error")
    await flash(request, f"Import: {len(report.added)} added, {len(report.updated)} updated, {len(errors)} failed.", level)
    for err in errors[:20]:
        await flash(request, f"Item {err['item']}: {err['error']}", "error")
    raise web.HTTPSeeOther("/admin/accounts")


@routes.post("/accounts/export")
async def export_accounts(request: web.Request) -> web.StreamResponse:
    """``POST /admin/accounts/export`` (``include_secrets`` checkbox): the ``{"tokens": [...]}`` file as a download."""
    form = await request.post()
    payload = build_export(request.config_dict[POOL], include_secrets="include_secrets" in form)
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    suffix = "-with-secrets" if payload["secrets_included"] else ""
    return web.Response(
        text=json.dumps(payload, indent=2), content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="flow2api-accounts-{stamp}{suffix}.json"', "Cache-Control": "no-store"},
    )


@routes.get(r"/accounts/{id:\d+}")
async def account_page(request: web.Request) -> web.StreamResponse:
    """``GET /admin/accounts/{id}``: details, edit form, actions, recent failed requests and tasks of the account."""
    record = find_account(request.config_dict[POOL], request.match_info["id"])
    db = request.config_dict[DATABASE]
    errors = await recent_requests(db, LogFilter(account_id=record.id, status="failed", limit=20))
    tasks = await recent_tasks(db, account_id=record.id, limit=20)
    return await render(request, "account.html", {
        "account": account_view(record, request.config_dict[POOL]), "errors": errors, "tasks": tasks,
    }, active="accounts")


@routes.post(r"/accounts/{id:\d+}")
async def edit_account(request: web.Request) -> web.StreamResponse:
    """``POST /admin/accounts/{id}``: save name, remark, kinds, concurrency, proxy (empty keeps it; ``clear_proxy`` removes it)."""
    pool = request.config_dict[POOL]
    record = find_account(pool, request.match_info["id"])
    form = await request.post()
    data = form_data(form, EDIT_FIELDS, checkboxes=EDIT_CHECKBOXES, keep_empty=("name", "remark"))
    if "clear_proxy" in form:
        data["proxy_url"] = ""
    try:
        changes = parse(AccountFields, data).changes()
    except InvalidRequestError as exc:
        await flash(request, f"Not saved: {exc.message}", "error")
        raise web.HTTPSeeOther(f"/admin/accounts/{record.id}") from None
    await pool.update(record.id, **changes)
    await flash(request, "Account saved.")
    raise web.HTTPSeeOther(f"/admin/accounts/{record.id}")


@routes.post(r"/accounts/{id:\d+}/{action:enable|disable}")
async def set_enabled(request: web.Request) -> web.StreamResponse:
    """``POST /admin/accounts/{id}/enable`` or ``/disable``; enabling clears the ban and the error streak."""
    enable = request.match_info["action"] == "enable"
    record = await set_account_enabled(request.config_dict[POOL], request.match_info["id"], enable)
    await flash(request, f"Account {record.id} {'enabled' if enable else 'disabled'}.")
    back = str((await request.post()).get("back", ""))
    raise web.HTTPSeeOther(back if back.startswith("/admin/") and "//" not in back else f"/admin/accounts/{record.id}")


@routes.post(r"/accounts/{id:\d+}/refresh")
async def refresh_account(request: web.Request) -> web.StreamResponse:
    """``POST /admin/accounts/{id}/refresh``: renew the credential (ST→AT) and re-read credits and tier now."""
    pool = request.config_dict[POOL]
    record = find_account(pool, request.match_info["id"])
    try:
        await pool.refresh_now(record.id)
    except Flow2APIError as exc:
        await flash(request, f"Refresh failed: {exc.message}", "error")
    else:
        fresh = find_account(pool, record.id)
        await flash(request, f"Refreshed: tier {fresh.tier or '?'}, credits {fresh.credits}.")
    raise web.HTTPSeeOther(f"/admin/accounts/{record.id}")


@routes.get(r"/accounts/{id:\d+}/delete")
async def delete_page(request: web.Request) -> web.StreamResponse:
    """``GET /admin/accounts/{id}/delete``: the confirmation page."""
    record = find_account(request.config_dict[POOL], request.match_info["id"])
    return await render(request, "account_delete.html", {"account": account_view(record, request.config_dict[POOL])},
                        active="accounts")


@routes.post(r"/accounts/{id:\d+}/delete")
async def delete_account(request: web.Request) -> web.StreamResponse:
    """``POST /admin/accounts/{id}/delete`` (``confirm`` = the account's e-mail): delete it for good."""
    pool = request.config_dict[POOL]
    record = find_account(pool, request.match_info["id"])
    form = await request.post()
    if str(form.get("confirm", "")).strip().lower() != record.email.lower():
        await flash(request, "Not deleted: type the account's e-mail to confirm.", "error")
        raise web.HTTPSeeOther(f"/admin/accounts/{record.id}/delete")
    await pool.delete(record.id)
    await flash(request, f"Account {record.id} ({record.email}) deleted.")
    raise web.HTTPSeeOther("/admin/accounts")


def setup_account_routes(admin_app: web.Application) -> None:
    """Register the account pages on the admin sub-app."""
    admin_app.router.add_routes(routes)
