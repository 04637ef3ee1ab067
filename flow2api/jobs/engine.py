"""The job engine: one way to run a provider job for every surface and for background video jobs.

A surface (chat completions, Gemini, each image of an Images API fan-out, the
background Videos API runner) describes its job as a :class:`JobSpec` and calls
:meth:`JobEngine.run` with the request's :class:`~flow2api.pipeline.selection.Selection`
(token selection stage) and session chooser (proxy routing stage). The engine
owns everything from there:

* the task row: created on the first attempt (``in_progress`` on the leased
  account, one write) when the spec asks for it, else taken from ``queued`` to
  ``in_progress``; closed ``completed`` with the result URLs, ``failed`` with
  ``"<code>: <message>"``, or ``failed`` with ``client_disconnected`` when the
  consumer stops early before upstream accepted the job (unless the spec keeps
  the row resumable);
* paid work: from the provider's ``Submitted`` on, the job runs in a task of the
  engine's (:mod:`flow2api.jobs.detached`), so a consumer that leaves (a client
  that disconnects) no longer cancels it: it finishes and its row is closed;
* the leased attempts with failover, through
  :func:`flow2api.pool.failover.failover_events` (the one retry loop): an
  account-specific, retryable error before the commit point moves the job to
  another account (the row stays ``queued`` meanwhile, so a poller never sees a
  failure that is retried);
* the commit point: :class:`~flow2api.jobs.events.Accepted` at the provider's
  first event other than ``Submitting``; after it the error is raised to the
  surface, which puts it in its stream;
* checkpoints: ``Submitting``/``Submitted.resume`` stored before the provider
  continues (docs/reliability.md), ``provider.resume`` for a resumed job;
* ``[generation] image_timeout``/``video_timeout``, progress writes (at most one
  a second), media caching (clients only see ``/media/`` URLs), credits, usage
  statistics and metrics.

The handler is never invoked twice: failover happens inside :meth:`JobEngine.run`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import aiohttp
from aiohttp import web

from flow2api.discovery import PROVIDERS
from flow2api.errors import (
    Flow2APIError,
    GenerationFailedError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeoutError,
)
from flow2api.jobs.detached import DetachedJobs, Finisher
from flow2api.jobs.events import ACCEPTED, JobEvent, Result
from flow2api.jobs.urls import media_url
from flow2api.media import MEDIA, MediaStore
from flow2api.metrics import METRICS, Metrics
from flow2api.pipeline.proxy import SessionChooser
from flow2api.pipeline.selection import Selection
from flow2api.plugin import Call, InputImage, Job, Kind, MediaOutput, Progress, Provider, Submitted, Submitting, Usage
from flow2api.pool import POOL, AccountPool, Lease
from flow2api.pool.failover import failover_events, fails_over
from flow2api.request_state import Caller
from flow2api.settings import SETTINGS, SettingsHolder
from flow2api.storage.tasks import FAILED, QUEUED, RUNNING, SUCCEEDED, TASKS, TaskRepository
from flow2api.storage.usage import USAGE, UsageRepository

log = logging.getLogger(__name__)

PROGRESS_WRITE_INTERVAL = 1.0  # seconds between task-row progress writes; a video reports every poll


@dataclass(frozen=True, slots=True)
class Collaborators:
    """What the engine works with, built once from the app (:meth:`of`)."""

    tasks: TaskRepository
    pool: AccountPool
    providers: Mapping[str, Provider]
    media: MediaStore
    usage: UsageRepository
    metrics: Metrics
    settings: SettingsHolder

    @classmethod
    def of(cls, app: web.Application) -> Collaborators:
        """The collaborators of a built app (its typed keys)."""
        return cls(tasks=app[TASKS], pool=app[POOL], providers=app[PROVIDERS], media=app[MEDIA],
                   usage=app[USAGE], metrics=app[METRICS], settings=app[SETTINGS])


@dataclass(frozen=True, slots=True)
class NewRow:
    """A task row the engine creates on the first attempt: the ``surface`` it belongs to and its ``request`` column."""

    surface: str
    request: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job as a surface describes it (the provider's :class:`~flow2api.plugin.Job` minus the route's options).

    ``task_id`` is the task row (and the job's ``request_id``): ``<request id>``
    for chat and Gemini, ``<request id>-<index>`` for images, ``video_<hex>``
    for videos. ``new_row`` creates the row on the first attempt (``None``: it
    exists already, ``queued``). ``base_url`` prefixes media links. ``resume``
    continues an accepted job (``provider.resume``; pin the account in the
    selection). ``abandon_on_exit``: a consumer that stops early (client gone)
    fails the row with ``client_disconnected``; ``False`` leaves it to be resumed.
    ``operation`` (``edit`` for a video edit) overrides the one read from the
    inputs (:attr:`operation_name`).
    """

    task_id: str
    model: str
    kind: Kind
    prompt: str
    images: tuple[InputImage, ...] = ()
    extend_media_id: str | None = None
    base_url: str = ""
    caller: Caller | None = None
    new_row: NewRow | None = None
    resume: Mapping[str, Any] | None = None
    abandon_on_exit: bool = True
    operation: str | None = None

    @property
    def operation_name(self) -> str:
        """What the job asks of a route: ``operation`` if set, else ``extend`` / ``images`` / ``text`` by its inputs."""
        if self.operation:
            return self.operation
        return "extend" if self.extend_media_id else "images" if self.images else "text"

    def job(self, lease: Lease) -> Job:
        """The provider job for one attempt: the lease's route supplies the options."""
        return Job(model=self.model, kind=self.kind, prompt=self.prompt, options=lease.route.options,
                   images=self.images, n=1, request_id=self.task_id, extend_media_id=self.extend_media_id,
                   operation=self.operation_name)


