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
from flow2api.request_state import STATE, model_permission


def capabilities(entry: CatalogEntry | None, providers: Mapping[str, Provider]) -> dict[str, Any]:
    """The first available route's ``describe()`` of ``entry`` (``{}`` when none is, or no entry)."""
    for route in entry.routes if entry is not None else ():
        provider = providers.get(route.provider)
        if provider is not None and route.options is not None:
            return provider.describe(route.options)
    return {}


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
    return {
        "id": entry.id,
        "object": "model",
        "created": int(catalog.loaded_at),
        "owned_by": "flow2api",
        "flow2api": {
            **capabilities(entry, providers),
            "kind": entry.kind.value,
            "is_alias": False,
            "available": entry.available,
            "description": entry.description,
            "providers": [r.provider for r in entry.routes],
        },
    }


def alias_object(alias: Alias, catalog: Catalog, providers: Mapping[str, Provider]) -> dict[str, Any]:
    """One alias as a model object (spec §5.1): OpenAI's model fields plus ``is_alias: true`` and ``flow2api``.

    ``flow2api``: the capabilities of the model it resolves to without hints (``resolves_to``; the same
    ``describe()`` fields as :func:`model_object`), then ``kind``, ``is_alias``, ``description``,
    ``default_aspect``, ``aspects`` and ``sizes`` it can pick, ``hints`` it listens to, ``also_concrete``,
    ``targets`` (aspect → size → model id), ``available`` (that default target is served by an installed
    provider) and, for a legacy id, ``alias_of`` (its one model).
    """
    target = alias.default_target
    default = catalog.entries.get(target)
    extension: dict[str, Any] = {
        **capabilities(default, providers),
        "kind": alias.kind.value,
        "is_alias": True,
        "available": default is not None and default.available,
        "description": alias.description,
        "resolves_to": target,
        "default_aspect": alias.default_aspect,
        "aspects": list(alias.aspects),
        "sizes": list(alias.sizes),
        "hints": sorted(alias.hints),
        "also_concrete": alias.also_concrete,
        "targets": {aspect: dict(table) for aspect, table in alias.targets.items()},
    }
    if alias.alias_of is not None:
        extension["alias_of"] = alias.alias_of
    return {"id": alias.id, "object": "model", "created": int(catalog.loaded_at), "owned_by": "flow2api",
            "is_alias": True, "flow2api": extension}


def item_object(item: CatalogEntry | Alias, catalog: Catalog, providers: Mapping[str, Provider]) -> dict[str, Any]:
    """:func:`model_object` or :func:`alias_object`, whichever ``item`` is."""
    if isinstance(item, Alias):
        return alias_object(item, catalog, providers)
    return model_object(item, catalog, providers)


async def list_models(request: web.Request) -> web.Response:
    """``GET /v1/models`` → ``{"object": "list", "data": [model, …]}``: what the key may use, in file order —
    enabled concrete models, then enabled aliases (``is_alias: true``, not legacy ids, not ids already listed as
    a model), the set of :meth:`~flow2api.catalog.Catalog.listing`.

    On the Gemini surface (key as ``x-goog-api-key``/``?key=``): Gemini's ``{"models": [...]}`` of the same set.
    """
    if request[STATE].surface == "gemini":
        return await gemini.list_models(request)
    catalog = request.config_dict[CATALOG].current
    providers = request.config_dict[PROVIDERS]
    data = [item_object(i, catalog, providers) for i in catalog.listing(model_permission(request))]
    return web.json_response({"object": "list", "data": data})


async def list_aliases(request: web.Request) -> web.Response:
    """``GET /v1/models/aliases`` → ``{"object": "list", "data": [alias, …]}`` of every enabled resolver alias
    the key may use (spec §5.1; legacy ids left out).

    On the Gemini surface it is a model get of ``aliases`` (a Gemini 404: no model has that id).
    """
    if request[STATE].surface == "gemini":
        return gemini.model_response(request, "aliases")
    catalog = request.config_dict[CATALOG].current
    providers = request.config_dict[PROVIDERS]
    allowed = model_permission(request)
    data = [alias_object(a, catalog, providers) for a in catalog.public_aliases() if catalog.lookup(a.id, allowed)]
    return web.json_response({"object": "list", "data": data})


async def retrieve_model(request: web.Request) -> web.Response:
    """``GET /v1/models/{model}`` → one model object (a concrete id first, else an alias object, legacy ids too).

    404 ``model_not_found`` when the id is neither an enabled model nor an enabled alias, or the key may not
    use it (:meth:`~flow2api.catalog.Catalog.lookup`). On the Gemini surface (key as
    ``x-goog-api-key``/``?key=``): Gemini's model object, or Gemini's 404.
    """
    if request[STATE].surface == "gemini":
        return gemini.model_response(request, request.match_info["model"])
    catalog = request.config_dict[CATALOG].current
    model_id = request.match_info["model"]
    item = catalog.lookup(model_id, model_permission(request))
    if item is None:
        raise ModelNotFoundError(f"The model '{model_id}' does not exist", param="model")
    return web.json_response(item_object(item, catalog, request.config_dict[PROVIDERS]))


def setup_model_routes(app: web.Application) -> None:
    """Register the model routes on the ``/v1`` sub-app.

    ``/models/aliases`` is registered before ``/models/{model}`` so the literal
    path wins (aiohttp matches routes in registration order); no model or
    alias may be called ``aliases`` for the same reason.
    """
    app.router.add_get("/models", list_models)
    app.router.add_get("/models/aliases", list_aliases)
    app.router.add_get("/models/{model}", retrieve_model)
