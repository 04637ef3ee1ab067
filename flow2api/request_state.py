"""Per-request pipeline state: one dataclass under one request key (:data:`flow2api.keys.STATE`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from flow2api.catalog import Catalog, CatalogEntry
from flow2api.errors import Flow2APIError, PermissionDeniedError
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
    ``body`` is the parsed JSON body (parsed once by the route stage);
    ``catalog`` the snapshot the request resolved against and ``entry`` its
    model; ``lease`` and ``http`` are set by the lease and proxy stages for the
    current attempt; ``committed`` turns true when the first provider event
    reached the handler (no failover after that); ``failure`` is the error a
    handler reported inside an already-started response (for account health);
    ``prepared`` is what a handler parsed from the input on its first attempt
    (prompt, downloaded images), reused when the lease stage retries it.
    """

    request_id: str
    surface: str = "plain"
    started: float = field(default_factory=time.perf_counter)
    caller: Caller | None = None
    body: dict[str, Any] | None = None
    catalog: Catalog | None = None
    entry: CatalogEntry | None = None
    lease: Lease | None = None
    http: aiohttp.ClientSession | None = None
    committed: bool = False
    failure: Flow2APIError | None = None
    attempts: int = 0
    account_id: int | None = None
    prepared: Any = None
