"""Coordination between instances: slots, cool-downs and refresh locks behind one interface (issue 17, item 2).

The pool leases through a :class:`Coordinator` and never asks which one it has:

* :class:`~flow2api.coordination.local.InProcessCoordinator` (``[coordination] redis_url`` empty, the default):
  counts in this process, as one instance always did;
* :class:`~flow2api.coordination.shared.RedisCoordinator`: the same operations on Redis, so they hold across
  every instance sharing it — slot holders are members of a sorted set scored by their expiry (renewed while
  held, so a dead instance's slots free themselves), taken by one Lua script per acquire that also skips the
  accounts cooling down and reports the counts it saw (:meth:`Coordinator.take`); cool-downs are keys with a TTL;
  the credential-refresh lock is redis-py's :class:`redis.asyncio.lock.Lock` (``SET NX PX``, token release).

The rate limiter (:mod:`flow2api.limits`) follows the same choice: :func:`create_rate_limiter`. A lost Redis
raises :class:`~flow2api.errors.CoordinationUnavailableError` (503 ``coordination_unavailable``): new work is
refused, never admitted past a limit nobody can count.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from aiohttp import web

from flow2api.limits import InProcessRateLimiter, RateLimiter
from flow2api.settings import CoordinationSection, RateLimitSection

__all__ = ["COORDINATION", "Coordinator", "Hold", "Survey", "Taken", "create_coordinator", "create_rate_limiter", "slot_key"]


def slot_key(account_id: int, kind: str) -> str:
    """The name of an account's slot set for ``kind`` (``"image"`` / ``"video"``), without the key prefix."""
    return f"slots:{account_id}:{kind}"


@dataclass(frozen=True)
class Survey:
    """What :meth:`Coordinator.survey` saw: ``in_flight`` account id → live holders of the kind (absent = 0);
    ``cooling`` account id → Unix time its shared cool-down ends."""

    in_flight: dict[int, int]
    cooling: dict[int, float]


@dataclass(eq=False)
class Hold:
    """One holder in one or more holder sets (a slot, a request's concurrency places); ``token`` is unique."""

    token: str
    keys: tuple[str, ...]
    released: bool = field(default=False)
    limit: int = -1
    """The slot limit the hold was taken under (``-1``: unlimited, or not a slot); a release hands the slot on
    to a waiter of this instance only while the account's limit is not lower (:mod:`flow2api.pool.slots`)."""


@dataclass(frozen=True)
class Taken:
    """What :meth:`Coordinator.take` did: ``index`` (into the account ids asked) of the account whose slot is
    now held by ``hold``, both ``None`` when every one was full or cooling down; ``survey`` — the live holder
    counts (the new hold included) and shared cool-downs of the accounts asked, as the step saw them."""

    index: int | None
    hold: Hold | None
    survey: Survey
    free_in: float = math.inf
    """When nothing was held: seconds until the earliest live holder of an account asked that was full (not
    cooling down) expires — the moment a dead instance's holder frees its slot unless renewed first; ``inf``
    when unknown or when a slot was taken (the in-process coordinator: its holders never expire)."""


class Coordinator(Protocol):
    """What the pool and the limiter need shared between instances; every method may raise
    ``CoordinationUnavailableError`` when the backend is unreachable."""

    backend: str
    """``"in-process"`` or ``"redis"`` (shown by ``/health``)."""
    distributed: bool
    """Whether other processes share the counts (then a waiter also polls for slots freed elsewhere)."""
    poll_interval: float
    """Seconds a waiting request sleeps between looks when ``distributed`` (the fallback of :meth:`on_release`)."""

    async def survey(self, account_ids: Sequence[int], kind: str) -> Survey:
        """The live slot holders of ``kind`` per account and the accounts cooling down, in one look."""
        ...

    async def take(self, account_ids: Sequence[int], kind: str, limits: Sequence[int]) -> Taken:
        """Hold a ``kind`` slot of the first of ``account_ids`` (in order) that is not cooling down and has fewer
        live holders than its limit (``limits[i]``, ``< 0``: unlimited), and report what it saw — one atomic
        step across instances (on Redis one script call: no survey trip before it)."""
        ...

    def release(self, hold: Hold, then: Callable[[], None]) -> None:
        """Leave the hold's sets (idempotent, never raises), then call ``then`` (wake local waiters); a shared
        coordinator also tells the other instances (:meth:`on_release`)."""
        ...

    def on_release(self, wake: Callable[[int, str], None], missed: Callable[[], None]) -> None:
        """Call ``wake(account id, kind)`` when another instance released a slot of that account and kind — a
        hint to look again, at most once per release and possibly never (then the ``poll_interval`` look finds it);
        call ``missed()`` when notices may have been lost (the subscription just came up again): every waiter
        looks again once."""
        ...

    def refresh_lock(self, account_id: int) -> contextlib.AbstractAsyncContextManager[None]:
        """Held around one credential refresh of ``account_id``: one refresh at a time across instances."""
        ...

    async def ping(self) -> bool:
        """Whether the backend answers now (``/health``, ``/ready``); never raises."""
        ...

    async def start(self) -> None:
        """Connect and start renewing holders (the app's ``coordination`` cleanup context)."""
        ...

    async def close(self) -> None:
        """Stop renewing, release what is held, disconnect."""
        ...


COORDINATION: Final = web.AppKey("coordination", Coordinator)
"""The app's :class:`Coordinator` (shared by the pool, the rate limiter and ``/health``)."""


def create_coordinator(section: CoordinationSection) -> Coordinator:
    """The coordinator ``[coordination]`` asks for: Redis when ``redis_url`` is set, else in-process."""
    from flow2api.coordination.local import InProcessCoordinator

    url = section.redis_url.get_secret_value()
    if not url:
        return InProcessCoordinator()
    from flow2api.coordination.shared import RedisCoordinator  # redis-py is only imported when used

    return RedisCoordinator(url, section)


def create_rate_limiter(coordinator: Coordinator, limits: Callable[[], RateLimitSection]) -> RateLimiter:
    """The rate limiter matching ``coordinator``: Redis windows shared by every instance, or in-process ones."""
    if coordinator.backend == "redis":
        from flow2api.coordination.ratelimit import RedisRateLimiter

        return RedisRateLimiter(coordinator, limits)  # type: ignore[arg-type] - a RedisCoordinator
    return InProcessRateLimiter(limits)
