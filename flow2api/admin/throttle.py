"""Failed-login throttling per client address and per username (in memory).

After ``limit`` failed password checks for one key (``addr:<address>`` or
``user:<username>``) within ``window`` seconds, that key gets no further
password check until the oldest of those failures leaves the window; the
refusal carries the wait (``Retry-After``). The failure is counted *before*
the password is verified (:meth:`LoginThrottle.reserve`, synchronous, so
concurrent attempts cannot all pass the check while the first ones are still
being verified) and given back when the password was right. The login form
and the current-password check of the password form share it. The address is the TCP peer
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
        """Record one failed password check for the key ``address``."""
        self._recent(address)
        self._failures.setdefault(address, deque()).append(self._clock())
        if len(self._failures) > 10_000:  # bound memory under a spray of addresses: forget the stalest
            del self._failures[next(iter(self._failures))]

    def reserve(self, *keys: str) -> float:
        """Before a password check: 0 after counting it as a failure for every key (give it back with
        :meth:`succeeded` when the password was right), or the seconds to wait when any key is throttled
        (nothing counted). No ``await`` between the check and the count: it is atomic on the event loop."""
        wait = max((self.retry_after(key) for key in keys), default=0.0)
        if wait:
            return wait
        for key in keys:
            self.failed(key)
        return 0.0

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of every key (a right password)."""
        for key in keys:
            self._failures.pop(key, None)


LOGIN_THROTTLE: Final = web.AppKey("login_throttle", LoginThrottle)
