"""Retention: finished tasks, request-log rows and usage statistics older than ``[storage] retention_days`` are
deleted in the background, in bounded batches (issue 18, finding 6: the ``tasks`` table was never pruned).

What goes, every ``[storage] retention_interval`` seconds (default hourly; the first sweep right after start):

* **tasks** — ``completed`` and ``failed`` rows that ended before the cutoff
  (:meth:`~flow2api.storage.tasks.TaskRepository.prune_before`). Never a ``queued`` or ``in_progress`` one,
  and never a completed video the Videos API may still serve: one whose MP4 is younger than the media cache's
  ``[cache] timeout`` (with ``timeout = 0`` the cache keeps files forever, and so such a row is kept until the
  client deletes the video). Media files of deleted rows are left to the media cache's own TTL and size cap.
* **usage statistics** (``usage_daily``) — whole UTC days before the cutoff's day.
* **request log** — rows older than the cutoff or than ``[logging] request_log_days``, whichever is shorter
  (the older, log-only limit keeps its meaning), and all but the newest ``[logging] request_log_max_rows``.

``retention_days = 0`` keeps tasks and usage forever (the request log then follows its ``[logging]`` limits
alone). Each statement deletes at most :data:`BATCH_ROWS` rows and the sweep pauses :data:`PAUSE_S` between
two, so the group commit's other writes (and the database's one thread) are never held up behind a long
purge: the first sweep over a large backlog takes longer instead. Several instances on one database may all
sweep: a row deleted twice is deleted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

from aiohttp import web

from flow2api.media import MEDIA
from flow2api.settings import SETTINGS, SettingsHolder
from flow2api.storage.batcher import describe
from flow2api.storage.tasks import REQUEST_LOGS, TASKS, RequestLogRepository, TaskRepository
from flow2api.storage.usage import USAGE, UsageRepository

log = logging.getLogger(__name__)

BATCH_ROWS = 500
PAUSE_S = 0.2
DAY_S = 86400.0


async def drain(batch: Callable[[], Awaitable[int]], *, limit: int = BATCH_ROWS, pause: float = PAUSE_S) -> int:
    """Call ``batch`` (one bounded ``DELETE`` that returns its row count) until it deletes fewer than ``limit``
    rows, sleeping ``pause`` seconds between two calls; returns the total deleted."""
    total = 0
    while True:
        removed = await batch()
        total += removed
        if removed < limit:
            return total
        await asyncio.sleep(pause)


class Retention:
    """One sweep of the retention rules over the app's repositories (see the module docstring).

    ``media_ttl`` is the media cache's ``ttl`` in seconds (``0`` = files kept forever); ``settings`` is read at
    each sweep, so a changed file applies at the next one.
    """

    def __init__(self, settings: SettingsHolder, tasks: TaskRepository, logs: RequestLogRepository,
                 usage: UsageRepository, *, media_ttl: float) -> None:
        self._settings = settings
        self._tasks = tasks
        self._logs = logs
        self._usage = usage
        self._media_ttl = media_ttl

    async def sweep(self, now: float | None = None) -> dict[str, int]:
        """Delete what the rules say has expired at Unix time ``now`` (default: the present); returns the rows
        deleted per table (``tasks``, ``usage_daily``, ``request_logs``). Raises ``sqlalchemy.exc.SQLAlchemyError``
        (what was deleted before the error stays deleted)."""
        now = time.time() if now is None else now
        current = self._settings.current
        days, logs = current.storage.retention_days, current.logging
        removed = {"tasks": 0, "usage_daily": 0, "request_logs": 0}
        if days:
            cutoff = now - days * DAY_S
            servable_since = now - self._media_ttl if self._media_ttl else 0.0
            removed["tasks"] = await drain(
                lambda: self._tasks.prune_before(cutoff, BATCH_ROWS, servable_since=servable_since))
            removed["usage_daily"] = await drain(lambda: self._usage.prune_before(cutoff, BATCH_ROWS))
        log_days = min((d for d in (days, logs.request_log_days) if d), default=0)
        if log_days:
            removed["request_logs"] += await drain(lambda: self._logs.prune_before(now - log_days * DAY_S, BATCH_ROWS))
        if logs.request_log_max_rows:
            keep = logs.request_log_max_rows
            removed["request_logs"] += await drain(lambda: self._logs.prune_beyond(keep, BATCH_ROWS))
        return removed

    async def run(self) -> None:
        """Sweep now and then every ``[storage] retention_interval`` seconds, until cancelled; a failed sweep is
        logged (driver error class and first line only) and the next one tried on time."""
        while True:
            try:
                removed = await self.sweep()
            except Exception as exc:  # noqa: BLE001 - a database outage must not end the service
                log.warning("retention sweep failed: %s", describe(exc))
            else:
                if any(removed.values()):
                    log.info("retention: deleted %d task(s), %d usage row(s), %d request log row(s)",
                             removed["tasks"], removed["usage_daily"], removed["request_logs"])
            await asyncio.sleep(self._settings.current.storage.retention_interval)


RETENTION: Final = web.AppKey("retention", Retention)


def setup_retention(app: web.Application) -> None:
    """Create the app's :class:`Retention` under :data:`RETENTION` and register :func:`retention` in its
    ``cleanup_ctx`` (after the database and the media cache exist)."""
    app[RETENTION] = Retention(app[SETTINGS], app[TASKS], app[REQUEST_LOGS], app[USAGE], media_ttl=app[MEDIA].ttl)
    app.cleanup_ctx.append(retention)


async def retention(app: web.Application) -> AsyncIterator[None]:
    """The background sweep (:meth:`Retention.run`) from start-up to shutdown."""
    task = asyncio.create_task(app[RETENTION].run(), name="retention")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
