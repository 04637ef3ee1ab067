"""Rate limiting behind one small interface; :class:`InProcessRateLimiter` here, the Redis one in
:mod:`flow2api.coordination.ratelimit` (chosen by ``[coordination] redis_url``).

Both count a sliding one-minute window (each admitted request is remembered for 60 s, so no burst of twice the
limit fits across a minute boundary, unlike a fixed window). A limiter's :meth:`RateLimiter.admit` is an async context manager held for
the whole request (streaming included): it refuses with ``RateLimitError``
(429, ``retry_after`` seconds → ``Retry-After``) when a requests-per-minute
window or a concurrency limit is full, for the caller's key or globally.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from typing import Final, Protocol

from aiohttp import web

from flow2api.errors import RateLimitError
from flow2api.request_state import Caller
from flow2api.settings import RateLimitSection

WINDOW_S = 60.0


class RateLimiter(Protocol):
    """Admits a caller's request for its duration, or raises ``RateLimitError``."""

    def admit(self, caller: Caller) -> contextlib.AbstractAsyncContextManager[None]: ...


class InProcessRateLimiter:
    """Sliding one-minute windows and in-flight counters, per key and global, in this process.

    ``limits`` returns the current ``[rate_limit]`` section (read per request,
    so admin changes apply at once); ``clock`` is injectable for tests.
    """

    def __init__(self, limits: Callable[[], RateLimitSection], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._clock = clock
        self._windows: dict[str, deque[float]] = defaultdict(deque)
        self._in_flight: dict[str, int] = defaultdict(int)

    def _check_window(self, bucket: str, rpm: int, now: float, who: str) -> None:
        if rpm <= 0:
            return
        window = self._windows[bucket]
        while window and window[0] <= now - WINDOW_S:
            window.popleft()
        if len(window) >= rpm:
            raise window_refusal(who, rpm, window[0] + WINDOW_S - now)

    def _check_concurrency(self, bucket: str, limit: int, who: str) -> None:
        if limit > 0 and self._in_flight[bucket] >= limit:
            raise concurrency_refusal(who, limit)

    @contextlib.asynccontextmanager
    async def admit(self, caller: Caller) -> AsyncIterator[None]:
        """Hold one request slot for ``caller``; raises ``RateLimitError`` without counting anything when refused."""
        limits = self._limits()
        now = self._clock()
        key_bucket, key_rpm, key_concurrency = key_budget(caller, limits)
        self._check_window(key_bucket, key_rpm, now, f"this API key ({caller.name})")
        self._check_window("global", limits.global_rpm, now, "the gateway")
        self._check_concurrency(key_bucket, key_concurrency, f"this API key ({caller.name})")
        self._check_concurrency("global", limits.global_concurrency, "the gateway")
        for bucket, rpm in ((key_bucket, key_rpm), ("global", limits.global_rpm)):
            if rpm > 0:
                self._windows[bucket].append(now)
        self._in_flight[key_bucket] += 1
        self._in_flight["global"] += 1
        try:
            yield
        finally:
            self._in_flight[key_bucket] -= 1
            self._in_flight["global"] -= 1


def key_budget(caller: Caller, limits: RateLimitSection) -> tuple[str, int, int]:
    """``(bucket, rpm, concurrency)`` of ``caller``'s key: a stored key's own limits, or ``[rate_limit]
    settings_key_*`` for the settings' ``[global] api_key`` (0 = unlimited)."""
    bucket = f"key:{caller.key_id if caller.key_id is not None else caller.name}"
    if caller.key_id is None:
        return bucket, limits.settings_key_rpm, limits.settings_key_concurrency
    return bucket, caller.rpm, caller.concurrency


def window_refusal(who: str, rpm: int, retry_after: float) -> RateLimitError:
    """The 429 for a full requests-per-minute window of ``who``, retry after ``retry_after`` s (at least 1)."""
    return RateLimitError(
        f"Rate limit reached for {who}: {rpm} requests per minute. Retry after {retry_after:.0f} s.",
        retry_after=max(retry_after, 1.0),
    )


def concurrency_refusal(who: str, limit: int) -> RateLimitError:
    """The 429 for ``who`` running ``limit`` requests already."""
    return RateLimitError(f"Too many concurrent requests for {who}: at most {limit} at once.", retry_after=1.0)

RATE_LIMITER: Final = web.AppKey("rate_limiter", RateLimiter)
