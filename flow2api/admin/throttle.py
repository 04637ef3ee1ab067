"""Failed-login throttling per client address (in memory).

After ``limit`` failed logins from one address within ``window`` seconds, that
address gets no further password check until the oldest of those failures
leaves the window; the refusal carries the wait (``Retry-After``). A
successful login clears the address. The address is the TCP peer
(``request.remote``): ``X-Forwarded-For`` is not trusted, because a client
could rotate it to escape the throttle; behind a reverse proxy all clients
share the proxy's budget, which errs on the safe side.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Final

from aiohttp import web


class LoginThrottle:
    """Counts failures per address; ``clock`` is injectable for tests (seconds, monotonic)."""

    def __init__(self, *, limit: int = 5, window: float = 900.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str) -> deque[float]:
        now = self._clock()
        failures = self._failures.get(address)
        if failures is None:
            return deque()
        while failures and now - failures[0] >= self.window:
            failures.popleft()
        if not failures:
            del self._failures[address]
        return failures

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try again; 0 when it may try now."""
        failures = self._recent(address)
        if len(failures) < self.limit:
            return 0.0
        return max(1.0, self.window - (self._clock() - failures[0]))

    def failed(self, address: str) -> None:
        """Record one failed login from ``address``."""
        self._recent(address)
        self._failures.setdefault(address, deque()).append(self._clock())
        if len(self._failures) > 10_000:  # bound memory under a spray of addresses: forget the stalest
            del self._failures[next(iter(self._failures))]

    def succeeded(self, address: str) -> None:
        """Forget the failures of ``address``."""
        self._failures.pop(address, None)

LOGIN_THROTTLE: Final = web.AppKey("login_throttle", LoginThrottle)
