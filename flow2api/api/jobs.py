"""Running provider jobs for every surface: task rows, commit point, media caching, failover, accounting.

Surfaces (chat completions, Images API, Videos API, Gemini) build a
:class:`~flow2api.plugin.Job` and consume :data:`JobEvent` objects whatever
the provider:

* :func:`run_job` — inside a ``@generation`` handler: the lease stage already
  leased an account (and retries on another one); this creates the task row on
  the first attempt and marks the request committed at the first provider event.
* :func:`leased_attempts` + :func:`execute` — for work that leases accounts
  itself (Images API fan-out, background Videos API jobs): the same failover
  rules as :mod:`flow2api.pipeline.lease`, one lease per job.

:func:`execute` turns provider events into :data:`JobEvent`: the first one is
:class:`Accepted` (the commit point), then :class:`~flow2api.plugin.Progress`
and :class:`Result` (media stored in the media cache, exposed as a flow2api
URL — clients never see an upstream URL). It enforces ``[generation]
image_timeout``/``video_timeout``, persists progress, ``Submitted.resume`` and
the outcome in the task row, updates credits, usage statistics and metrics.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from flow2api.catalog import CatalogEntry
from flow2api.errors import (
    Flow2APIError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeoutError,
)
from flow2api.keys import HTTP_SESSIONS, MEDIA, METRICS, POOL, PROVIDERS, SETTINGS, STATE, TASKS, USAGE
from flow2api.plugin import Call, Job, Kind, MediaOutput, Progress, Submitted, Submitting, Usage
from flow2api.pool import Lease
from flow2api.pool.failover import fails_over, run_with_failover
from flow2api.request_state import Caller
from flow2api.storage.tasks import FAILED, QUEUED, RUNNING, SUCCEEDED, summarize_request

log = logging.getLogger(__name__)

T = TypeVar("T")
AppLike = Mapping[Any, Any]  # the root web.Application, or a request's config_dict
PROGRESS_WRITE_INTERVAL = 1.0  # seconds between task-row progress writes; a video reports every poll
_MEDIA_PATH = re.compile(r"/media/([A-Za-z0-9_-]{16,64}\.[a-z0-9]{2,5})$")
DEFAULT_SIGNED_TTL = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Result:
    """One finished output: public ``url`` (``/media/…``), cache ``name``, MIME type, size in bytes, upstream id."""

    kind: Kind
    url: str
    name: str
    mime_type: str
    size: int
    upstream_id: str | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    """The provider's first event arrived: the attempt is committed (no failover after it; see ``flow2api.plugin``)."""


JobEvent = Accepted | Progress | Result


@dataclass(slots=True)
class Attempt:
    """One attempt of a job on one leased account.

    ``lease`` and its proxy-routed ``http`` session; ``number`` counts from 1;
    ``may_retry`` says whether the failover loop could run another attempt
    (then a failover-able error leaves the task ``queued`` instead of
    ``failed``, so a polling client never sees a failure that is retried);
    ``committed`` turns true at the provider's first event.
    """

    lease: Lease
    http: aiohttp.ClientSession
    number: int = 1
    may_retry: bool = False
    committed: bool = False

    def will_fail_over(self, exc: Flow2APIError) -> bool:
        """Whether the failover loop retries after ``exc`` (account-specific, retryable, before commit)."""
        return self.may_retry and fails_over(exc, committed=self.committed)


# -- URLs ----------------------------------------------------------------------------------------------------


def public_base_url(request: web.Request) -> str:
    """Base URL for media links: ``[cache] base_url``, else the request's (honouring ``X-Forwarded-Proto/Host``)."""
    configured = request.config_dict[SETTINGS].current.cache.base_url
    if configured:
        return configured.rstrip("/")
    proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    return f"{proto}://{host}"


