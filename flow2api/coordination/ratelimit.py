"""Per-key and global rate limits shared by every instance on one Redis (the Redis :class:`~flow2api.limits.RateLimiter`).

Keys (under ``[coordination] key_prefix``): ``rpm:<bucket>`` — a sorted set of the requests admitted in the
last 60 s, scored by admission time (a sliding window log, the same rule as the in-process limiter, so a
limit means the same whatever the backend); ``conc:<bucket>`` — the holders of requests in progress, scored
by expiry and renewed by the coordinator while the request runs (a dead instance's requests stop counting
after ``hold_ttl``). ``bucket`` is ``key:<id>`` or ``global``. :data:`ADMIT` checks all four and counts the
request in one Lua script, so concurrent admissions on several instances never pass a limit together.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable

from flow2api.coordination.pipelining import LuaScript
from flow2api.coordination.shared import NOW, RedisCoordinator
from flow2api.limits import WINDOW_S, concurrency_refusal, key_budget, window_refusal
from flow2api.request_state import Caller
from flow2api.settings import RateLimitSection

#: KEYS rpm:key, rpm:global, conc:key, conc:global; ARGV token, the four limits (0 = none), window ms, hold
#: ttl ms → {0, 0} admitted and counted, or {i, retry_after_ms}: KEYS[i] is full (nothing counted).
ADMIT = NOW + """
local token, window, ttl = ARGV[1], tonumber(ARGV[6]), tonumber(ARGV[7])
for i = 1, 2 do
  local rpm = tonumber(ARGV[i + 1])
  if rpm > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
    if redis.call('ZCARD', KEYS[i]) >= rpm then
      local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
      return {i, tonumber(oldest[2]) + window - now}
    end
  end
end
for i = 3, 4 do
  if tonumber(ARGV[i + 1]) > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    if redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[i + 1]) then return {i, 1000} end
  end
end
for i = 1, 4 do
  if tonumber(ARGV[i + 1]) > 0 then
    local score, life = now, window
    if i > 2 then score, life = now + ttl, ttl * 2 end
    redis.call('ZADD', KEYS[i], score, token)
    redis.call('PEXPIRE', KEYS[i], life)
  end
end
return {0, 0}
"""
ADMIT_SCRIPT = LuaScript.of(ADMIT)


class RedisRateLimiter:
    """Sliding one-minute windows and in-progress counts, per key and global, on ``coordinator``'s Redis.

    ``limits`` returns the current ``[rate_limit]`` section (read per request). Raises ``RateLimitError``
    (429) when a limit is full and ``CoordinationUnavailableError`` (503) when Redis is unreachable.
    """

    def __init__(self, coordinator: RedisCoordinator, limits: Callable[[], RateLimitSection]) -> None:
        self._redis = coordinator
        self._limits = limits

    @contextlib.asynccontextmanager
    async def admit(self, caller: Caller) -> AsyncIterator[None]:
        """Hold one request place for ``caller`` until the block ends (the response sent)."""
        limits = self._limits()
        bucket, key_rpm, key_concurrency = key_budget(caller, limits)
        keys = [self._redis.key(f"rpm:{bucket}"), self._redis.key("rpm:global"),
                self._redis.key(f"conc:{bucket}"), self._redis.key("conc:global")]
        budget = [key_rpm, limits.global_rpm, key_concurrency, limits.global_concurrency]
        if not any(budget):  # nothing to count: no trip to Redis (the pool still needs it for work that leases)
            yield
            return
        token = secrets.token_hex(8)
        full, retry_ms = await self._redis.run(self._redis.pipeline.script(
            ADMIT_SCRIPT, keys, [token, *budget, int(WINDOW_S * 1000), self._redis.ttl_ms]))
        if full:
            who = f"this API key ({caller.name})" if full in (1, 3) else "the gateway"
            limit = budget[full - 1]
            raise window_refusal(who, limit, retry_ms / 1000) if full <= 2 else concurrency_refusal(who, limit)
        held = [key for key, limit in zip(keys[2:], budget[2:]) if limit > 0]
        hold = self._redis.adopt(token, held) if held else None
        try:
            yield
        finally:
            if hold is not None:
                self._redis.release(hold, lambda: None)
