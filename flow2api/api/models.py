"""``GET /v1/models``, ``/v1/models/aliases`` and ``/v1/models/{model}``: the catalog as OpenAI model objects.

Shapes follow the OpenAI API reference "Models" (``{"object": "list",
"data": [...]}``; ``id``, ``object``, ``created``, ``owned_by``) plus one
documented extension object, ``flow2api``, per item. A request whose key comes Gemini's way
(``x-goog-api-key`` or ``?key=``, no Bearer: google-genai with its default ``api_version="v1"``) is on the
Gemini surface (:func:`flow2api.pipeline.context.surface_of`) and gets the Gemini list and model objects of
:mod:`flow2api.api.gemini` instead, its errors in Gemini's shape. Each response is built
from one catalog snapshot, so a reload while it is built never mixes two files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from flow2api.api import gemini
from flow2api.catalog import CATALOG, Alias, Catalog, CatalogEntry
from flow2api.discovery import PROVIDERS
from flow2api.errors import ModelNotFoundError
from flow2api.plugin import Provider
from flow2api.request_state import STATE


def model_object(entry: CatalogEntry, catalog: Catalog, providers: Mapping[str, Provider]) -> dict[str, Any]:
    """One ``/v1/models`` item: OpenAI's ``id``/``object``/``created``/``owned_by`` plus ``flow2api``.

    ``created`` is the catalog's load time (Unix seconds). The ``flow2api``
    extension: ``kind`` (``image``/``video``), ``is_alias`` (false),
    ``available`` (an installed provider serves it), ``description``,
    ``providers`` (route provider ids, in preference order) and the first
    available route's capabilities from its provider's ``describe``: for the
    VideoFX providers ``sub_kind``, ``aspect_ratio``, ``upsample``,
    ``min_images``/``max_images`` (``null`` = no limit), ``required_tier``,
    and for videos ``duration_seconds``.
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
            **capabilities,
            "kind": entry.kind.value,
            "is_alias": False,
            "available": entry.available,
            "description": entry.description,
            "providers": [r.provider for r in entry.routes],
        },
    }


def alias_object(alias: Alias, catalog: Catalog) -> dict[str, Any]:
    """One ``/v1/models/aliases`` item (spec §5.1): OpenAI's model fields plus ``is_alias: true`` and ``flow2api``.

    ``flow2api``: ``kind``, ``is_alias``, ``description``, ``default_aspect``,
    ``aspects`` and ``sizes`` it can pick, ``hints`` it listens to,
    ``also_concrete``, ``targets`` (aspect → size → model id) and
    ``available`` (its default target is served by an installed provider).
    """
    default = catalog.entries.get(alias.targets[alias.default_aspect]["none"])
    return {
        "id": alias.id,
        "object": "model",
        "created": int(catalog.loaded_at),
        "owned_by": "flow2api",
        "is_alias": True,
        "flow2api": {
            "kind": alias.kind.value,
            "is_alias": True,
            "available": default is not None and default.available,
            "description": alias.description,
            "default_aspect": alias.default_aspect,
            "aspects": list(alias.aspects),
            "sizes": list(alias.sizes),
            "hints": sorted(alias.hints),
            "also_concrete": alias.also_concrete,
            "targets": {aspect: dict(table) for aspect, table in alias.targets.items()},
        },
    }


async def list_models(request: web.Request) -> web.Response:
    """``GET /v1/models`` → ``{"object": "list", "data": [model, …]}`` of every enabled concrete model, in file order.

    On the Gemini surface (key as ``x-goog-api-key``/``?key=``): Gemini's ``{"models": [...]}``.
    """
    if request[STATE].surface == "gemini":
        return await gemini.list_models(request)
    catalog = request.config_dict[CATALOG].current
    providers = request.config_dict[PROVIDERS]
    data = [model_object(e, catalog, providers) for e in catalog.public_entries()]
    return web.json_response({"object": "list", "data": data})


async def list_aliases(request: web.Request) -> web.Response:
    """``GET /v1/models/aliases`` → ``{"object": "list", "data": [alias, …]}`` of every enabled resolver alias (spec §5.1).

    On the Gemini surface it is a model get of ``aliases`` (a Gemini 404: no model has that id).
    """
    if request[STATE].surface == "gemini":
        return gemini.model_response(request, "aliases")
    catalog = request.config_dict[CATALOG].current
    return web.json_response({"object": "list", "data": [alias_object(a, catalog) for a in catalog.public_aliases()]})


async def retrieve_model(request: web.Request) -> web.Response:
    """``GET /v1/models/{model}`` → one model object (a concrete id first, else an alias object).

    404 ``model_not_found`` when the id is neither an enabled model nor an enabled alias. On the Gemini
    surface (key as ``x-goog-api-key``/``?key=``): Gemini's model object, or Gemini's 404.
    """
    if request[STATE].surface == "gemini":
        return gemini.model_response(request, request.match_info["model"])
    catalog = request.config_dict[CATALOG].current
    model_id = request.match_info["model"]
    entry = catalog.entries.get(model_id)
    if entry is not None and entry.enabled:
        return web.json_response(model_object(entry, catalog, request.config_dict[PROVIDERS]))
    alias = catalog.alias(model_id)
    if alias is not None:
        return web.json_response(alias_object(alias, catalog))
    raise ModelNotFoundError(f"The model '{model_id}' does not exist", param="model")


def setup_model_routes(app: web.Application) -> None:
    """Register the model routes on the ``/v1`` sub-app.

    ``/models/aliases`` is registered before ``/models/{model}`` so the literal
    path wins (aiohttp matches routes in registration order); no model or
    alias may be called ``aliases`` for the same reason.
    """
    app.router.add_get("/models", list_models)
    app.router.add_get("/models/aliases", list_aliases)
    app.router.add_get("/models/{model}", retrieve_model)
