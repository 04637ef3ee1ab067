"""Background runner of Videos API jobs: not tied to any HTTP request, bounded, resumed after a restart or on
another instance.

``POST /v1/videos`` writes a task row (``surface = 'videos'``, status
``queued``) with everything a submission needs in ``tasks.request`` (resolved
model, inputs saved by :class:`~flow2api.media.InputStore` in the media store that
every instance reads, base URL) and hands the id to :meth:`VideoJobRunner.submit`. A job made from an existing video
(remix, edits, extensions) also stores its ``operation``, the source's upstream
``source_media_id`` and the ``owner_account_id`` it must run on. At most ``[generation]
video_workers`` jobs run at once; the rest stay ``queued``.

A job runs through the job engine like any request (:meth:`flow2api.jobs.JobEngine.run`,
with the selection :func:`flow2api.pipeline.selection.select` builds for a
request too: same failover before commit), waiting up to ``[generation]
video_timeout`` seconds for a free slot; the engine records ``Submitted.resume``
in the task row.

**Leases** (issue 17 item 4, :mod:`flow2api.storage.leases`): every job this
instance holds — queued in it or running — is its row's ``lease_owner``
(``[server] instance_id``) until ``lease_until``; the row is created so, and
the runner renews every held lease each third of ``[jobs] lease_seconds``. A
job whose lease was taken over meanwhile (this instance stalled past its lease)
is cancelled here. Every ``[jobs] claim_interval`` seconds, and at start-up,
the runner claims the jobs nobody holds — left by an instance that died
(``kill -9``: its leases expire) or stopped (a graceful stop releases them at
once) — and runs them. A job of a live instance is never taken.

On shutdown the running jobs are cancelled, their rows left as they are and
their leases released. A claimed job is taken up as after a restart: one with a
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
from sqlalchemy.exc import SQLAlchemyError

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
from flow2api.storage.batcher import describe
from flow2api.storage.leases import JobLeases
from flow2api.storage.tasks import FAILED, TASKS

log = logging.getLogger(__name__)

SURFACE = "videos"
CLAIM_BATCH = 500  # jobs taken per claim statement; start-up repeats it until none is left


class VideoJobRunner:
    """Runs queued video jobs in background tasks under leases; :meth:`start` takes up the jobs nobody holds,
    :meth:`close` stops all and releases their leases."""

    def __init__(self, app: web.Application, leases: JobLeases) -> None:
        self._app = app
        self._leases = leases
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._running: set[str] = set()
        self._slots: asyncio.Semaphore | None = None
        self._keeper: asyncio.Task[None] | None = None
        self.instance = app[SETTINGS].current.server.instance_id
        """This instance's ``[server] instance_id``: the ``lease_owner`` of the jobs it holds."""

    def counts(self) -> dict[str, int]:
        """Jobs of this process: ``queued`` (waiting for a worker) and ``running``."""
        return {"queued": len(self._jobs) - len(self._running), "running": len(self._running)}

    def active(self, task_id: str) -> bool:
        """Whether ``task_id`` is queued or running in this process."""
        return task_id in self._jobs

    def new_lease(self) -> tuple[str, float]:
        """``(instance id, until)``: the lease a job row this instance creates starts with (Unix seconds)."""
        return self.instance, time.time() + self._app[SETTINGS].current.jobs.lease_seconds

    async def start(self) -> int:
        """Create the worker limit, take up the jobs nobody holds (:meth:`take_up`) and start renewing and
        claiming every ``[jobs]`` interval; returns how many jobs were taken up. (The rows of requests a stopped
        instance left unfinished are closed by its heartbeat: :mod:`flow2api.jobs.instances`.)"""
        self._slots = asyncio.Semaphore(self._app[SETTINGS].current.generation.video_workers)
        taken = await self.take_up("after start-up")
        self._keeper = asyncio.create_task(self._keep_leases(), name=f"video-leases@{self.instance}")
        return taken

    async def take_up(self, why: str = "from an instance gone (lease expired or released)") -> int:
        """Renew this instance's leases, then claim every job nobody holds and run it; returns how many were
        claimed. Rows held under this ``instance_id`` but not running here (a restart with a fixed
        ``[server] instance_id``) are taken up too. Raises ``sqlalchemy.exc.SQLAlchemyError``."""
        taken = await self._renew()
        lease_s = self._app[SETTINGS].current.jobs.lease_seconds
        while True:
            now = time.time()
            claimed = await self._leases.claim(self.instance, now=now, until=now + lease_s, limit=CLAIM_BATCH)
            for task_id in claimed:
                self.submit(task_id)
            taken += len(claimed)
            if len(claimed) < CLAIM_BATCH:
                break
        if taken:
            log.info("video jobs: %d unfinished job(s) taken up again %s", taken, why)
        return taken

    async def _renew(self) -> int:
        """Extend the lease of every job held; run the held ones not running here (returns how many); cancel the
        ones taken over."""
        held = set(self._jobs)  # before the statement: each of these rows was stored held by us
        now = time.time()
        mine = await self._leases.renew(self.instance, until=now + self._app[SETTINGS].current.jobs.lease_seconds)
        idle = [task_id for task_id in mine - held if task_id not in self._jobs]  # not submitted meanwhile
        for task_id in idle:
            self.submit(task_id)
        for task_id in held - mine:
            record = await self._app[TASKS].get(task_id)
            task = self._jobs.get(task_id)
            if record is not None and not record.finished and record.lease_owner != self.instance and task:
                log.warning("video job %s: lease lost to instance %s; stopped here", task_id, record.lease_owner)
                task.cancel()
        return len(idle)

    async def _keep_leases(self) -> None:
        """Renew every third of the lease; claim every ``claim_interval``. A database error is logged and retried
        at the next tick (the leases held survive one missed renewal)."""
        next_claim = time.monotonic()
        while True:
            jobs = self._app[SETTINGS].current.jobs
            await asyncio.sleep(min(jobs.lease_seconds / 3, jobs.claim_interval))
            try:
                if time.monotonic() >= next_claim:
                    next_claim = time.monotonic() + jobs.claim_interval
                    await self.take_up()
                else:
                    await self._renew()
            except SQLAlchemyError as exc:
                log.error("video jobs: leases not renewed: %s", describe(exc))
            except Exception:  # noqa: BLE001 - a dead loop would let the leases lapse while the jobs run on here
                log.exception("video jobs: leases not renewed")

    def submit(self, task_id: str) -> None:
        """Run the job ``task_id`` in the background (idempotent while it is active)."""
        if task_id in self._jobs:
            return
        task = asyncio.create_task(self._run(task_id), name=f"video-job-{task_id}@{self.instance}")
        self._jobs[task_id] = task
        # only this task's entry: after a lost lease a new task may run the same id
        task.add_done_callback(lambda done: self._jobs.pop(task_id) if self._jobs.get(task_id) is done else None)

    async def close(self) -> None:
        """Cancel every job (rows stay unfinished, to be resumed by the next :meth:`start` or another instance),
        wait for them and release their leases, so whoever comes next takes them at once."""
        tasks = [*self._jobs.values(), *([self._keeper] if self._keeper else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            released = await self._leases.release(self.instance)
        except SQLAlchemyError as exc:  # they expire on their own after [jobs] lease_seconds
            log.error("video jobs: leases not released: %s", describe(exc))
            return
        if released:
            log.info("video jobs: %d unfinished job(s) released for another instance", released)

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
        if record.lease_owner != self.instance:  # taken over while it waited here for a worker
            log.warning("video job %s: held by instance %s, not run here", task_id, record.lease_owner)
            return None
        request: dict[str, Any] = record.request or {}
        caller = Caller(name=record.api_key or "global", key_id=record.api_key_id)
        # The row holds the concrete model the request resolved to; look it up as such (an id that is also an
        # alias would otherwise be re-resolved without the request's hints).
        entry = app[CATALOG].current.entries.get(record.model)
        if entry is None or not entry.enabled:
            await self._fail(task_id, f"model_not_found: the model '{record.model}' is no longer in the catalog")
            return None
        resume = record.resume
        try:
            images = await app[VIDEO_INPUTS].load(task_id, list(request.get("inputs") or []))
        except FileNotFoundError:
            if resume is None:
                await self._fail(task_id, "generation_failed: the job's input image is gone from the media store")
                return None
            # Upstream holds the inputs of an accepted job: resumed without them (e.g. a job queued by an older
            # version in another instance's own data directory).
            images = ()
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
