"""Leasing: how the pool hands out an account's slot for one attempt and takes it back (part of :class:`AccountPool`).

A request finds the candidates (:mod:`.candidates`), asks the coordinator for a slot of one of them in the
order :class:`~flow2api.pool.slots.SlotBook` gives — one call, whatever the backend — and otherwise waits in
the FIFO line (:class:`~flow2api.pool.leases.SlotWaiters`) until a release here wakes it or hands it a slot,
or, when other instances hold slots, until their release notice (:mod:`flow2api.coordination.releases`),
the moment the earliest holder of the full accounts expires (a dead instance's: no notice is sent), or at
the latest the next ``[coordination] slot_poll_interval`` look; after the slot-wait timeout it gets 503.
The slot is the lease's until :meth:`Leasing.release`.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from flow2api.catalog import CatalogEntry
from flow2api.coordination import Coordinator, Hold
from flow2api.errors import CredentialRejectedError, Flow2APIError, NoAccountAvailableError
from flow2api.plugin import Kind, Provider
from flow2api.pool.candidates import busy, find_candidates, next_cooldown_end
from flow2api.pool.leases import Candidate, Handed, Lease, SlotWaiters
from flow2api.pool.refresh import Refresher
from flow2api.pool.slots import SlotBook, may_hand_over
from flow2api.storage.accounts import AccountRecord

if TYPE_CHECKING:
    from flow2api.pool.pool import AccountPool


class Leasing:
    """:meth:`acquire` and :meth:`release` of :class:`~flow2api.pool.pool.AccountPool`, on its accounts, line and
    coordinator (the attributes below are the pool's)."""

    _records: dict[int, AccountRecord]
    _in_flight: dict[tuple[int, Kind], int]
    _waiters: SlotWaiters
    _tickets: itertools.count[int]
    _book: SlotBook
    coordination: Coordinator
    refresher: Refresher

    async def acquire(
        self,
        entry: CatalogEntry,
        providers: Mapping[str, Provider],
        *,
        exclude: frozenset[int] = frozenset(),
        timeout: float = 0.0,
        account_id: int | None = None,
    ) -> Lease:
        """Lease an account that can serve ``entry``, refreshing its credential first if due.

        ``account_id`` restricts the choice to that one account (resuming a job
        that upstream holds in that account's project).

        Waits up to ``timeout`` seconds for a free slot. Raises
        ``NoAccountAvailableError`` (503) when no account can serve the model or
        none became free in time; the message says why, without secrets.
        """
        ticket = next(self._tickets)
        try:
            return await self._acquire(ticket, entry, providers, set(exclude), timeout, account_id)
        finally:
            self._waiters.leave(ticket)

    async def _acquire(self, ticket: int, entry: CatalogEntry, providers: Mapping[str, Provider],
                       excluded: set[int], timeout: float, account_id: int | None) -> Lease:
        pool = cast("AccountPool", self)  # this class is only ever the pool's base
        kind = entry.kind
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        coordination = self.coordination
        usable: frozenset[int] = frozenset()
        handed: Handed | None = None  # a slot a release here passed on (must be taken or given back)
        while True:
            if handed is None and usable and coordination.distributed and self._waiters.blocked(ticket, usable):
                # An earlier request here waits for the same accounts and looks first: no survey, no poll (with
                # hundreds waiting, their looks would flood Redis); its leaving or a release wakes this one.
                if deadline - loop.time() <= 0:
                    raise NoAccountAvailableError(busy(entry, len(usable), timeout))
                handed = await self._waiters.wait(ticket, usable, deadline - loop.time(), kind)
                continue
            candidates, why = find_candidates(pool, entry, providers, frozenset(excluded), self._book.cooling)
            if account_id is not None:
                candidates = [c for c in candidates if c.account_id == account_id]
                why = why or f"account {account_id} cannot serve the model '{entry.id}' now"
            if handed is not None:  # take it if its account still serves this request, else give it back
                chosen = next((c for c in candidates if c.account_id == handed[0]), None)
                hold, handed = handed[1], None
                if chosen is not None:
                    if (lease := await self._lease(chosen, kind, hold, excluded)) is not None:
                        return lease
                    continue
                coordination.release(hold, self._waiters.wake_all)
            if not candidates:
                wait = next_cooldown_end(pool, entry, providers, frozenset(excluded), now=time.time(),
                                         cooling=self._book.cooling)
                raise NoAccountAvailableError(why, retry_after=wait)
            usable = frozenset(c.account_id for c in candidates)
            # The strategy's choice first, then the others: the take moves on in the same step when another
            # request (here or on another instance) took the chosen slot since the counts were seen. Empty when
            # this process alone fills every candidate: then only a release here can help, no trip, no poll.
            order, limits = ([], []) if self._waiters.blocked(ticket, usable) else self._book.order(pool, candidates, kind)
            asked = [c.account_id for c in order]
            free_in = math.inf  # when the earliest holder of a full account asked expires, if it is not renewed
            if order:
                taken = await coordination.take(asked, kind.value, limits)
                free_in = taken.free_in
                news = self._book.learn(asked, kind, taken.survey)
                if taken.hold is not None and taken.index is not None:
                    if (lease := await self._lease(order[taken.index], kind, taken.hold, excluded)) is not None:
                        return lease
                    continue
                if news:
                    continue  # another instance cooled one down: the candidates (or the 503's reason) change
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise NoAccountAvailableError(busy(entry, len(candidates), timeout))
            if coordination.distributed and asked:
                # A notice from another instance may be lost (look again after the poll interval), and a dead
                # instance's holder expires without one (look again right then: the take sees it gone).
                remaining = min(remaining, coordination.poll_interval, free_in)
            handed = await self._waiters.wait(ticket, usable, remaining, kind)

    async def _lease(self, chosen: Candidate, kind: Kind, hold: Hold, excluded: set[int]) -> Lease | None:
        """``chosen`` leased on ``hold`` with a fresh credential; ``None`` when the refresh failed (the account
        is judged and excluded, the slot given back)."""
        self._in_flight[(chosen.account_id, kind)] += 1
        lease = Lease(cast("AccountPool", self), chosen.account_id, kind, chosen.route, chosen.provider, hold=hold)
        try:
            await self.refresher.ensure_fresh(lease.account_id)
        except Flow2APIError as exc:
            self.release(lease)
            if not isinstance(exc, CredentialRejectedError):  # already disabled by ensure_fresh
                await cast("AccountPool", self).record_failure(lease, exc)
            excluded.add(lease.account_id)
            return None
        return lease

    def release(self, lease: Lease) -> None:
        """Give the lease's slot back (idempotent): to a request here waiting for the account when the
        coordinator is shared (:func:`~flow2api.pool.slots.may_hand_over`), else to the coordinator, waking waiters."""
        if lease.released:
            return
        lease.released = True
        key = (lease.account_id, lease.kind)
        self._in_flight[key] -= 1
        if self._in_flight[key] <= 0:
            del self._in_flight[key]
        hold = lease.hold
        if hold is None:
            self._waiters.wake_all()
        elif not (self.coordination.distributed and may_hand_over(self._records.get(lease.account_id), lease.kind, hold)
                  and self._waiters.hand_over(lease.account_id, lease.kind, hold)):
            self.coordination.release(hold, self._waiters.wake_all)  # wakes once the slot is free everywhere

