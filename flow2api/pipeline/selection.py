"""Stage 6, token selection: the route's account-selection policy, attached to the request without leasing.

A :class:`Selection` says which accounts may serve a job and how long to wait
for one: the catalog entry (the pool takes the candidate accounts of every
family that has a route for it, and picks among them with the ``[call_logic]``
strategy), the slot wait, how many other accounts to try
(``[generation] max_retries``), and optionally one pinned account. Building it
checks the caller's model permission, so a key limited to other models gets 403
before anything is spent. The job engine (:mod:`flow2api.jobs`) leases through
it once per attempt; nothing else leases an account. The background video
runner builds its selection with the same :func:`select`, without a request.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from flow2api.catalog import CatalogEntry
from flow2api.plugin import Kind
from flow2api.request_state import STATE, Caller
from flow2api.settings import SETTINGS, Settings


@dataclass(frozen=True, slots=True)
class Selection:
    """How to lease accounts for one job: ``entry``, slot ``wait`` (s), ``max_retries``, pinned ``account_id``."""

    entry: CatalogEntry
    wait: float
    max_retries: int
    account_id: int | None = None


def select(
    entry: CatalogEntry, caller: Caller | None, settings: Settings, *, wait: float | None = None,
    account_id: int | None = None,
) -> Selection:
    """The selection for ``entry``: ``[generation]`` slot wait of its kind unless ``wait`` is given; a pinned
    ``account_id`` (a job resumed where upstream holds it) gets no failover.

    Raises ``PermissionDeniedError`` (403, ``param`` model) when ``caller``'s key may not use the model.
    """
    if caller is not None:
        caller.check_model(entry.id)
    generation = settings.generation
    if wait is None:
        wait = generation.image_slot_wait_timeout if entry.kind is Kind.IMAGE else generation.video_slot_wait_timeout
    retries = 0 if account_id is not None else generation.max_retries
    return Selection(entry=entry, wait=wait, max_retries=retries, account_id=account_id)


def select_for(request: web.Request, entry: CatalogEntry) -> Selection:
    """:func:`select` for ``request``'s caller and the current settings, stored as ``state.selection``."""
    state = request[STATE]
    state.selection = select(entry, state.caller, request.config_dict[SETTINGS].current)
    return state.selection


@web.middleware
async def selection_middleware(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    """Set ``state.selection`` for a request the route stage resolved (``state.entry``); 403 for a forbidden model."""
    entry = request[STATE].entry
    if entry is not None:
        select_for(request, entry)
    return await handler(request)
