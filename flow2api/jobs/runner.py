"""Background runner of Videos API jobs: not tied to any HTTP request, bounded, resumed after a restart.

``POST /v1/videos`` writes a task row (``surface = 'videos'``, status
``queued``) with everything a submission needs in ``tasks.request`` (resolved
model, inputs saved by :class:`~flow2api.media.InputStore`, base URL) and
hands the id to :meth:`VideoJobRunner.submit`. A job made from an existing video
(remix, edits, extensions) also stores its ``operation``, the source's upstream
``source_media_id`` and the ``owner_account_id`` it must run on. At most ``[generation]
video_workers`` jobs run at once; the rest stay ``queued``.

A job runs through the job engine like any request (:meth:`flow2api.jobs.JobEngine.run`,
with the selection :func:`flow2api.pipeline.selection.select` builds for a
request too: same failover before commit), waiting up to ``[generation]
video_timeout`` seconds for a free slot; the engine records ``Submitted.resume``
in the task row.

On shutdown the running jobs are cancelled and their rows left as they are. On
start-up every unfinished, undeleted job is taken up again: one with a
``resume`` state (``Submitted``, or a ``Submitting`` checkpoint the provider
checks upstream) is resumed on the **same account** (``pool.acquire(...,
account_id=…)`` + ``provider.resume``), so upstream work is never paid twice;
one without (still queued, or interrupted before upstream accepted it) is
submitted again. A provider without ``resume`` cannot continue an accepted job:
the job fails with ``generation_failed``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import aclosing
from typing import Any, Final

from aiohttp import web

from flow2api.catalog import CATALOG
from flow2api.errors import Flow2APIError
from flow2api.jobs import JobSpec
from flow2api.jobs.engine import ENGINE
from flow2api.logs import request_id_var
from flow2api.media import VIDEO_INPUTS
from flow2api.pipeline.proxy import ProxyRouting
from flow2api.pipeline.selection import Selection, select
from flow2api.plugin import Kind
from flow2api.request_state import Caller
from flow2api.settings import SETTINGS
from flow2api.storage.tasks import FAILED, TASKS

log = logging.getLogger(__name__)

SURFACE = "videos"
INTERRUPTED = "server_restarted: the server stopped while this request was running"


class VideoJobRunner:
    """Runs queued video jobs in background tasks; :meth:`start` resumes unfinished ones, :meth:`close` stops all."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._running: set[str] = set()
        self._slots: asyncio.Semaphore | None = None
        self._started = time.time()  # rows older than this process belong to a previous one

    def counts(self) -> dict[str, int]:
        """Jobs of this process: ``queued`` (waiting for a worker) and ``running``."""
        return {"queued": len(self._jobs) - len(self._running), "running": len(self._running)}

    def active(self, task_id: str) -> bool:
        """Whether ``task_id`` is queued or running in this process."""
        return task_id in self._jobs

    async def start(self) -> int:
        """Close the rows of requests a previous process left unfinished (:meth:`fail_interrupted`), create the
        worker limit and take up every unfinished job; returns how many were taken up."""
        await self.fail_interrupted()
        self._slots = asyncio.Semaphore(self._app[SETTINGS].current.generation.video_workers)
        unfinished = await self._app[TASKS].unfinished(SURFACE)
        for record in unfinished:
            self.submit(record.id)
        if unfinished:
            log.info("video jobs: %d unfinished job(s) taken up again after start-up", len(unfinished))
        return len(unfinished)

    async def fail_interrupted(self) -> int:
        """Mark ``failed`` the chat, Gemini and Images API task rows a previous process left ``queued`` or
        ``in_progress`` (killed mid-request); returns how many. Their client's connection died with that
        process, so no one can finish them; Videos API rows are resumed instead. Rows created by this process
        (after it started) are kept."""
        closed = await self._app[TASKS].fail_interrupted(
            keep_surface=SURFACE, before=self._started, error=INTERRUPTED)
        if closed:
            log.warning("%d task(s) interrupted by the previous shutdown marked failed", closed)
        return closed

    def submit(self, task_id: str) -> None:
        """Run the job ``task_id`` in the background (idempotent while it is active)."""
        if task_id in self._jobs:
            return
        task = asyncio.create_task(self._run(task_id), name=f"video-job-{task_id}")
        self._jobs[task_id] = task
        task.add_done_callback(lambda _t: self._jobs.pop(task_id, None))

    async def close(self) -> None:
        """Cancel every job (rows stay unfinished, to be resumed by the next :meth:`start`) and wait for them."""
        tasks = list(self._jobs.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, task_id: str) -> None:
        token = request_id_var.set(task_id)
        try:
            assert self._slots is not None, "start() first"
            async with self._slots:
                self._running.add(task_id)
                await self._execute(task_id)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must not kill the runner silently nor leave the job running forever
            log.exception("video job %s crashed", task_id)
            await self._fail(task_id, "internal_error: the job crashed; see the server log")
        finally:
            self._running.discard(task_id)
            request_id_var.reset(token)

    async def _fail(self, task_id: str, error: str) -> None:
        await self._app[TASKS].update(task_id, status=FAILED, error=error)
        await self._app[VIDEO_INPUTS].delete(task_id)

    async def _execute(self, task_id: str) -> None:
        prepared = await self._prepare(task_id)
        if prepared is None:
            return
        spec, selection = prepared
        app = self._app
        try:
            async with aclosing(app[ENGINE].run(spec, selection, ProxyRouting.of(app))) as events:
                async for _ in events:
                    pass
        except Flow2APIError as exc:
            log.info("video job %s failed: %s", task_id, exc.code)
        await app[VIDEO_INPUTS].delete(task_id)

    async def _prepare(self, task_id: str) -> tuple[JobSpec, Selection] | None:
        """The job's spec and selection from its row (``None``: nothing to run, the row closed if it cannot run).
        A function of its own so the row and its ``request`` are not kept alive while a video runs (10,000 jobs)."""
        app = self._app
        record = await app[TASKS].get(task_id)
        if record is None or record.finished or record.deleted_at is not None:
            return None
        request: dict[str, Any] = record.request or {}
        caller = Caller(name=record.api_key or "global", key_id=record.api_key_id)
        # The row holds the concrete model the request resolved to; look it up as such (an id that is also an
        # alias would otherwise be re-resolved without the request's hints).
        entry = app[CATALOG].current.entries.get(record.model)
        if entry is None or not entry.enabled:
            await self._fail(task_id, f"model_not_found: the model '{record.model}' is no longer in the catalog")
            return None
        try:
            images = await app[VIDEO_INPUTS].load(task_id, list(request.get("inputs") or []))
        except FileNotFoundError:
            await self._fail(task_id, "generation_failed: the job's input image is gone from the data directory")
            return None
        resume = record.resume
        # A job on an existing video (remix, edit, extension) runs where upstream holds that video: the account
        # the API stored as its owner (flow2api.api.video_sources); a resumed job where it was accepted.
        pinned = record.account_id if resume is not None else request.get("owner_account_id")
        if resume is not None:
            log.info("video job %s: resuming on account %s", task_id, pinned)
        settings = app[SETTINGS].current
        # The same selection the token selection stage builds, without a request: the slot wait is the whole
        # video timeout (nobody waits on the answer), and a resumed job stays on its account.
        selection = select(entry, caller, settings, wait=settings.generation.video_timeout, account_id=pinned)
        spec = JobSpec(task_id=task_id, model=entry.id, kind=Kind.VIDEO, prompt=record.prompt, images=images,
                       base_url=request.get("base_url", ""), caller=caller, resume=resume, abandon_on_exit=False,
                       extend_media_id=request.get("source_media_id"), operation=request.get("operation"))
        return spec, selection

VIDEO_JOBS: Final = web.AppKey("video_jobs", VideoJobRunner)
