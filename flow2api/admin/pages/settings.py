"""The settings page (``/admin/settings``): view and change the runtime-editable settings.

What may be changed, how it is validated, applied and persisted is
:mod:`flow2api.admin.settings_edit`'s; this module turns the form into
``{section: {key: value}}``. Form fields are named ``<section>.<key>``;
checkboxes are listed in hidden ``_bool`` fields so an unticked box means
false; secret inputs are empty (write-only): leaving one empty keeps the
value, ticking ``<section>.<key>.__clear`` empties it. The form also offers a
proxy test (``POST /admin/settings/proxy-test``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from flow2api.admin.forms import ProxyTest, form_data, parse
from flow2api.admin.proxytest import try_proxy
from flow2api.admin.render import flash, render
from flow2api.admin.settings_edit import SETTINGS_EDITOR, FieldSpec
from flow2api.errors import InvalidRequestError
from flow2api.settings import SettingsError


def changes_from_form(form: MultiMapping[Any], fields: list[FieldSpec]) -> dict[str, dict[str, Any]]:
    """``{section: {key: value}}`` from the settings form (only sections the form carried)."""
    sections = set(form.getall("_section", []))
    bools = set(form.getall("_bool", []))
    changes: dict[str, dict[str, Any]] = defaultdict(dict)
    for spec in fields:
        if spec.section not in sections:
            continue
        name = f"{spec.section}.{spec.key}"
        value = form.get(name)
        if spec.kind == "bool":
            if name in bools:
                changes[spec.section][spec.key] = name in form
        elif spec.kind == "secret":
            if f"{name}.__clear" in form:
                changes[spec.section][spec.key] = ""
            elif isinstance(value, str) and value.strip():
                changes[spec.section][spec.key] = value.strip()
        elif isinstance(value, str):
            if value.strip() == "" and spec.kind in ("int", "float"):
                continue  # an emptied number means "unchanged", not zero
            changes[spec.section][spec.key] = value.strip()
    return dict(changes)


def grouped(fields: list[FieldSpec]) -> list[tuple[str, str, list[FieldSpec]]]:
    """Fields per section, in order: ``(section, applies, fields)``; ``applies`` is ``now``, ``restart`` or ``mixed``."""
    out: dict[str, list[FieldSpec]] = {}
    for spec in fields:
        out.setdefault(spec.section, []).append(spec)
    result = []
    for section, specs in out.items():
        live = {f.live for f in specs}
        result.append((section, "mixed" if len(live) > 1 else ("now" if live == {True} else "restart"), specs))
    return result


async def settings_page(request: web.Request) -> web.StreamResponse:
    """``GET /admin/settings``: every editable setting, grouped by section, secrets as set/not set."""
    editor = request.config_dict[SETTINGS_EDITOR]
    return await render(request, "settings.html", {
        "sections": grouped(editor.fields()), "source": editor.holder.current.source, "proxy_result": None,
    }, active="settings")


async def save_settings(request: web.Request) -> web.StreamResponse:
    """``POST /admin/settings``: validate and apply the form; stored so a restart keeps it."""
    editor = request.config_dict[SETTINGS_EDITOR]
    form = await request.post()
    try:
        changed = await editor.apply(changes_from_form(form, editor.fields()))
    except SettingsError as exc:
        await flash(request, f"Nothing saved: {exc}", "error")
        raise web.HTTPSeeOther("/admin/settings") from None
    if changed:
        names = "; ".join(f"[{s}] {', '.join(keys)}" for s, keys in changed.items())
        await flash(request, f"Saved: {names}.")
    else:
        await flash(request, "No changes.", "warn")
    raise web.HTTPSeeOther("/admin/settings")


async def proxy_test(request: web.Request) -> web.StreamResponse:
    """``POST /admin/settings/proxy-test`` (``proxy_url``, ``target_url``): the settings page with the test's outcome."""
    editor = request.config_dict[SETTINGS_EDITOR]
    form = await request.post()
    try:
        data = parse(ProxyTest, form_data(form, ("proxy_url", "target_url", "timeout")))
        result = await try_proxy(data.proxy_url, data.target_url, timeout=data.timeout)
    except InvalidRequestError as exc:
        result = {"ok": False, "stage": "input", "message": exc.message, "proxy": "", "status": None}
    return await render(request, "settings.html", {
        "sections": grouped(editor.fields()), "source": editor.holder.current.source, "proxy_result": result,
    }, active="settings")


def setup_settings_routes(admin_app: web.Application) -> None:
    """Register the settings page on the admin sub-app."""
    admin_app.router.add_get("/settings", settings_page)
    admin_app.router.add_post("/settings", save_settings)
    admin_app.router.add_post("/settings/proxy-test", proxy_test)
