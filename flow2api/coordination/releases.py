"""Release notices over Redis pub/sub: a slot freed on one instance wakes the requests waiting for it on the others.

Without them a request waiting for a slot that another instance holds only notices it freed at its next look
(``[coordination] slot_poll_interval``). With them every release of a limited slot also ``PUBLISH``-es
``<account id>:<kind>:<instance tag>`` on the channel ``<key_prefix>released:<db>`` (one per deployment prefix
and Redis database: pub/sub channels are global to a server, databases are not), and each instance keeps one
subscription (redis-py's asyncio :class:`~redis.asyncio.client.PubSub`) whose messages wake its local waiters
for that account and kind.

A notice is only a hint: the woken request still takes the slot through the ``TAKE`` script, so a late,
duplicated or foreign notice can never over-admit. Pub/sub delivers at most once — a notice published while
this instance's subscription is down is lost — so each time Redis confirms the subscription (the first time
and after every reconnection) every local waiter is woken once to look again (``missed``): whatever was
released while nobody listened is then visible to its ``TAKE``, and every later release is heard. Holders of
a dead instance expire rather than being released (no notice): the ``TAKE`` that finds an account full says
when its earliest holder expires, and the waiter looks again then (:mod:`flow2api.pool.leasing`). The poll
(default 1 s) stays as the last fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

RESUBSCRIBE_DELAY = 1.0
"""Seconds between attempts to (re)subscribe after the subscription failed (waiters poll meanwhile)."""
HEALTH_INTERVAL = 5.0
"""Seconds of silence after which the subscription pings Redis (a half-open connection is noticed then)."""

Wake = Callable[[int, str], None]
"""Called with ``(account id, kind)`` when another instance released a slot of that account and kind."""


class ReleaseChannel:
    """One instance's side of the release channel on the Redis at ``url``: :meth:`publish` and a subscription."""

    def __init__(self, url: str, prefix: str, timeout: float) -> None:
        # A client of its own: the subscription holds its connection for good, and must not time out while quiet.
        self.client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_keepalive=True,
                                           health_check_interval=HEALTH_INTERVAL, decode_responses=True)
        db = self.client.connection_pool.connection_kwargs.get("db", 0)
        self.channel = f"{prefix}released:{db}"
        self.tag = secrets.token_hex(4)
        """This instance's mark on its notices (its own are ignored: a local release already woke its waiters)."""
        self.subscribed = asyncio.Event()
        """Set while the subscription is up (for ``/health``-like checks and tests)."""
        self._wake: Wake = lambda account_id, kind: None
        self._missed: Callable[[], None] = lambda: None
        self._task: asyncio.Task[None] | None = None

    def message(self, account_id: int, kind: str) -> str:
        """The notice of a released ``kind`` slot of ``account_id``."""
        return f"{account_id}:{kind}:{self.tag}"

    def on_release(self, wake: Wake, missed: Callable[[], None]) -> None:
        """Call ``wake(account id, kind)`` for every notice another instance publishes (the pool's waiters), and
        ``missed()`` each time Redis confirms the subscription (notices sent before it are lost: look again)."""
        self._wake = wake
        self._missed = missed

    def _deliver(self, data: str) -> None:
        account, _, rest = data.partition(":")
        kind, _, tag = rest.partition(":")
        if tag != self.tag and account.isdigit():
            self._wake(int(account), kind)

    async def _listen_forever(self) -> None:
        warned = False  # one warning per outage, not one per second
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    while True:
                        message = await pubsub.get_message(timeout=HEALTH_INTERVAL)
                        if message is None:
                            continue
                        if message["type"] == "subscribe":  # Redis confirmed it: up from now on
                            self.subscribed.set()
                            warned = False
                            # Also after redis-py's own reconnection (it resubscribes itself): a notice sent
                            # while down is lost, so every waiter looks once; later releases are heard.
                            self._missed()
                        elif message["type"] == "message":
                            self._deliver(message["data"])
            except (RedisError, OSError) as exc:
                if not warned:
                    warned = True
                    log.warning("release notices unavailable (%s); waiters poll for slots meanwhile",
                                type(exc).__name__)
            finally:
                self.subscribed.clear()
            await asyncio.sleep(RESUBSCRIBE_DELAY)

    def start(self) -> None:
        """Subscribe in the background (and again after every failure, every :data:`RESUBSCRIBE_DELAY` s)."""
        self._task = asyncio.get_running_loop().create_task(self._listen_forever(), name="coordination-releases")

    async def close(self) -> None:
        """Unsubscribe and disconnect."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.aclose()
