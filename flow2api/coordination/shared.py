"""The Redis :class:`~flow2api.coordination.Coordinator`: slots, cool-downs and refresh locks shared by instances.

Keys (all under ``[coordination] key_prefix``, default ``flow2api:``):

* ``slots:<account>:<kind>`` — a sorted set of holder tokens scored by their expiry (Redis server time, ms).
  :data:`TAKE` walks the chosen account first, then the other candidates, drops expired holders, skips an
  account cooling down, checks the count against the limit and adds the new holder to the first with room,
  and returns every count and cool-down it saw (and, when every one was full, when its earliest holder
  expires), in one Lua script: two instances never both take the last slot, requests racing for one account
  move on to the next at once, and the pool's next choice starts from these counts (no survey trip before a
  hold). This process renews its holders every ``hold_ttl / 3`` seconds; a dead instance stops renewing and
  its holders expire after ``hold_ttl``, which publishes no notice: the waiters for them look again at that
  moment (:attr:`~flow2api.coordination.Taken.free_in`).
* ``cooldown:<account>`` — the Unix time a cool-down ends, with a TTL to that moment; :data:`SURVEY` reads
  the slot counts and cool-downs of several accounts in one script call.
* ``refresh:<account>`` — redis-py's :class:`~redis.asyncio.lock.Lock` (``SET NX PX`` with a random token,
  released by a token-checking Lua script) around one credential refresh.

* ``released:<db>`` — the pub/sub channel of release notices (:mod:`.releases`): a release here wakes the
  waiters of the other instances at once; their ``slot_poll_interval`` look is the fallback.

Every command is bounded by ``[coordination] timeout``; a failure raises ``CoordinationUnavailableError``.
Commands of concurrent requests share pipelines (:class:`~flow2api.coordination.pipelining.Pipeliner`: one
trip for a burst), scripts go by ``EVALSHA``.
Scores use Redis's clock (``TIME`` inside the scripts), so instances with skewed clocks agree on expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import LockError, RedisError

from flow2api.coordination import Hold, Survey, Taken, slot_key
from flow2api.coordination.pipelining import LuaScript, Pipeliner
from flow2api.coordination.releases import ReleaseChannel, Wake
from flow2api.errors import CoordinationUnavailableError
from flow2api.settings import CoordinationSection

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Redis server time in ms, shared by the scripts (Redis ≥ 5 replicates scripts by effect, so TIME is allowed).
NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

#: KEYS n slot sets in order of preference, then their n cool-down keys; ARGV token, ttl ms, then each set's
#: limit (< 0 unlimited) → {i, n counts, n cool-down ends ('' = none), free ms}: i is the 1-based index of the
#: set now held (the first not cooling down with fewer live holders than its limit), 0 when none; the counts
#: are the live holders (expiry after now) after the step. Only the set held is pruned of expired holders:
#: counting the others read-only halves the script's time (200 of them run back to back in one pipeline). One
#: call per acquire: the pool chooses from the counts of the last one. When none is held, free ms is the time
#: until the earliest live holder of a full set (not cooling down) expires, -1 when there is none: a dead
#: instance's holder frees its slot then, and no notice says so (the waiter looks again at that moment).
TAKE = NOW + """
local n = #KEYS / 2
local ttl = tonumber(ARGV[2])
local out = {0}
local full = {}
for i = 1, n do
  local count = redis.call('ZCOUNT', KEYS[i], '(' .. now, '+inf')
  local cooling = redis.call('GET', KEYS[n + i])
  local limit = tonumber(ARGV[i + 2])
  if out[1] == 0 and not cooling and (limit < 0 or count < limit) then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    redis.call('ZADD', KEYS[i], now + ttl, ARGV[1])
    redis.call('PEXPIRE', KEYS[i], ttl * 2)
    out[1] = i
    count = count + 1
  elseif not cooling and limit >= 0 and count > 0 then
    full[#full + 1] = i
  end
  out[i + 1] = count
  out[n + i + 1] = cooling or ''
end
local free = -1
if out[1] == 0 then
  for _, i in ipairs(full) do
    local first = redis.call('ZRANGEBYSCORE', KEYS[i], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    local left = tonumber(first[2]) - now
    if free < 0 or left < free then free = left end
  end
end
out[2 * n + 2] = free
return out
"""

#: KEYS n slot sets, then n cool-down keys → n live holder counts, then n cool-down ends ('' = none).
SURVEY = NOW + """
local n = #KEYS / 2
local out = {}
for i = 1, n do out[i] = redis.call('ZCOUNT', KEYS[i], '(' .. now, '+inf') end
for i = n + 1, 2 * n do out[i] = redis.call('GET', KEYS[i]) or '' end
return out
"""

#: KEYS sets, ARGV[1] ttl ms, ARGV[i + 1] the token held in KEYS[i] → pushes each expiry ttl ms ahead. A plain
#: ZADD (not XX): after a Redis restart emptied the sets, the holders of running work are counted again.
RENEW = NOW + """
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, ARGV[i + 1])
  redis.call('PEXPIRE', key, ttl * 2)
end
return #KEYS
"""

TAKE_SCRIPT, SURVEY_SCRIPT, RENEW_SCRIPT = (LuaScript.of(text) for text in (TAKE, SURVEY, RENEW))

EXPIRY_MARGIN = 0.005
"""Seconds added to a holder's remaining life before looking again (a holder expiring *at* ``now`` is gone)."""
REFRESH_LOCK_TTL = 120.0
"""Seconds a refresh lock outlives a crashed holder (a refresh takes a few seconds)."""
REFRESH_LOCK_WAIT = 60.0
"""Seconds to wait for another instance's refresh of the same account."""


def redact_url(url: str) -> str:
    """``url`` without its password (for logs and ``/health``)."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


class RedisCoordinator:
    """Slots, cool-downs and refresh locks on the Redis at ``url`` (``[coordination]`` gives the rest)."""

    backend = "redis"
    distributed = True

    def __init__(self, url: str, section: CoordinationSection) -> None:
        self.url = redact_url(url)
        self.prefix = section.key_prefix
        self.ttl_ms = int(section.hold_ttl * 1000)
        self.poll_interval = section.slot_poll_interval
        self.timeout = section.timeout
        # One retry without back-off: a lost server must turn into a quick 503, not a client stuck retrying.
        # A blocking pool: past max_connections a command waits (up to timeout) for a connection instead of failing.
        self.client = redis.Redis.from_pool(redis.BlockingConnectionPool.from_url(
            url, max_connections=section.max_connections, timeout=section.timeout, socket_timeout=section.timeout,
            socket_connect_timeout=section.timeout, retry=Retry(NoBackoff(), 1), decode_responses=True,
        ))
        self.pipeline = Pipeliner(self.client)
        """Every command of this coordinator (and of the rate limiter) goes through it: see :mod:`.pipelining`."""
        self.releases = ReleaseChannel(url, self.prefix, section.timeout)
        """Release notices to and from the other instances (:mod:`.releases`)."""
        self._held: dict[str, Hold] = {}
        # Set unless a renewal is in flight: a release waits for that one (it may carry the released token and
        # would re-add it after the ZREM); releases do not wait for each other.
        self._not_renewing = asyncio.Event()
        self._not_renewing.set()
        self._pending: set[asyncio.Task[None]] = set()
        self._renewal: asyncio.Task[None] | None = None

    def key(self, name: str) -> str:
        """``name`` under the key prefix."""
        return self.prefix + name

    async def run(self, step: Awaitable[T]) -> T:
        """Await one Redis step; a failure becomes ``CoordinationUnavailableError``. The client's socket and
        pool timeouts (``timeout`` each) bound it, without the cost of a ``wait_for`` task per command."""
        try:
            return await step
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("coordination backend %s unreachable: %s", self.url, type(exc).__name__)
            raise CoordinationUnavailableError(
                "the coordination backend (Redis) is unreachable; new work is refused until it is back",
            ) from exc

    def adopt(self, token: str, keys: Iterable[str], *, limit: int = -1) -> Hold:
        """The hold a script took as ``token`` in ``keys`` (full Redis key names, under ``limit``), renewed from now on."""
        hold = Hold(token, tuple(keys), limit=limit)
        self._held[hold.token] = hold
        return hold

    # -- slots -------------------------------------------------------------------------------------------

    async def survey(self, account_ids: Sequence[int], kind: str) -> Survey:
        """Live holders of ``kind`` and shared cool-downs of ``account_ids``, across every instance (one script)."""
        ids = list(account_ids)
        if not ids:
            return Survey({}, {})
        keys = [self.key(slot_key(i, kind)) for i in ids] + [self.key(f"cooldown:{i}") for i in ids]
        reply = await self.run(self.pipeline.script(SURVEY_SCRIPT, keys, []))
        counts, ends = reply[:len(ids)], reply[len(ids):]
        return Survey({i: int(n) for i, n in zip(ids, counts) if int(n)},
                      {i: float(end) for i, end in zip(ids, ends) if end})

    async def take(self, account_ids: Sequence[int], kind: str, limits: Sequence[int]) -> Taken:
        """Take a ``kind`` slot of the first of ``account_ids`` not cooling down with room, atomically, and report
        the counts and cool-downs seen (one :data:`TAKE` script call)."""
        ids = list(account_ids)
        token = secrets.token_hex(8)
        slots = [self.key(slot_key(i, kind)) for i in ids]
        keys = slots + [self.key(f"cooldown:{i}") for i in ids]
        reply = await self.run(self.pipeline.script(TAKE_SCRIPT, keys, [token, self.ttl_ms, *limits]))
        index, counts, ends = int(reply[0]), reply[1:len(ids) + 1], reply[len(ids) + 1:2 * len(ids) + 1]
        survey = Survey({i: int(n) for i, n in zip(ids, counts) if int(n)},
                        {i: float(end) for i, end in zip(ids, ends) if end})
        if not index:
            free_ms = int(reply[-1])
            return Taken(None, None, survey, free_in=free_ms / 1000 + EXPIRY_MARGIN if free_ms >= 0 else math.inf)
        return Taken(index - 1, self.adopt(token, [slots[index - 1]], limit=limits[index - 1]), survey)

    def release(self, hold: Hold, then: Callable[[], None]) -> None:
        """Stop renewing ``hold`` and remove it from its sets in the background, then ``then()``; when Redis is
        unreachable the holder simply expires after ``hold_ttl`` (the slot stays taken until then)."""
        if hold.released:
            then()
            return
        hold.released = True
        self._held.pop(hold.token, None)
        task = asyncio.get_running_loop().create_task(self._remove(hold, then))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def on_release(self, wake: Wake, missed: Callable[[], None]) -> None:
        """Call ``wake(account id, kind)`` when another instance released a slot (a hint: the waiter re-takes),
        ``missed()`` when the subscription came up (again): notices sent while it was down are lost."""
        self.releases.on_release(wake, missed)

    def _notices(self, hold: Hold) -> list[str]:
        """The release notices of ``hold``: one per limited slot set (an unlimited slot never keeps anyone waiting)."""
        if hold.limit < 0:
            return []
        slots = self.key("slots:")
        return [self.releases.message(int(account), kind) for key in hold.keys if key.startswith(slots)
                for account, _, kind in [key[len(slots):].partition(":")]]

    async def _remove(self, hold: Hold, then: Callable[[], None]) -> None:
        try:
            await self._not_renewing.wait()
            # ZREMs before the PUBLISHes in the same pipeline trip: a woken waiter's TAKE runs after the removal.
            steps = [self.pipeline.call("ZREM", key, hold.token) for key in hold.keys]
            steps += [self.pipeline.call("PUBLISH", self.releases.channel, notice) for notice in self._notices(hold)]
            await asyncio.gather(*(self.run(step) for step in steps))
        except CoordinationUnavailableError:
            pass  # logged by run(); the holder expires
        finally:
            then()

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            held = list(self._held.values())
            pairs = [(key, hold.token) for hold in held for key in hold.keys]
            if not pairs:
                continue
            self._not_renewing.clear()
            try:
                await self.run(self.pipeline.script(
                    RENEW_SCRIPT, [k for k, _ in pairs], [self.ttl_ms, *(t for _, t in pairs)]))
            except CoordinationUnavailableError:
                pass  # logged by run(); renewed next time, or the holders expire
            finally:
                self._not_renewing.set()

    # -- cool-downs and refresh locks ----------------------------------------------------------------------

    async def cool_down(self, account_id: int, until: float) -> None:
        """Store ``until`` under ``cooldown:<id>`` with a TTL ending then (nothing when it is past)."""
        ttl_ms = int((until - time.time()) * 1000)
        if ttl_ms > 0:
            await self.run(self.pipeline.call("SET", self.key(f"cooldown:{account_id}"), repr(until), "PX", ttl_ms))

    @contextlib.asynccontextmanager
    async def refresh_lock(self, account_id: int) -> AsyncIterator[None]:
        """Hold ``refresh:<id>`` (waiting up to :data:`REFRESH_LOCK_WAIT` s for another instance's refresh);
        ``CoordinationUnavailableError`` when Redis is lost or the wait runs out."""
        lock = self.client.lock(self.key(f"refresh:{account_id}"), timeout=REFRESH_LOCK_TTL, sleep=0.05,
                                blocking_timeout=REFRESH_LOCK_WAIT, thread_local=False)
        try:
            acquired = await lock.acquire()  # not through run(): waiting for the other refresh may take longer
        except LockError as exc:
            raise CoordinationUnavailableError(f"account {account_id} is being refreshed elsewhere") from exc
        except (RedisError, OSError) as exc:
            raise CoordinationUnavailableError("the coordination backend (Redis) is unreachable") from exc
        if not acquired:
            raise CoordinationUnavailableError(f"account {account_id} is being refreshed elsewhere")
        try:
            yield
        finally:
            with contextlib.suppress(RedisError, OSError):
                await lock.release()  # else it expires after REFRESH_LOCK_TTL

    # -- life ----------------------------------------------------------------------------------------------

    async def ping(self) -> bool:
        """Whether Redis answers ``PING`` within ``timeout`` seconds."""
        try:
            async with asyncio.timeout(self.timeout):  # not wait_for: 3.11's drops a cancel landing with the reply
                return bool(await self.client.ping())
        except (RedisError, OSError, TimeoutError):
            return False

    async def start(self) -> None:
        """Start renewing holders; says in the log whether Redis answers (the app starts either way: ``/ready``
        reports it)."""
        self._renewal = asyncio.get_running_loop().create_task(self._renew_forever(), name="coordination-renewal")
        self.releases.start()
        reachable = await self.ping()
        (log.info if reachable else log.warning)(
            "coordination on Redis %s (%s)", self.url, "reachable" if reachable else "unreachable")

    async def close(self) -> None:
        """Stop renewing, remove this process's holders, wait for pending releases, disconnect."""
        if self._renewal is not None:
            self._renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewal
        for hold in list(self._held.values()):
            self.release(hold, lambda: None)
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self.releases.close()
        await self.pipeline.close()
        await self.client.aclose()
