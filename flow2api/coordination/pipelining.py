"""Automatic pipelining of the coordinator's Redis commands: what many requests ask at once goes in one trip.

Profiled with 200 concurrent acquires (``bench/slot_acquire.py``, docs/performance.md), most of the time of
a lone redis-py command is not Redis: it is the client's own work per command — a connection taken from the
pool, one ``send`` system call, the reply read line by line — so a burst of requests queued behind each
other for the connections and the event loop. :class:`Pipeliner` sends every command queued during one turn of
the event loop as **one** pipeline (``transaction=False``: no ``MULTI``; each script is atomic on its own): one
connection, one write, one read of all replies. The 200 requests of a burst queue in the same turn, so they
share one trip; a lone command leaves at the next turn, with no added wait. Pipelines do not wait for each
other (each takes a connection of the pool): with one pipeline in flight at a time the burst queued behind
trip after trip (measured slower, docs/performance.md).

Scripts go by ``EVALSHA`` (the script's SHA1, computed here, loaded once on the server); a server that does
not know it (first use, after a restart or ``SCRIPT FLUSH``) answers ``NOSCRIPT`` and the command is sent
again once as ``EVAL`` with the text, which also loads it. redis-py's own pipelined ``Script`` would instead
ask ``SCRIPT EXISTS`` before every pipeline: a second trip each time.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from redis.exceptions import NoScriptError


@dataclass(frozen=True)
class LuaScript:
    """A Lua script's ``text`` and its ``sha`` (hex SHA1, the name ``EVALSHA`` calls it by)."""

    text: str
    sha: str

    @classmethod
    def of(cls, text: str) -> LuaScript:
        """The script ``text`` with its SHA1 (the digest Redis itself names scripts by)."""
        return cls(text, hashlib.sha1(text.encode()).hexdigest())


Command = tuple[Any, ...]


class Pipeliner:
    """Sends the commands of concurrent callers in pipelines of ``client``, one per event-loop turn.

    :meth:`call` and :meth:`script` return the command's reply, or raise what redis-py raises for it
    (``RedisError``, ``OSError``, ``TimeoutError``: the coordinator turns them into a 503). A failure of the
    trip itself (connection lost) fails every command of that batch; an error reply fails only its command.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._queued: list[tuple[Command, LuaScript | None, asyncio.Future[Any]]] = []
        self._flush_due = False
        self._trips: set[asyncio.Task[None]] = set()

    async def call(self, *command: Any) -> Any:
        """Run one Redis command (``"ZREM", key, member``) in the next pipeline; its reply."""
        return await self._queue(command, None)

    async def script(self, script: LuaScript, keys: list[str], args: list[Any]) -> Any:
        """Run ``script`` with ``keys`` and ``args`` (``EVALSHA``, ``EVAL`` once if the server lacks it); its reply."""
        return await self._queue(("EVALSHA", script.sha, len(keys), *keys, *args), script)

    def _queue(self, command: Command, script: LuaScript | None) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queued.append((command, script, future))
        if not self._flush_due:
            self._flush_due = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._flush_due = False
        batch, self._queued = self._queued, []
        if batch:
            task = asyncio.get_running_loop().create_task(self._trip(batch))
            self._trips.add(task)
            task.add_done_callback(self._trips.discard)

    async def _trip(self, batch: list[tuple[Command, LuaScript | None, asyncio.Future[Any]]]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for command, _, _ in batch:
            pipe.execute_command(*command)
        try:
            replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # the trip failed: every caller of the batch gets its error
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        unknown = [(item, i) for i, item in enumerate(batch) if isinstance(replies[i], NoScriptError) and item[1]]
        if unknown:  # the server lost (or never had) the script: EVAL once with the text, which loads it too
            again = self._client.pipeline(transaction=False)
            for (command, script, _), _ in unknown:
                again.execute_command("EVAL", script.text, *command[2:])  # type: ignore[union-attr]
            try:
                retried = await again.execute(raise_on_error=False)
            except Exception as exc:
                retried = [exc] * len(unknown)
            for (_, i), reply in zip(unknown, retried):
                replies[i] = reply
        for (_, _, future), reply in zip(batch, replies):
            if future.done():  # the caller gave up (cancelled); its command ran or will expire
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def close(self) -> None:
        """Send what is queued and wait for every pipeline in flight."""
        while self._trips or self._queued:
            self._flush()
            await asyncio.gather(*self._trips, return_exceptions=True)
