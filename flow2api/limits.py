"""Rate limiting behind one small interface; :class:`InProcessRateLimiter` here, the Redis one in
:mod:`flow2api.coordination.ratelimit` (chosen by ``[coordination] redis_url``).

Both count a sliding one-minute window (each admitted request is remembered for 60 s, so no burst of twice the
limit fits across a minute boundary, unlike a fixed window). A limiter's :meth:`RateLimiter.admit` is an async context manager held for
the whole request (streaming included): it refuses with ``RateLimitError``
(429, ``retry_after`` seconds → ``Retry-After``) when a requests-per-minute
window or a concurrency limit is full, for the caller's key or globally.
:class:`InFlightLimit` bounds the generation requests of this process, by count
and by the bytes of their inputs (its memory budget).
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
from flow2api.settings import RateLimitSection, ServerSection

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


class InFlightTicket:
    """One admitted generation request's share of :class:`InFlightLimit`: its bytes, grown as its inputs grow."""

    __slots__ = ("_limit", "bytes")

    def __init__(self, limit: InFlightLimit, size: int) -> None:
        self._limit = limit
        self.bytes = size

    def charge(self, size: int) -> None:
        """Add ``size`` bytes (input images about to be fetched); ``RateLimitError`` (429) past the budget."""
        self._limit.check_bytes(size, own=self.bytes)
        self._limit.bytes += size
        self.bytes += size

    def refund(self, size: int) -> None:
        """Give back ``size`` bytes of an earlier :meth:`charge` (the images were smaller than charged)."""
        size = min(size, self.bytes)
        self._limit.bytes -= size
        self.bytes -= size


class InFlightLimit:
    """Generation requests in flight in this process: at most ``[server] max_in_flight`` at once, and their
    inputs together within ``[server] max_in_flight_bytes`` (issue 18, finding 7).

    The bytes of a request are its body's ``Content-Length`` (a body without one counts as
    ``[server] max_body_bytes``, the most it may be), plus what its image URLs may bring
    (:meth:`InFlightTicket.charge`, from :mod:`flow2api.api.inputs`). A request that alone is over the
    byte budget is admitted when nothing else is in flight, so every allowed request can be served. Both
    refuse at once with ``RateLimitError`` (429 ``rate_limit_exceeded``, ``Retry-After: 1``) rather than
    queue, as LiteLLM's ``max_parallel_requests`` does: a queue would hold the bodies this limit bounds.
    ``limits`` returns the current ``[server]`` section (read per request). Per process, unlike
    ``[rate_limit]``: memory is per process.
    """

    def __init__(self, limits: Callable[[], ServerSection]) -> None:
        self._limits = limits
        self.count = 0
        self.bytes = 0

    def check_bytes(self, size: int, *, own: int = 0) -> None:
        """``RateLimitError`` when ``size`` more bytes would pass the budget while others are in flight."""
        budget = self._limits().max_in_flight_bytes
        if budget > 0 and self.bytes - own > 0 and self.bytes + size > budget:
            raise RateLimitError(
                f"The server is at its memory budget for requests in flight ({budget // (1024 * 1024)} MiB of "
                "inputs at once). Retry after 1 s.", retry_after=1.0)

    @contextlib.asynccontextmanager
    async def admit(self, size: int | None) -> AsyncIterator[InFlightTicket]:
        """Hold a place for a request of ``size`` body bytes (``None``: unknown) until the block ends."""
        limits = self._limits()
        if 0 < limits.max_in_flight <= self.count:
            raise RateLimitError(
                f"The server is serving its limit of {limits.max_in_flight} generation requests at once. "
                "Retry after 1 s.", retry_after=1.0)
        size = limits.max_body_bytes if size is None else min(size, limits.max_body_bytes)
        self.check_bytes(size)
        ticket = InFlightTicket(self, size)
        self.count += 1
        self.bytes += size
        try:
            yield ticket
        finally:
            self.count -= 1
            self.bytes -= ticket.bytes

IN_FLIGHT: Final = web.AppKey("in_flight", InFlightLimit)
IN_FLIGHT_TICKET: Final = web.RequestKey("in_flight_ticket", InFlightTicket)
