"""This instance's heartbeat, and the task rows left by instances gone (issue 17 item 6).

At start-up the instance writes its row of ``instances``
(:class:`~flow2api.storage.instances.InstanceRepository`: ``[server]
instance_id``, host, pid, version, start time), then refreshes ``last_seen``
every third of ``[jobs] lease_seconds`` — the cadence at which the video runner
renews its leases, so an instance stops counting as live when its video jobs
become free to take over, not before. A clean stop deletes the row, so the
others see it gone at once; after ``kill -9`` it goes stale within a lease.

Each beat (the first one at start-up included) fails the chat, Gemini and
Images API rows nobody can finish any more (:meth:`InstanceHeartbeat.fail_interrupted`):
those a previous process under this ``instance_id`` left, and those of any other
instance that is not live. A live instance's rows are left to it, so starting
(or restarting) one instance never fails the requests another is serving.
Videos API rows are not touched: the runner takes them over under leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from typing import Final

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from flow2api import __version__
from flow2api.settings import SETTINGS, SettingsHolder
from flow2api.storage import DATABASE
from flow2api.storage.batcher import describe
from flow2api.storage.instances import InstanceRecord, InstanceRepository
from flow2api.storage.tasks import VIDEOS_SURFACE

log = logging.getLogger(__name__)

INTERRUPTED = "server_restarted: the server stopped while this request was running"
PRUNE_AFTER_S = 24 * 3600
"""Rows of instances unseen this long are deleted (absent or stale, both mean "not live"; a day keeps the
table small while a recent one stays readable in the database when a stop is investigated)."""


class InstanceHeartbeat:
    """This instance's row of ``instances``, refreshed while the app runs; the live instances as of the last beat."""

    def __init__(self, repo: InstanceRepository, settings: SettingsHolder) -> None:
        self._repo = repo
        self._settings = settings
        self.instance = settings.current.server.instance_id
        """This instance's ``[server] instance_id``."""
        self.started = time.time()
        """Unix s: rows of this ``instance_id`` created before it belong to a previous process."""
        self.live: list[InstanceRecord] = []
        """The live instances as of the last beat (this one included once it has beaten), oldest start first."""
        self._task: asyncio.Task[None] | None = None

    @property
    def lease_seconds(self) -> float:
        """``[jobs] lease_seconds``: how long an instance counts as live after its last beat."""
        return self._settings.current.jobs.lease_seconds

    async def beat(self) -> None:
        """Store ``last_seen = now``, read the live instances, fail the rows of those gone, prune long-gone rows.
        Raises ``sqlalchemy.exc.SQLAlchemyError``."""
        now = time.time()
        await self._repo.beat(InstanceRecord(
            instance_id=self.instance, host=socket.gethostname(), pid=os.getpid(), version=__version__,
            started_at=self.started, last_seen=now,
        ))
        self.live = await self._repo.live(since=now - self.lease_seconds)
        await self.fail_interrupted(now)
        await self._repo.prune(before=now - PRUNE_AFTER_S)

    async def live_now(self) -> list[InstanceRecord]:
        """The instances live right now (read from the database, not the last beat's list), oldest start first.
        Raises ``sqlalchemy.exc.SQLAlchemyError``."""
        self.live = await self._repo.live(since=time.time() - self.lease_seconds)
        return self.live

    async def fail_interrupted(self, now: float | None = None) -> int:
        """Mark ``failed`` the unfinished chat, Gemini and Images API rows of instances gone (see the module
        docstring); returns how many. Their client's connection died with that instance, so no one can
        finish them. Raises ``sqlalchemy.exc.SQLAlchemyError``."""
        now = time.time() if now is None else now
        closed = await self._repo.fail_orphaned(
            self.instance, started=self.started, live_since=now - self.lease_seconds, keep_surface=VIDEOS_SURFACE,
            error=INTERRUPTED,
        )
        if closed:
            log.warning("%d task(s) of a stopped instance (or a previous process) marked failed", len(closed))
        return len(closed)

    async def start(self) -> None:
        """The first beat (its errors raised: an instance that cannot write its row does not start), then one
        every third of ``[jobs] lease_seconds``."""
        await self.beat()
        self._task = asyncio.create_task(self._keep_beating(), name=f"instance-heartbeat@{self.instance}")

    async def stop(self) -> None:
        """Stop beating and delete this instance's row (a database error is logged: the row goes stale instead)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self._repo.remove(self.instance)
        except SQLAlchemyError as exc:
            log.error("instance row not removed (it goes stale after [jobs] lease_seconds): %s", describe(exc))

    async def _keep_beating(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.beat()
            except SQLAlchemyError as exc:  # the next beat retries; two may fail before the row goes stale
                log.error("instance heartbeat not stored: %s", describe(exc))
            except Exception:  # noqa: BLE001 - a dead loop would make this live instance look gone
                log.exception("instance heartbeat failed")


async def _instance_heartbeat(app: web.Application) -> AsyncIterator[None]:
    await app[INSTANCES].start()
    yield
    await app[INSTANCES].stop()


def setup_instances(app: web.Application) -> None:
    """Create :data:`INSTANCES` and its heartbeat's cleanup context. Call right after the database's cleanup
    context is appended: the row is written before anything else starts (so its first sweep runs before this
    instance creates task rows) and deleted after everything else stopped."""
    app[INSTANCES] = InstanceHeartbeat(InstanceRepository(app[DATABASE]), app[SETTINGS])
    app.cleanup_ctx.append(_instance_heartbeat)


INSTANCES: Final = web.AppKey("instances", InstanceHeartbeat)
