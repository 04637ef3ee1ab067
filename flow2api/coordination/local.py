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

from flow2api.coordination import Hold, Survey, slot_key


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

    async def try_hold(self, keys: Sequence[str], limits: Sequence[int]) -> tuple[int, Hold] | None:
        """Take a slot of the first of ``keys`` held fewer times than its limit (``< 0``: unlimited)."""
        for index, (key, limit) in enumerate(zip(keys, limits)):
            if limit < 0 or self._counts.get(key, 0) < limit:
                self._counts[key] += 1
                return index, Hold(str(next(self._tokens)), (key,))
        return None

    def release(self, hold: Hold, then: Callable[[], None]) -> None:
        """Give the slot back at once, then ``then()``."""
        if not hold.released:
            hold.released = True
            for key in hold.keys:
                self._counts[key] -= 1
                if self._counts[key] <= 0:
                    del self._counts[key]
        then()

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
