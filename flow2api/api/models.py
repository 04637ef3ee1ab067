"""``GET /v1/models`` and ``GET /v1/models/{model}``: the catalog as OpenAI model objects (OpenAI API reference "Models")."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from flow2api.catalog import Catalog, CatalogEntry
from flow2api.keys import CATALOG, PROVIDERS
from flow2api.plugin import Provider


def model_object(entry: CatalogEntry, catalog: Catalog, providers: dict[str, Provider]) -> dict[str, Any]:
    """One ``/v1/models`` item: OpenAI's ``id``/``object``/``created``/``owned_by`` plus ``flow2api``.

    The ``flow2api`` extension: ``kind`` (image/video), ``available`` (an
    installed provider serves it), ``description``, ``providers`` (route
    provider ids) and the first available route's capabilities from its
    provider's ``describe`` (aspect ratio, input image counts, tier …).
    """
    capabilities: dict[str, Any] = {}
    for route in entry.routes:
        provider = providers.get(route.provider)
        if provider is not None and route.options is not None:
            capabilities = provider.describe(route.options)
            break
    return {
        "id": entry.id,
        "object": "model",
        "created": int(catalog.loaded_at),
        "owned_by": "flow2api",
        "flow2api": {
            "kind": entry.kind.value,
            "available": entry.available,
            "description": entry.description,
            "providers": [r.provider for r in entry.routes],
            **capabilities,
        },
    }


async def list_models(request: web.Request) -> web.Response:
    """``GET /v1/models`` → ``{"object": "list", "data": [model, …]}`` of every enabled catalog model."""
    catalog = request.config_dict[CATALOG].current
    providers = request.config_dict[PROVIDERS]
    data = [model_object(e, catalog, providers) for e in catalog.public_entries()]
    return web.json_response({"object": "list", "data": data})


async def retrieve_model(request: web.Request) -> web.Response:
    """``GET /v1/models/{model}`` → one model object; 404 ``model_not_found`` when unknown or disabled."""
    catalog = request.config_dict[CATALOG].current
    entry = catalog.resolve(request.match_info["model"])
    return web.json_response(model_object(entry, catalog, request.config_dict[PROVIDERS]))


def setup_model_routes(app: web.Application) -> None:
    """Register the model routes on the ``/v1`` sub-app."""
    app.router.add_get("/models", list_models)
    app.router.add_get("/models/{model}", retrieve_model)
