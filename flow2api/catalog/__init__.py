"""The model catalog: ``models.yaml`` → validated, immutable :class:`Catalog`, swapped atomically on reload.

Modules, one concern each::

    schema   the file's shape (pydantic, extra="forbid")
    loader   YAML with line numbers → schema → cross-checks → Catalog; CatalogError lists every problem
    model    Catalog, CatalogEntry, Route, Alias; Catalog.resolve(model_id, hints)
    hints    ResolveHints and the aspect/size rule of resolver aliases (spec §4.4); hints_from_image
    holder   CatalogHolder: current catalog, reload (file watch, SIGHUP, admin), last error for /health

The file format, aliases and reload behaviour are described in ``docs/catalog.md``.
"""

from typing import Final

from aiohttp import web

from flow2api.catalog.hints import ResolveHints, hints_from_image, image_dims
from flow2api.catalog.holder import CatalogHolder
from flow2api.catalog.loader import catalog_path, load_catalog, parse_catalog
from flow2api.catalog.model import Alias, Catalog, CatalogEntry, CatalogError, Route

__all__ = [
    "Alias",
    "CATALOG",
    "Catalog",
    "CatalogEntry",
    "CatalogError",
    "CatalogHolder",
    "ResolveHints",
    "Route",
    "catalog_path",
    "hints_from_image",
    "image_dims",
    "load_catalog",
    "parse_catalog",
]

CATALOG: Final = web.AppKey("catalog", CatalogHolder)
