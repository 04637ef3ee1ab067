"""The in-process :class:`~flow2api.coordination.Coordinator`: one instance, counts in memory (the default).

Cool-downs live in the account rows (``cooldown_until``), which the pool already reads, so :meth:`cooldowns`
adds nothing; concurrent refreshes of one account are already coalesced by the pool, so the refresh lock is
free. Nothing here suspends, so a count read and the hold that follows it see the same state.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

from flow2api.coordination import Hold


class InProcessCoordinator:
    """Slot counts of this process only (``[coordination] redis_url`` empty)."""

    backend = "in-process"
    distributed = False
    poll_interval = 0.0

    def __init__(self) -> None:
        self._counts: dict[str, int] = defaultdict(int)
        self._tokens = itertools.count()

    async def in_flight(self, keys: Sequence[str]) -> list[int]:
        """Holders of each slot set in ``keys``, in this process."""
        return [self._counts.get(key, 0) for key in keys]

    async def try_hold(self, key: str, limit: int) -> Hold | None:
        """Take a slot of ``key`` if fewer than ``limit`` are held (``limit < 0``: unlimited)."""
        if 0 <= limit <= self._counts.get(key, 0):
            return None
        self._counts[key] += 1
        return Hold(str(next(self._tokens)), (key,))

    def release(self, hold: Hold, then: Callable[[], None]) -> None:
        """Give the slot back at once, then ``then()``."""
        if not hold.released:
            hold.released = True
            for key in hold.keys:
                self._counts[key] -= 1
                if self._counts[key] <= 0:
                    del self._counts[key]
        then()

    async def cooldowns(self, account_ids: Iterable[int]) -> dict[int, float]:
        """Nothing beyond the rows' ``cooldown_until``."""
        return {}

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
