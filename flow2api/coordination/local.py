"""The in-process :class:`~flow2api.coordination.Coordinator`: one instance, counts in memory (the default).

Cool-downs live in the account rows (``cooldown_until``), which the pool already reads, so :meth:`survey`
adds none; concurrent refreshes of one account are already coalesced by the pool, so the refresh lock is
free. Nothing here suspends, so a count read and the hold that follows it see the same state.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence

from flow2api.coordination import Hold, Survey, Taken, slot_key


class InProcessCoordinator:
    """Slot counts of this process only (``[coordination] redis_url`` empty)."""

    backend = "in-process"
    distributed = False
    poll_interval = 0.0

    def __init__(self) -> None:
        self._counts: dict[str, int] = defaultdict(int)
        self._tokens = itertools.count()

    async def survey(self, account_ids: Sequence[int], kind: str) -> Survey:
        """Holders of ``kind`` per account in this process; no shared cool-downs (the rows carry them)."""
        counts = {i: n for i in account_ids if (n := self._counts.get(slot_key(i, kind), 0))}
        return Survey(counts, {})

    async def take(self, account_ids: Sequence[int], kind: str, limits: Sequence[int]) -> Taken:
        """Take a ``kind`` slot of the first of ``account_ids`` held fewer times than its limit (``< 0``:
        unlimited); the counts after the step (cool-downs are in the rows: none reported here)."""
        taken: tuple[int, Hold] | None = None
        for index, (account_id, limit) in enumerate(zip(account_ids, limits)):
            key = slot_key(account_id, kind)
            if taken is None and (limit < 0 or self._counts.get(key, 0) < limit):
                self._counts[key] += 1
                taken = index, Hold(str(next(self._tokens)), (key,), limit=limit)
        survey = await self.survey(account_ids, kind)
        return Taken(None, None, survey) if taken is None else Taken(taken[0], taken[1], survey)

    def release(self, hold: Hold, then: Callable[[], None]) -> None:
        """Give the slot back at once, then ``then()``."""
        if not hold.released:
            hold.released = True
            for key in hold.keys:
                self._counts[key] -= 1
                if self._counts[key] <= 0:
                    del self._counts[key]
        then()

    def on_release(self, wake: Callable[[int, str], None], missed: Callable[[], None]) -> None:
        """Nothing to hear: no other instance shares these counts (a release here wakes the waiters itself)."""

    async def cool_down(self, account_id: int, until: float) -> None:
        """Nothing to share: the pool stores ``cooldown_until`` in the account row."""

    @contextlib.asynccontextmanager
    async def refresh_lock(self, account_id: int) -> AsyncIterator[None]:
        """Free: the pool runs one refresh task per account already."""
        yield

    async def ping(self) -> bool:
        """Always reachable."""
        return True

    async def start(self) -> None:
        """Nothing to connect."""

    async def close(self) -> None:
        """Nothing to disconnect."""
