"""Rate limiters behind one small interface, so another backend (Redis) can replace the in-process one.

A limiter either admits a request or raises ``RateLimitError`` with
``retry_after`` (seconds), which renders as 429 with ``Retry-After``.
"""

from __future__ import annotations

from typing import Protocol

from flow2api.request_state import Caller


class RateLimiter(Protocol):
    """Admits or refuses one request of a caller (raises ``RateLimitError``)."""

    async def admit(self, caller: Caller) -> None: ...


class NoLimits:
    """The limiter used until limits are configured: admits every request."""

    async def admit(self, caller: Caller) -> None:
        return None