def media_url(app: AppLike, base: str, name: str) -> str:
    """The public URL of cached file ``name``: ``<base>/media/<name>``, signed when ``[cache] sign_urls`` is on.

    A signed URL is valid for ``[cache] signed_url_ttl`` seconds, else as long
    as the file (``[cache] timeout``), else 7 days.
    """
    url = f"{base}/media/{name}"
    cache = app[SETTINGS].current.cache
    if not cache.sign_urls:
        return url
    ttl = cache.signed_url_ttl or cache.timeout or DEFAULT_SIGNED_TTL
    return f"{url}?{app[MEDIA].signer.query(name, int(time.time() + ttl))}"


def media_name_from_url(url: str) -> str | None:
    """The cache file name when ``url`` (absolute or a path) points at ``/media/<name>``, else ``None``.

    Query strings (signatures) are ignored: the unguessable name is what
    identifies one of our files.
    """
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    match = _MEDIA_PATH.search(path)
    return match[1] if match else None


# -- running one attempt ---------------------------------------------------------------------------------------


async def execute(
    app: AppLike,
    attempt: Attempt,
    *,
    task_id: str,
    job: Job,
    base_url: str,
    caller: Caller | None,
    resume: Mapping[str, Any] | None = None,
    row_started: bool = False,
) -> AsyncIterator[JobEvent]:
    """Run ``job`` on ``attempt``'s account (``provider.resume(call, resume)`` when ``resume`` is given).

    Yields :class:`Accepted` at the first provider event but :class:`Submitting` (and sets
    ``attempt.committed``), then progress and results. ``Submitting`` and ``Submitted`` states are
    stored in the row's ``resume`` column before the provider continues. The task row goes to
    ``in_progress`` on this account, then ``completed`` with the result URLs
    or ``failed`` with ``"<code>: <message>"`` (``row_started``: the caller created the row ``in_progress`` on
    this account already). Progress is written at most once a second (for an image, not before a second
    has passed). Raises the provider's
    :class:`Flow2APIError` unchanged; ``UpstreamTimeoutError`` past the
    kind's time limit; ``UpstreamProtocolError`` when the job ends without media.
    When the consumer stops early (client gone) the row is left as it is: the
    caller decides (chat marks it failed, the video runner resumes it later).
    """
    settings = app[SETTINGS].current.generation
    tasks, pool = app[TASKS], app[POOL]
    lease = attempt.lease
    limit = settings.video_timeout if job.kind is Kind.VIDEO else settings.image_timeout
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    started = time.perf_counter()
    if not row_started:
        await tasks.update(task_id, status=RUNNING, account_id=lease.account_id)
    call = Call(job=job, account=lease, http=attempt.http)
    provider: Any = lease.provider
    source = provider.resume(call, dict(resume)) if resume is not None else provider.generate(call)
    results: list[Result] = []
    # Nobody polls an image's row while it runs (the answer carries it): its progress is stored only when it
    # runs longer than a second. A video's row is polled (Videos API), so its first progress is stored at once.
    last_write = time.monotonic() if job.kind is Kind.IMAGE else 0.0
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
                raise UpstreamTimeoutError(f"The {job.kind.value} job did not finish within {limit:g} s.") from None
            if isinstance(event, Submitting):
                # Stored before the provider runs on to its submit: a crash after the submit left resumes the job
                # from here, and the provider asks upstream whether the submit arrived (docs/reliability.md).
                await tasks.record_resume(task_id, dict(event.resume))
                checkpoint = True
                continue
            if isinstance(event, Submitted):
                # Upstream has accepted (and charged for) the job: store where to resume it before anything else,
                # so a crash from here on resumes it instead of submitting it again (docs/reliability.md, crash drill).
                await tasks.record_resume(task_id, dict(event.resume))
            if not attempt.committed:
                attempt.committed = True
                yield Accepted()
            if isinstance(event, Progress):
                now = time.monotonic()
                if event.percent is not None and now - last_write >= PROGRESS_WRITE_INTERVAL:
                    last_write = now
                    await tasks.update(task_id, progress=max(0.0, min(99.0, event.percent)))
                yield event
            elif isinstance(event, MediaOutput):
                result = await _cache(app, attempt.http, event, base_url)
                results.append(result)
                yield result
            elif isinstance(event, Usage) and event.remaining_credits is not None:
                await pool.update(lease.account_id, credits=event.remaining_credits)
        if not results:
            raise UpstreamProtocolError("The provider finished without producing any media.")
    except Flow2APIError as exc:
        status = QUEUED if attempt.will_fail_over(exc) else FAILED
        if checkpoint and status == QUEUED and not attempt.committed:
            await tasks.record_resume(task_id, None)  # the next account submits afresh, not from this one's checkpoint
        _account(app, attempt, job, caller, started, exc=exc)  # queued first: shares the row's batch (one trip)
        await tasks.update(task_id, status=status, error=f"{exc.code}: {exc.message}")
        raise
    finally:
        await source.aclose()
    _account(app, attempt, job, caller, started, outputs=len(results))  # queued first: shares the row's batch
    await tasks.update(
        task_id, status=SUCCEEDED, progress=100,
        result={"urls": [r.url for r in results], "names": [r.name for r in results],
                "mime_types": [r.mime_type for r in results], "upstream_ids": [r.upstream_id for r in results]},
    )


