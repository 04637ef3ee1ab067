"""Which accounts may serve a catalog entry now, and whether one has a free slot (the pool's filter before a strategy).

An account is a candidate when it is enabled, has the entry's kind switched on, is not cooling down, is
above the credits floor (``[call_logic] call_mode = "credits"``) and one of the entry's routes has a
provider of the account's family whose ``can_serve`` accepts it. When none is, the reason says why, by
count, without secrets.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from flow2api.catalog import CatalogEntry, Route
from flow2api.plugin import Kind, Provider
from flow2api.pool.leases import Candidate
from flow2api.storage.accounts import AccountRecord

if TYPE_CHECKING:  # the pool imports this module
    from flow2api.pool.pool import AccountPool


def slot_limit(record: AccountRecord, kind: Kind) -> int:
    """The account's concurrency limit for ``kind`` (``-1`` = unlimited)."""
    return record.image_concurrency if kind is Kind.IMAGE else record.video_concurrency


def busy(entry: CatalogEntry, accounts: int, timeout: float) -> str:
    """The 503 message when every one of ``accounts`` that can serve ``entry`` stayed busy for ``timeout`` s."""
    return (f"all {accounts} account(s) that can serve the model '{entry.id}' are busy"
            + (f"; waited {timeout:g} s for a free slot" if timeout else ""))


def cooldown_end(record: AccountRecord, cooling: Mapping[int, float]) -> float:
    """When the account's cool-down ends (Unix s; 0 = none): its row's ``cooldown_until`` or the shared one in
    ``cooling`` (the coordinator's, :meth:`flow2api.coordination.Coordinator.cooldowns`), whichever is later."""
    return max(record.cooldown_until or 0.0, cooling.get(record.id, 0.0))


def next_cooldown_end(
    pool: AccountPool, entry: CatalogEntry, providers: Mapping[str, Provider], exclude: frozenset[int], *, now: float,
    cooling: Mapping[int, float] = MappingProxyType({}),
) -> float | None:
    """Seconds from ``now`` until the first cool-down ends among the enabled accounts (minus ``exclude``) of a
    family with a route for ``entry`` and its kind switched on; ``None`` when none is cooling down."""
    families = {p.family.name for r in entry.routes if (p := providers.get(r.provider)) is not None}
    kind = entry.kind
    ends = [
        end for record in pool.records()
        if record.id not in exclude and record.enabled and record.family in families
        and (record.image_enabled if kind is Kind.IMAGE else record.video_enabled)
        and (end := cooldown_end(record, cooling)) > now
    ]
    return min(ends) - now if ends else None


def find_candidates(
    pool: AccountPool, entry: CatalogEntry, providers: Mapping[str, Provider], exclude: frozenset[int],
    cooling: Mapping[int, float] = MappingProxyType({}),
) -> tuple[list[Candidate], str]:
    """The accounts of ``pool`` (by id, minus ``exclude``) that can serve ``entry`` with ``providers``, and
    ``""``; or no candidate and the reason (``"no account is configured"``, ``"… 2 disabled, 1 cooling down …"``).

    ``cooling`` adds the cool-downs other instances reported (account id → end, Unix s); a candidate's
    ``in_flight`` is this process's count (the pool replaces it with the coordinator's)."""
    kind = entry.kind
    now = time.time()
    logic = pool.settings.call_logic
    floor = logic.credits_floor if logic.call_mode == "credits" else 0
    found: list[Candidate] = []
    reasons: list[str] = []
    routes: list[tuple[Route, Provider]] = []
    for route in entry.routes:
        provider = providers.get(route.provider)
        if provider is not None and route.options is not None:
            routes.append((route, provider))
    if not routes:
        return [], f"no installed provider serves the model '{entry.id}'"
    records = pool.records()
    for record in records:
        if record.id in exclude:
            continue
        if not record.enabled:
            reasons.append("disabled")
            continue
        if not (record.image_enabled if kind is Kind.IMAGE else record.video_enabled):
            reasons.append(f"{kind.value} generation off")
            continue
        if cooldown_end(record, cooling) > now:
            reasons.append("cooling down after a rate limit")
            continue
        if floor and (record.credits or 0) < floor:
            reasons.append("below the credits floor")
            continue
        view = None
        for route, provider in routes:
            if provider.family.name != record.family:
                continue
            view = view or pool.view(record.id)
            if provider.can_serve(route.options, view):
                found.append(Candidate(record.id, pool.in_flight(record.id, kind), record.credits, route, provider))
                break
        else:
            reasons.append("wrong family or tier" if view else "wrong family")
    if found:
        return found, ""
    if not records:
        return [], "no account is configured"
    summary = ", ".join(f"{n} {why}" for why, n in Counter(reasons).items())
    return [], f"no account can serve the model '{entry.id}' ({summary or 'all tried'})"
