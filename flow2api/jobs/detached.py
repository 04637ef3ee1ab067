"""Paid work finished in the background: the part of a job after upstream accepted it (issue 21 item 6).

Once a provider yielded :class:`~flow2api.plugin.Submitted`, upstream has
accepted (and charged for) the job. From then on the job engine no longer runs
the provider in the consumer's task (an HTTP handler, cancelled when its client
disconnects: ``handler_cancellation=True`` in :mod:`flow2api.cli`) but in a
:class:`Finisher` task owned by the app's :class:`DetachedJobs`. The consumer
reads the events through a queue while it stays; when it leaves, the task runs
on alone, caches the media and closes the task row ``completed`` (or
``failed``) like any job, so the admin's task list shows it with its media and a
repeated request with the same ``Idempotency-Key`` gets it.

Bounds: each such task still holds its account's lease slot (the pool's
per-account concurrency), so there are never more of them than account slots;
each step keeps the job's ``[generation] image_timeout``/``video_timeout``
deadline.

Shutdown (:func:`flow2api.jobs.engine.finishing_jobs`, :meth:`DetachedJobs.close`):
the server first lets them run up to ``[jobs] shutdown_grace`` seconds (30 by
default; aiohttp's own handler grace, gunicorn's ``graceful_timeout`` and
Kubernetes' termination grace are of that order), so a job upstream accepted
ends as it would have: media cached, row ``completed``, webhook event stored
(delivered by the next process if this one's sender has stopped). A job still
running after the grace is cancelled and its row failed
``server_shutdown`` — it is never submitted again, neither by this process nor
by the next one (chat, images and Gemini rows are not re-run at start-up; a row
a crashed process left unfinished is failed by the next heartbeat of a live
instance, :mod:`flow2api.jobs.instances`), so it is never paid twice; its
``resume`` column keeps upstream's state for the operator. Videos API jobs do
not run here: the video runner leaves them to be resumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from flow2api.errors import Flow2APIError, GenerationFailedError
from flow2api.jobs.events import JobEvent

log = logging.getLogger(__name__)

_END = None  # the queue's last item after a job that ran to its end


class DetachedJobs:
    """The set of running :class:`Finisher` tasks of one app; :meth:`close` cancels them at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``work`` in a task kept until it ends (a strong reference: asyncio keeps only weak ones)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait(self) -> None:
        """Wait until every task running now has ended (tests, drills)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self, grace: float = 0.0) -> int:
        """Shutdown only: let the tasks run up to ``grace`` seconds, then cancel the rest and wait for them (each
        settles its row on the way out); returns how many were cancelled."""
        if self._tasks and grace > 0:
            await asyncio.wait(set(self._tasks), timeout=grace)
        left = set(self._tasks)
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left)
        return len(left)


class Finisher:
    """Runs the rest of one job's ``events`` in a :class:`DetachedJobs` task; :meth:`events` relays them.

    ``on_error(exc)`` settles the row of a job that failed (a :class:`Flow2APIError`,
    the provider's); ``on_cancel(reason)`` the row of one cancelled at shutdown or ended by a bug
    (``reason`` is ``"<code>: <message>"``). Both
    run in the task, before the lease goes back (``events`` is closed last).
    """

    def __init__(
        self, jobs: DetachedJobs, events: AsyncIterator[JobEvent], *,
        on_error: Callable[[Flow2APIError], Awaitable[None]], on_cancel: Callable[[str], Awaitable[None]],
    ) -> None:
        self._queue: asyncio.Queue[JobEvent | BaseException | None] = asyncio.Queue()
        self.listening = True
        self._on_error, self._on_cancel = on_error, on_cancel
        self.task = jobs.spawn(self._drain(events))

    def detach(self) -> None:
        """The consumer left: the job runs on alone, its events are no longer kept."""
        self.listening = False
        while not self._queue.empty():
            self._queue.get_nowait()

    def _put(self, item: JobEvent | BaseException | None) -> None:
        if self.listening:
            self._queue.put_nowait(item)

    async def _drain(self, events: AsyncIterator[JobEvent]) -> None:
        try:
            async for event in events:
                self._put(event)
            self._put(_END)
        except Flow2APIError as exc:
            await self._on_error(exc)
            self._put(exc)
        except asyncio.CancelledError:
            await self._on_cancel("server_shutdown: the server stopped before the job finished")
            self._put(GenerationFailedError("The server shut down before the job finished."))
            raise
        except Exception as exc:  # noqa: BLE001 - a bug: the consumer gets it, the row must not stay in progress
            log.exception("a detached job failed")
            await self._on_cancel("internal_error: the job ended unexpectedly")
            self._put(exc)
        finally:
            await events.aclose()

    async def events(self) -> AsyncIterator[JobEvent]:
        """The job's events as they come; raises the job's error. Cancelling the reader leaves the job running."""
        while (item := await self._queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
