"""Per-request pipeline state: one dataclass under one request key (:data:`STATE`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from aiohttp import web

from flow2api.catalog import Catalog, CatalogEntry
from flow2api.errors import PermissionDeniedError

if TYPE_CHECKING:  # the stages that build these import Caller from here
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

    def check_model(self, model_id: str) -> None:
        """Raise ``PermissionDeniedError`` (403) when this key is limited to other models."""
        if self.models and model_id not in self.models:
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