def _account(
    app: AppLike, attempt: Attempt, job: Job, caller: Caller | None, started: float,
    *, outputs: int = 0, exc: Flow2APIError | None = None,
) -> None:
    """Usage statistics and metrics of one finished attempt (queued in the group commit, not awaited)."""
    duration = time.perf_counter() - started
    app[METRICS].observe_generation(job.kind.value, "failed" if exc else "succeeded", duration, outputs)
    if isinstance(exc, UpstreamError):
        app[METRICS].upstream_errors.labels(type(exc).__name__).inc()
    app[USAGE].record(
        account_id=attempt.lease.account_id, api_key_id=caller.key_id if caller else None,
        api_key=caller.name if caller else None, model=job.model, kind=job.kind.value, ok=exc is None,
        outputs=outputs, duration_ms=duration * 1000,
    )


async def _cache(app: AppLike, http: aiohttp.ClientSession, event: MediaOutput, base: str) -> Result:
    media = app[MEDIA]
    if event.data is not None:
        stored = await media.store_bytes(event.data, event.mime_type)
    elif event.url:
        stored = await media.store_url(http, event.url, headers=event.headers, mime_type=event.mime_type)
    else:
        raise UpstreamProtocolError("The provider produced a media output with neither bytes nor URL.")
    return Result(
        kind=event.kind, url=media_url(app, base, stored.name), name=stored.name, mime_type=stored.mime_type,
        size=stored.size, upstream_id=event.upstream_id,
    )


# -- leasing ------------------------------------------------------------------------------------------------------


def check_model_allowed(caller: Caller | None, entry: CatalogEntry) -> None:
    """403 ``permission_denied`` when the caller's key is restricted to other models (as the lease stage does)."""
    if caller is not None:
        caller.check_model(entry.id)


async def leased_attempts(
    app: AppLike,
    entry: CatalogEntry,
    run: Callable[[Attempt], Awaitable[T]],
    *,
    caller: Caller | None,
    wait: float,
    account_id: int | None = None,
) -> T:
    """Run ``run(attempt)`` on a leased account with the pool's failover loop
    (:func:`flow2api.pool.failover.run_with_failover`, the same rules as the lease stage).

    ``account_id`` pins the job to one account (resuming a job upstream holds
    there): no failover then. ``wait`` is the slot wait in seconds. Raises
    ``PermissionDeniedError`` (403) for a model the key may not use,
    ``NoAccountAvailableError`` (503), or the last attempt's error.
    """
    check_model_allowed(caller, entry)
    settings = app[SETTINGS].current
    retries = 0 if account_id is not None else settings.generation.max_retries
    attempts: list[Attempt] = []

    async def one(lease: Lease, number: int) -> T:
        proxy = lease.view.proxy_url or settings.global_proxy_url
        attempt = Attempt(lease=lease, http=app[HTTP_SESSIONS].get(proxy), number=number, may_retry=number <= retries)
        attempts.append(attempt)
        return await run(attempt)

    return await run_with_failover(
        app[POOL], entry, app[PROVIDERS], one, max_retries=retries, wait=wait, account_id=account_id,
        committed=lambda: bool(attempts) and attempts[-1].committed,
    )