@dataclass(slots=True)
class _Run:
    """Mutable facts of one run shared by its attempts: whether the row exists, whether the attempt committed."""

    row: bool
    committed: bool = False
    submitted: bool = False
    retries: int = 0
    started: float = field(default_factory=time.perf_counter)


class JobEngine:
    """Runs jobs: see the module docstring. One per app (:data:`ENGINE`)."""

    def __init__(self, parts: Collaborators) -> None:
        self.parts = parts
        self.detached = DetachedJobs()  # paid jobs finishing in the background; closed by finishing_jobs

    async def run(
        self, spec: JobSpec, selection: Selection, sessions: SessionChooser, *,
        on_lease: Callable[[Lease], None] | None = None,
    ) -> AsyncIterator[JobEvent]:
        """Run ``spec`` on accounts leased through ``selection``; yields ``Accepted``, ``Progress``, ``Result``.

        ``sessions(lease)`` is the HTTP session of an attempt (proxy routing);
        ``on_lease(lease)`` is told the account of every attempt (request log).
        Raises ``NoAccountAvailableError`` (503), ``PermissionDeniedError`` is
        raised earlier by the selection; the provider's :class:`Flow2APIError`
        unchanged; ``UpstreamTimeoutError`` past the kind's time limit;
        ``UpstreamProtocolError`` when the job ends without media;
        ``GenerationFailedError`` when a resumed job's provider cannot resume.
        The consumer must close the iterator when it stops early (``aclose``);
        once upstream accepted the job (``Submitted``) that, or cancelling the
        consumer, leaves the job finishing in :attr:`detached`.
        """
        state = _Run(row=spec.new_row is None, retries=selection.max_retries)
        parts = self.parts
        operation = spec.operation_name
        if operation == "extend" and "extend" not in selection.entry.operations and "edit" in selection.entry.operations:
            operation = "edit"  # a source video (chat's extend://<id>) sent to an edit model asks for an edit
            spec = replace(spec, operation=operation)
        try:
            entry = selection.entry.for_operation(operation)  # 400 before anything when no route can
        except Flow2APIError as exc:
            if state.row:  # a queued row (Videos API) ends failed rather than waiting forever
                await self._close_failed(spec.task_id, exc)
            raise

        def attempt(lease: Lease, number: int) -> AsyncIterator[JobEvent]:
            state.committed = False
            if on_lease is not None:
                on_lease(lease)
            return self._attempt(spec, state, lease, sessions(lease), number)

        events = failover_events(
            parts.pool, entry, parts.providers, attempt, max_retries=selection.max_retries,
            wait=selection.wait, committed=lambda: state.committed, account_id=selection.account_id,
        )
        finished = False
        finisher: Finisher | None = None
        try:
            while not state.submitted:
                try:
                    event = await anext(events)
                except StopAsyncIteration:
                    break
                yield event
            else:
                # Upstream accepted (and charged for) the job: the rest runs in a task of ours, which a client
                # that leaves (its handler cancelled) does not cancel (issue 21 item 6, the original's #144).
                finisher = self._finisher(spec, state, events)
                async for event in finisher.events():
                    yield event
            finished = True
        except Flow2APIError as exc:
            finished = True
            if state.row and finisher is None:  # a finisher settled its row itself
                await self._close_failed(spec.task_id, exc)
            raise
        finally:
            if finisher is None and not finished and state.submitted:
                finisher = self._finisher(spec, state, events)  # left between the submit and our next step
            if finisher is not None:
                finisher.detach()  # no-op after the end; otherwise the task finishes the job and its row
            else:
                # The row is settled before the lease goes back (closing the loop releases it): a freed account
                # never has an ``in_progress`` row of a client that left. _abandon never raises.
                if not finished and state.row and spec.abandon_on_exit:
                    await self._abandon(spec.task_id)
                await events.aclose()

    def _finisher(self, spec: JobSpec, state: _Run, events: AsyncIterator[JobEvent]) -> Finisher:
        """The rest of ``events`` in a task of :attr:`detached`, settling the row itself on its way out."""

        async def failed(exc: Flow2APIError) -> None:
            if state.row:
                await self._close_failed(spec.task_id, exc)

        async def cancelled(reason: str) -> None:
            if state.row and spec.abandon_on_exit:
                await self._abandon(spec.task_id, reason)

        return Finisher(self.detached, events, on_error=failed, on_cancel=cancelled)

    async def _attempt(
        self, spec: JobSpec, run: _Run, lease: Lease, http: aiohttp.ClientSession, number: int,
    ) -> AsyncIterator[JobEvent]:
        """One attempt on ``lease``: row to ``in_progress``, provider events → job events, row closed."""
        parts = self.parts
        tasks = parts.tasks
        provider = lease.provider
        if not run.row:
            run.row = True  # before the write: a consumer cancelled during it still closes the row
            caller = spec.caller
            assert spec.new_row is not None
            await tasks.create(
                spec.task_id, kind=spec.kind.value, model=spec.model, prompt=spec.prompt,
                api_key=caller.name if caller else None, api_key_id=caller.key_id if caller else None,
                surface=spec.new_row.surface, request=dict(spec.new_row.request),
                status=RUNNING, account_id=lease.account_id,
            )
        else:
            await tasks.update(spec.task_id, status=RUNNING, account_id=lease.account_id)
        call = Call(job=spec.job(lease), account=lease, http=http)
        # A provider without long-running jobs inherits ProviderBase.resume, which fails the job (GenerationFailedError).
        source = provider.resume(call, dict(spec.resume)) if spec.resume is not None else provider.generate(call)
        generation = parts.settings.current.generation
        limit = generation.video_timeout if spec.kind is Kind.VIDEO else generation.image_timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        started = time.perf_counter()
        results: list[Result] = []
        # Nobody polls an image's row while it runs (the answer carries it): its progress is stored only when it
        # runs longer than a second. A video's row is polled (Videos API), so its first progress is stored at once.
        last_write = time.monotonic() if spec.kind is Kind.IMAGE else 0.0
        checkpoint = False
        try:
            while True:
                try:
                    if loop.time() >= deadline:
                        raise TimeoutError
                    # One timeout scope per step, entered and left in the task that runs the step: steps may run in
                    # different tasks (SSE keep-alive). Unlike wait_for it creates no task per event.
                    async with asyncio.timeout_at(deadline):
                        event = await anext(source)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise UpstreamTimeoutError(f"The {spec.kind.value} job did not finish within {limit:g} s.") from None
                if isinstance(event, Submitting):
                    # Stored before the provider runs on to its submit: a crash after the submit left resumes the
                    # job from here, and the provider asks upstream whether the submit arrived (docs/reliability.md).
                    await tasks.record_resume(spec.task_id, dict(event.resume))
                    checkpoint = True
                    continue
                if isinstance(event, Submitted):
                    # Upstream has accepted (and charged for) the job: store where to resume it before anything
                    # else, so a crash from here on resumes it instead of submitting it again (crash drill).
                    await tasks.record_resume(spec.task_id, dict(event.resume))
                    run.submitted = True
                if not run.committed:
                    run.committed = True
                    yield ACCEPTED
                if isinstance(event, Progress):
                    now = time.monotonic()
                    if event.percent is not None and now - last_write >= PROGRESS_WRITE_INTERVAL:
                        last_write = now
                        await tasks.update(spec.task_id, progress=max(0.0, min(99.0, event.percent)))
                    yield event
                elif isinstance(event, MediaOutput):
                    result = await self._cache(http, event, spec.base_url)
                    results.append(result)
                    yield result
                elif isinstance(event, Usage) and event.remaining_credits is not None:
                    await parts.pool.update(lease.account_id, credits=event.remaining_credits)
            if not results:
                raise UpstreamProtocolError("The provider finished without producing any media.")
        except Flow2APIError as exc:
            retried = number <= run.retries and fails_over(exc, committed=run.committed)
            if checkpoint and retried:
                await tasks.record_resume(spec.task_id, None)  # the next account submits afresh, not from here
            self._account(lease, spec, started, exc=exc)  # queued first: shares the row's batch (one trip)
            await tasks.update(spec.task_id, status=QUEUED if retried else FAILED, error=f"{exc.code}: {exc.message}")
            raise
        finally:
            await source.aclose()
        self._account(lease, spec, started, outputs=len(results))  # queued first: shares the row's batch
        await tasks.update(
            spec.task_id, status=SUCCEEDED, progress=100,
            result={"urls": [r.url for r in results], "names": [r.name for r in results],
                    "mime_types": [r.mime_type for r in results], "upstream_ids": [r.upstream_id for r in results]},
        )

    def _account(
        self, lease: Lease, spec: JobSpec, started: float, *, outputs: int = 0, exc: Flow2APIError | None = None,
    ) -> None:
        """Usage statistics and metrics of one finished attempt (queued in the group commit, not awaited)."""
        duration = time.perf_counter() - started
        metrics, caller = self.parts.metrics, spec.caller
        metrics.observe_generation(spec.kind.value, "failed" if exc else "succeeded", duration, outputs)
        if isinstance(exc, UpstreamError):
            metrics.upstream_errors.labels(type(exc).__name__).inc()
        self.parts.usage.record(
            account_id=lease.account_id, api_key_id=caller.key_id if caller else None,
            api_key=caller.name if caller else None, model=spec.model, kind=spec.kind.value, ok=exc is None,
            outputs=outputs, duration_ms=duration * 1000,
        )

    async def _cache(self, http: aiohttp.ClientSession, event: MediaOutput, base: str) -> Result:
        """Store one output in the media cache (bytes, or streamed from its upstream URL) → :class:`Result`."""
        media = self.parts.media
        if event.data is not None:
            stored = await media.store_bytes(event.data, event.mime_type)
        elif event.url:
            stored = await media.store_url(http, event.url, headers=event.headers, mime_type=event.mime_type)
        else:
            raise UpstreamProtocolError("The provider produced a media output with neither bytes nor URL.")
        return Result(
            kind=event.kind, url=media_url(self.parts.settings, media, base, stored.name), name=stored.name,
            mime_type=stored.mime_type, size=stored.size, upstream_id=event.upstream_id,
        )

    async def _close_failed(self, task_id: str, exc: Flow2APIError) -> None:
        """Close a row the failover loop gave up on (it may still be ``queued`` after a failed-over attempt)."""
        record = await self.parts.tasks.get(task_id)
        if record is not None and not record.finished:
            await self.parts.tasks.update(task_id, status=FAILED, error=f"{exc.code}: {exc.message}")

    async def _abandon(self, task_id: str, reason: str = "client_disconnected: the client went away") -> None:
        """``failed`` with ``reason`` (``client_disconnected`` by default); shielded and only logged on failure,
        being run in a ``finally`` of a cancelled consumer (bookkeeping must not mask the real exit)."""
        try:
            await asyncio.shield(self.parts.tasks.abandon(task_id, reason))
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - bookkeeping must not mask the real exit
            log.info("could not mark task %s as abandoned", task_id)


ENGINE: Final = web.AppKey("job_engine", JobEngine)


async def finishing_jobs(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx``: at shutdown, let the paid jobs still finishing in the background run up to ``[jobs]
    shutdown_grace`` seconds, then cancel the rest (their rows failed ``server_shutdown`` on the way out;
    :mod:`flow2api.jobs.detached`); registered before the resources they use are closed."""
    yield
    detached = app[ENGINE].detached
    running, grace = len(detached), app[SETTINGS].current.jobs.shutdown_grace
    if running:
        log.info("shutdown: %d paid job(s) whose client left still running; waiting up to %g s", running, grace)
    cancelled = await detached.close(grace)
    if cancelled:
        log.warning("shutdown: %d paid job(s) cancelled after the %g s grace, failed as server_shutdown",
                    cancelled, grace)
