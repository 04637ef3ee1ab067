"""The models page (``/admin/models``): the current catalog, read-only, with "Reload now".

The catalog is edited in ``models.yaml``; this page shows what is loaded
(digest, source, loaded-at), the last reload error with its
``<file>:<line>: <field>: <message>`` lines, routes whose provider is not
installed, and a table of every model (id, kind, routes with their params,
enabled, available) and alias. "Reload now" re-reads the file; a bad file
keeps the running catalog and shows why.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from flow2api.admin.render import flash, render
from flow2api.catalog import CATALOG, Catalog, CatalogHolder


def catalog_rows(catalog: Catalog) -> list[dict[str, Any]]:
    """One row per model: ``id, kind, description, enabled, available, routes`` (``provider`` + ``params`` dict)."""
    rows = []
    for entry in catalog.entries.values():
        routes = [
            {"provider": r.provider, "params": r.options.model_dump(mode="json", exclude_defaults=True) if r.options else None}
            for r in entry.routes
        ]
        rows.append({
            "id": entry.id, "kind": entry.kind.value, "description": entry.description, "enabled": entry.enabled,
            "available": entry.available, "routes": routes,
        })
    return rows


def alias_rows(catalog: Catalog) -> list[dict[str, Any]]:
    """One row per resolver alias: ``id, kind, enabled, default_aspect, targets`` (aspect → size → model id)."""
    return [
        {"id": a.id, "kind": a.kind.value, "enabled": a.enabled, "default_aspect": a.default_aspect,
         "targets": {aspect: dict(sizes) for aspect, sizes in a.targets.items()}}
        for a in catalog.aliases.values()
    ]


def catalog_state(holder: CatalogHolder) -> dict[str, Any]:
    """``digest, source, loaded_at, models, aliases, warnings, last_error, last_attempt`` of the holder."""
    catalog = holder.current
    return {
        "digest": catalog.digest, "source": catalog.source, "loaded_at": catalog.loaded_at,
        "models": len(catalog.entries), "aliases": len(catalog.aliases), "warnings": list(catalog.warnings),
        "last_error": holder.last_error, "last_attempt": holder.last_attempt,
    }


async def models_page(request: web.Request) -> web.StreamResponse:
    """``GET /admin/models``: the catalog table, its state and the reload button."""
    holder = request.config_dict[CATALOG]
    return await render(request, "models.html", {
        "catalog": catalog_state(holder), "rows": catalog_rows(holder.current), "aliases": alias_rows(holder.current),
    }, active="models")


async def reload_catalog(request: web.Request) -> web.StreamResponse:
    """``POST /admin/models/reload``: re-read ``models.yaml`` now; the outcome is flashed."""
    holder = request.config_dict[CATALOG]
    if await holder.reload():
        await flash(request, f"Catalog reloaded: digest {holder.current.digest}, {len(holder.current.entries)} models.")
    else:
        await flash(request, "Reload failed: the previous catalog stays in force (see the error below).", "error")
    raise web.HTTPSeeOther("/admin/models")


def setup_model_routes(admin_app: web.Application) -> None:
    """Register the models page on the admin sub-app."""
    admin_app.router.add_get("/models", models_page)
    admin_app.router.add_post("/models/reload", reload_catalog)
