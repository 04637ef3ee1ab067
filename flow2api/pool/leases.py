"""What a request holds: a :class:`Lease` on one account, and the FIFO queue of requests waiting for one.

A :class:`Lease` is one account held for one attempt of one request, for the
whole response (streaming included); it implements the plugin API's
``AccountSession``. :class:`SlotWaiters` keeps requests that found every
suitable account busy in arrival order; a waiter only queues behind earlier
waiters that could use the same accounts, so a busy model never blocks another.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flow2api.catalog import Route
from flow2api.coordination import Hold
from flow2api.plugin import AccountUpdate, AccountView, Kind, Provider

if TYPE_CHECKING:
    from flow2api.pool.pool import AccountPool

Handed = tuple[int, Hold]
"""A slot handed from a release to a waiter: the account id and the coordinator's hold."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """An account that could serve a route now, with its load (what strategies compare)."""

    account_id: int
    in_flight: int
    credits: int | None
    route: Route
    provider: Provider


class AccountHandle:
    """One pool account as the plugin API's ``AccountSession`` (``view`` + ``save``)."""

    def __init__(self, pool: AccountPool, account_id: int) -> None:
        self._pool = pool
        self.account_id = account_id

    @property
    def view(self) -> AccountView:
        """The account's current snapshot (secrets decrypted)."""
        return self._pool.view(self.account_id)

    async def save(self, update: AccountUpdate) -> None:
        """Persist what a provider or family hook learned about the account."""
        await self._pool.apply_update(self.account_id, update)


class Lease(AccountHandle):
    """One account leased for one attempt of one request.

    Release it with :meth:`AccountPool.release` (the lease middleware does so in
    ``finally``). ``route`` and ``provider`` say how this account serves the model;
    ``hold`` is the slot the coordinator gave (:class:`flow2api.coordination.Hold`).
    """

    def __init__(self, pool: AccountPool, account_id: int, kind: Kind, route: Route, provider: Provider,
                 *, hold: Hold | None = None) -> None:
        super().__init__(pool, account_id)
        self.kind = kind
        self.route = route
        self.provider = provider
        self.hold = hold
        self.released = False

    def __repr__(self) -> str:
        return f"Lease(account_id={self.account_id}, kind={self.kind.value!r}, provider={self.provider.name!r})"


class SlotWaiters:
    """Requests waiting for a free slot, ordered by arrival ticket, each with the account ids it could use.

    A request joins the line at its first :meth:`wait` and keeps its place between looks until :meth:`leave`
    (the pool calls it when the request got a lease or gave up), so a later request stays behind it even
    while it is away surveying the slots. A slot released here may be handed straight to the first waiter
    that can use it (:meth:`hand_over`, shared coordinators only); ``lost`` gets a handed hold back when its
    waiter was cancelled before it could take it.
    """

    def __init__(self, lost: Callable[[Hold], None] = lambda hold: None) -> None:
        self._queued: dict[int, frozenset[int]] = {}
        self._waiters: list[tuple[int, frozenset[int], Kind | None, asyncio.Future[None]]] = []
        self._handed: dict[int, Handed] = {}  # ticket → the slot handed to it, until its wait returns
        self._lost = lost

    def blocked(self, ticket: int, usable: frozenset[int]) -> bool:
        """Whether an earlier request in line could take one of ``usable`` (then ``ticket`` must wait its turn)."""
        return any(t < ticket and ids & usable for t, ids in self._queued.items())

    async def wait(self, ticket: int, usable: frozenset[int], timeout: float, kind: Kind | None = None) -> Handed | None:
        """Wait in line until woken or ``timeout`` seconds passed (the caller then re-checks for a slot); the
        ``(account id, hold)`` of a ``kind`` slot handed over meanwhile, which the caller must take or release."""
        self._queued[ticket] = usable
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        item = (ticket, usable, kind, waiter)
        bisect.insort(self._waiters, item, key=lambda w: w[0])
        cancelled = False
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            self._waiters.remove(item)
            handed = self._handed.pop(ticket, None)  # also one handed just as the timeout struck: still ours
            if cancelled and handed is not None:
                self._lost(handed[1])
        return handed

    def hand_over(self, account_id: int, kind: Kind, hold: Hold) -> bool:
        """Give ``hold`` (a ``kind`` slot of ``account_id``) to the first waiter that could use it and holds none
        yet — also one already woken that has not run since; ``False`` when there is none."""
        for ticket, ids, wanted, waiter in self._waiters:
            if wanted is kind and account_id in ids and ticket not in self._handed:
                self._handed[ticket] = (account_id, hold)
                if not waiter.done():
                    waiter.set_result(None)
                return True
        return False

    def leave(self, ticket: int) -> None:
        """``ticket`` is out of the line: wake the later waiters it held back (they do not poll while blocked)."""
        usable = self._queued.pop(ticket, None)
        if usable is None:
            return
        for later, ids, _, waiter in self._waiters:
            if later > ticket and ids & usable and not waiter.done():
                waiter.set_result(None)

    def wake(self, account_id: int, kind: str) -> None:
        """Wake the waiters that could use a ``kind`` (``"image"`` / ``"video"``) slot of ``account_id`` to re-check
        (another instance released one); those they hold back in line are woken when they leave."""
        for _, ids, wanted, waiter in self._waiters:
            if account_id in ids and (wanted is None or wanted.value == kind) and not waiter.done():
                waiter.set_result(None)

    def wake_all(self) -> None:
        """Wake every waiter (in arrival order) to re-check; called whenever a slot or an account changes."""
        for _, _, _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