async def mark_failed(app: AppLike, task_id: str, exc: Flow2APIError) -> None:
    """Close a task the failover loop gave up on (it may still be ``queued`` after a failed-over attempt)."""
    record = await app[TASKS].get(task_id)
    if record is not None and not record.finished:
        await app[TASKS].update(task_id, status=FAILED, error=f"{exc.code}: {exc.message}")


# -- inside a @generation handler ---------------------------------------------------------------------------------


async def run_job(request: web.Request, job: Job, *, surface: str) -> AsyncIterator[JobEvent]:
    """Run ``job`` on the request's leased account (set by the lease stage); see :func:`execute`.

    The task row (id = request id) is created on the first attempt with the
    request summarized (:func:`~flow2api.storage.tasks.summarize_request`);
    :class:`Accepted` sets ``state.committed``. A consumer that stops early
    (client disconnected) must close it (``aclose``), also before it opened its
    answer; the task then ends ``failed`` with ``client_disconnected``.
    """
    state = request[STATE]
    assert state.lease is not None and state.http is not None
    app = request.config_dict
    caller = state.caller
    first = state.attempts <= 1
    attempt = Attempt(lease=state.lease, http=state.http, number=state.attempts or 1)
    events = execute(app, attempt, task_id=state.request_id, job=job, base_url=public_base_url(request), caller=caller,
                     row_started=first)
    finished = False
    try:
        # Inside the try, so a handler cancelled during this write (its client gone) still gets its row marked failed.
        if first:  # created in_progress on the leased account: one write instead of create + update
            await app[TASKS].create(
                state.request_id, kind=job.kind.value, model=job.model, prompt=job.prompt,
                api_key=caller.name if caller else None, api_key_id=caller.key_id if caller else None,
                surface=surface, request={"summary": summarize_request(state.body)},
                status=RUNNING, account_id=state.lease.account_id,
            )
        async for event in events:
            if isinstance(event, Accepted):
                state.committed = True
            yield event
        finished = True
    except Flow2APIError:
        finished = True
        raise
    finally:
        await events.aclose()
        if not finished:
            await mark_abandoned(app, state.request_id)


async def events_from(first: JobEvent, rest: AsyncIterator[JobEvent]) -> AsyncIterator[JobEvent]:
    """``first`` (unless it is :class:`Accepted`) followed by the rest of ``rest``, closing ``rest`` when done.

    Streaming surfaces read the first event before opening the stream (errors
    until then are plain HTTP errors); this puts it back in front.
    """
    if not isinstance(first, Accepted):
        yield first
    try:
        async for event in rest:
            yield event
    finally:
        await rest.aclose()


async def mark_abandoned(app: AppLike, task_id: str) -> None:
    """Close the task of a request whose client went away: ``failed`` with ``client_disconnected``.

    Safe in a ``finally`` of a cancelled handler: the write is shielded and its
    own failure is only logged (bookkeeping must not mask the real exit).
    """
    try:
        error = "client_disconnected: the client went away"
        await asyncio.shield(app[TASKS].abandon(task_id, error))
    except (asyncio.CancelledError, Exception):  # noqa: BLE001 - bookkeeping must not mask the real exit
        log.info("could not mark task %s as abandoned", task_id)
