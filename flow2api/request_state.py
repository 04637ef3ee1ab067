"""Per-request pipeline state: one dataclass under one request key (:data:`STATE`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from aiohttp import web

from flow2api.catalog import Catalog, CatalogEntry
from flow2api.errors import PermissionDeniedError

if TYPE_CHECKING:  # the stages that build these import Caller from here
    from flow2api.apikeys import ApiKeyRecord
    from flow2api.pipeline.proxy import SessionChooser
    from flow2api.pipeline.route import SurfaceRequest
    from flow2api.pipeline.selection import Selection
    from flow2api.pool import Lease


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: ``name`` is a display name ("global" for the settings key), never the key itself."""

    name: str
    key_id: int | None = None
    rpm: int = 0
    concurrency: int = 0
    models: frozenset[str] = frozenset()

    @classmethod
    def for_key(cls, record: ApiKeyRecord, catalog: Catalog | None) -> Caller:
        """The caller of a stored key. Its ``models`` are the key's ids plus every model an alias among them can
        resolve to: naming an alias (or a legacy id, ``alias_of``) allows what it stands for, so a key written
        before an id became a legacy alias keeps working (``docs/catalog.md``, "Keys limited to models")."""
        models = set(record.models)
        for model_id in record.models:
            alias = catalog.aliases.get(model_id) if catalog is not None else None
            if alias is not None:
                models |= alias.all_targets
        return cls(name=record.name, key_id=record.id, rpm=record.rpm, concurrency=record.concurrency,
                   models=frozenset(models))

    def may_use(self, model_id: str) -> bool:
        """Whether this key may use ``model_id`` (every id when the key names no models)."""
        return not self.models or model_id in self.models

    def check_model(self, model_id: str) -> None:
        """Raise ``PermissionDeniedError`` (403) when this key is limited to other models."""
        if not self.may_use(model_id):
            raise PermissionDeniedError(f"This API key may not use the model '{model_id}'.", param="model")


@dataclass(slots=True)
class RequestState:
    """What the pipeline stages learn about one request, in stage order.

    ``surface`` picks the error shape (``openai``, ``gemini``, ``plain``);
    ``caller`` is set by the auth stage; ``request`` is the surface's typed
    request model (:mod:`flow2api.api.schemas`), parsed once from the body by the
    route stage; ``catalog`` the snapshot the request resolved against
    and ``entry`` its model; ``selection`` (token selection stage) is how the job
    engine leases accounts for it and ``sessions`` (proxy routing stage) picks
    the HTTP session for a leased account; ``account_id`` is the account that
    served it (set by the job engine, for the request log); ``error`` the
    ``code: message`` of the error answer the client got (the errors stage,
    for the request log's Error column).
    """

    request_id: str
    surface: str = "plain"
    started: float = field(default_factory=time.perf_counter)
    caller: Caller | None = None
    request: SurfaceRequest | None = None
    catalog: Catalog | None = None
    entry: CatalogEntry | None = None
    selection: Selection | None = None
    sessions: SessionChooser | None = None
    account_id: int | None = None
    error: str | None = None

    def served_by(self, lease: Lease) -> None:
        """Record the account of the current attempt (the job engine's ``on_lease`` callback)."""
        self.account_id = lease.account_id

STATE: Final = web.RequestKey("state", RequestState)


def model_permission(request: web.Request) -> Callable[[str], bool]:
    """The request's key's model permission (:meth:`Caller.may_use`); every id before auth ran (admin pages)."""
    caller = request[STATE].caller
    return caller.may_use if caller is not None else EVERYONE.may_use


EVERYONE: Final = Caller(name="everyone")
"""A caller without limits, for pages that list the whole catalog (the admin playground)."""
