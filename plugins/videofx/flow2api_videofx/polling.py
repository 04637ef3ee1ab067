"""Async video jobs: reading a status item (spec §3.1) and batched polling per account (§2.14, §3.2).

One :class:`StatusPoller` per account (owned by the family, see
:meth:`~flow2api_videofx.family.VideoFXFamily.poller`) checks *all* in-flight
media of that account with one ``batchCheckAsyncVideoGenerationStatus`` call
per ``[flow] poll_interval`` (more than ``status_batch_size`` media: one call
per chunk). Its task starts when the first media is watched and stops when the
last one is unwatched. Each caller follows its own media with
:meth:`StatusPoller.track`, which applies the loop rules of §3.2 to what the
poller delivers: terminal states, ``max_poll_attempts``, the "stuck ACTIVE"
limit and the consecutive-poll-error limit. A batch that fails because one of its projects vanished is
polled again project by project, so only that project's jobs fail (issue 18).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from flow2api.errors import (
    CredentialRejectedError,
    Flow2APIError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeoutError,
)
from flow2api.plugin import AccountSession, Progress
from flow2api_flowkit.projects import ProjectGoneError, lost_with_project
from flow2api_videofx.client import VideoHandle
from flow2api_videofx.config import FlowConfig
from flow2api_videofx.wire import failed_job_error

if TYPE_CHECKING:  # pragma: no cover
    from flow2api_videofx.family import VideoFXFamily

log = logging.getLogger(__name__)

PENDING = "MEDIA_GENERATION_STATUS_PENDING"
ACTIVE = "MEDIA_GENERATION_STATUS_ACTIVE"
SUCCESSFUL = "MEDIA_GENERATION_STATUS_SUCCESSFUL"
FAILED = "MEDIA_GENERATION_STATUS_FAILED"
ERROR_PREFIX = "MEDIA_GENERATION_STATUS_ERROR"


@dataclass(frozen=True, slots=True)
class VideoStatus:
    """One media's state (spec §3.1): ``status`` string and, on failure, upstream's error ``code``/``message``."""

    name: str
    status: str
    error_code: int | None = None
    error_message: str | None = None

    @property
    def succeeded(self) -> bool:
        """``MEDIA_GENERATION_STATUS_SUCCESSFUL``."""
        return self.status == SUCCESSFUL

    @property
    def failed(self) -> bool:
        """``…_FAILED`` or any status starting with ``…_ERROR`` (exact suffixes unknown, §3.1)."""
        return self.status == FAILED or self.status.startswith(ERROR_PREFIX)


def _dig(data: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def read_status(item: dict[str, Any]) -> VideoStatus:
    """A status item of §2.14 → :class:`VideoStatus`.

    The status may sit in ``mediaMetadata.mediaStatus.mediaGenerationStatus``,
    ``mediaStatus.mediaGenerationStatus`` or ``status``; a missing status is
    PENDING (§3.1). The error is read from ``mediaMetadata.mediaStatus.error``,
    ``mediaStatus.error`` or ``video.operation.error``. ``UpstreamProtocolError``
    when the item has no ``name``.
    """
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise UpstreamProtocolError("Flow batchCheckAsyncVideoGenerationStatus item has no 'media[].name' (upstream changed?)")
    status = (
        _dig(item, "mediaMetadata", "mediaStatus", "mediaGenerationStatus")
        or _dig(item, "mediaStatus", "mediaGenerationStatus")
        or (item.get("status") if isinstance(item.get("status"), str) else None)
        or PENDING
    )
    error = (
        _dig(item, "mediaMetadata", "mediaStatus", "error")
        or _dig(item, "mediaStatus", "error")
        or _dig(item, "video", "operation", "error")
    )
    code = error.get("code") if isinstance(error, dict) and isinstance(error.get("code"), int) else None
    message = str(error.get("message")) if isinstance(error, dict) and error.get("message") else None
    return VideoStatus(name, str(status), code, message)


@dataclass(eq=False, slots=True)
class _Watch:
    """One caller's interest in one media; the poller :meth:`put`s a status or an error per poll.

    A future and a list rather than an ``asyncio.Queue``: 10,000 waiting videos on one instance
    (bench/many_videos.py) made the queue (3.3 KiB each) the largest object per job.
    """

    handle: VideoHandle
    account: AccountSession
    http: aiohttp.ClientSession
    pending: list[VideoStatus | Flow2APIError] = field(default_factory=list)
    waiter: asyncio.Future[VideoStatus | Flow2APIError] | None = None

    def put(self, result: VideoStatus | Flow2APIError) -> None:
        """Hand one poll's result to the waiting caller (or keep it for its next :meth:`get`)."""
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(result)
            self.waiter = None
        else:
            self.pending.append(result)

    async def get(self) -> VideoStatus | Flow2APIError:
        """The next result, in the order the poller put them."""
        if self.pending:
            return self.pending.pop(0)
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            return await self.waiter
        finally:
            self.waiter = None


class StatusPoller:
    """All in-flight video media of one account, checked together once per ``config.poll_interval`` seconds.

    ``family`` gives the client and the refresh hook: a status call refused
    with a rejected credential triggers one ST→AT refresh and is retried in
    the same tick. Each call uses the credentials of the most recently
    watched media's account session (all are the same account).
    """

    def __init__(self, family: VideoFXFamily, account_id: int) -> None:
        self.family = family
        self.account_id = account_id
        self._watches: dict[_Watch, None] = {}  # insertion-ordered set: O(1) unwatch at 10,000 jobs
        self._task: asyncio.Task[None] | None = None
        self.calls = 0  # status calls made, for /metrics-style introspection and tests

    @property
    def config(self) -> FlowConfig:
        """The family's ``[flow]`` settings (interval, batch size, loop limits)."""
        return self.family.config.flow

    @property
    def running(self) -> bool:
        """Whether the polling task is alive (it stops when nothing is watched)."""
        return self._task is not None

    def watch(self, handle: VideoHandle, account: AccountSession, http: aiohttp.ClientSession) -> _Watch:
        """Start following ``handle``; starts the polling task if it was idle."""
        watch = _Watch(handle, account, http)
        self._watches[watch] = None
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"flow2api-videofx-poller-{self.account_id}")
        return watch

    def unwatch(self, watch: _Watch) -> None:
        """Stop following; the task is stopped at once when nothing is left to poll."""
        self._watches.pop(watch, None)
        if not self._watches and self._task is not None:
            task, self._task = self._task, None
            if task is not asyncio.current_task():
                task.cancel()

    async def _run(self) -> None:
        try:
            while self._watches:
                await asyncio.sleep(self.config.poll_interval)
                if not self._watches:
                    break
                await self._tick(list(self._watches))
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def _tick(self, watches: list[_Watch]) -> None:
        by_handle: dict[VideoHandle, list[_Watch]] = {}
        for watch in watches:
            by_handle.setdefault(watch.handle, []).append(watch)
        handles = list(by_handle)
        size = self.config.status_batch_size
        for start in range(0, len(handles), size):
            await self._poll_chunk(handles[start:start + size], watches[-1], by_handle)

    async def _poll_chunk(self, chunk: list[VideoHandle], source: _Watch,
                          by_handle: dict[VideoHandle, list[_Watch]]) -> None:
        def deliver(error: Flow2APIError, handles: list[VideoHandle]) -> None:
            for handle in handles:
                for watch in by_handle[handle]:
                    watch.put(error)

        try:
            items = await self._check(chunk, source)
        except Flow2APIError as exc:
            projects = list(dict.fromkeys(handle.project_id for handle in chunk))
            if len(projects) > 1 and not exc.account_fault:
                # One vanished project fails the whole batch (NOT_FOUND, no fault of the account): poll each
                # project's media on its own, so only the jobs of the vanished project see its ProjectGoneError.
                for project in projects:
                    await self._poll_chunk([h for h in chunk if h.project_id == project], source, by_handle)
                return
            deliver(exc, chunk)
            return
        except Exception:  # a bug here must not leave callers waiting forever
            log.exception("polling video status for account %d failed", self.account_id)
            deliver(UpstreamError("checking the video status failed unexpectedly"), chunk)
            return
        statuses: dict[str, VideoStatus | Flow2APIError] = {}
        for item in items:
            try:
                status = read_status(item)
            except UpstreamProtocolError as exc:
                for handle in chunk:
                    statuses.setdefault(handle.name, exc)
                continue
            statuses[status.name] = status
        for handle in chunk:
            result = statuses.get(handle.name) or UpstreamProtocolError(
                f"Flow batchCheckAsyncVideoGenerationStatus reply has no 'media' item named {handle.name!r} "
                "(upstream changed?)"
            )
            for watch in by_handle[handle]:
                watch.put(result)

    async def _check(self, chunk: list[VideoHandle], source: _Watch) -> list[dict[str, Any]]:
        client = self.family.client(source.http, source.account.view)
        self.calls += 1
        try:
            return await client.check_video_status(chunk)
        except CredentialRejectedError:
            # The AT expired or was revoked while jobs were running: renew it once (ST → AT) and retry.
            log.info("status poll of account %d refused the access token; refreshing it", self.account_id)
            await self.family.refresh(source.account, source.http)
            client = self.family.client(source.http, source.account.view)
            self.calls += 1
            return await client.check_video_status(chunk)

    async def track(
        self,
        handle: VideoHandle,
        account: AccountSession,
        http: aiohttp.ClientSession,
        *,
        max_attempts: int,
        label: str = "Video",
        span: tuple[float, float] = (0.0, 95.0),
    ) -> AsyncIterator[Progress]:
        """Follow ``handle`` until it is SUCCESSFUL, yielding :class:`Progress` (spec §3.2).

        Progress goes out when the state changes and every ``progress_every``
        polls; ``percent`` is ``min(attempt / max_attempts, 0.95)`` mapped into
        ``span``. Raises ``GenerationFailedError`` for FAILED/ERROR (with
        upstream's message), ``UpstreamTimeoutError`` when still ACTIVE after
        ``stuck_active_polls`` polls ("upstream stuck") or after
        ``max_attempts`` polls, the last poll error after
        ``max_poll_errors`` consecutive ones, and at once ``ProjectLostError`` (502, "submit the request again")
        when upstream no longer knows ``handle``'s project (the project is dropped from the account first).
        """
        config = self.config
        watch = self.watch(handle, account, http)
        attempts = errors = 0
        last: str | None = None
        low, high = span
        try:
            while True:
                result = await watch.get()
                attempts += 1
                if isinstance(result, ProjectGoneError) and result.project_id == handle.project_id:
                    # The job was accepted (and paid) in a project upstream lost: it cannot be followed or sent
                    # again. The account's next request gets another project (docs/reliability.md).
                    await self.family.projects.forget(account, handle.project_id)
                    raise lost_with_project(result)
                if isinstance(result, Flow2APIError):
                    errors += 1
                    log.warning("status poll %d of %s failed (%d in a row): %s", attempts, handle.name, errors, result.code)
                    if errors >= config.max_poll_errors:
                        # The poller shares one error object among all watchers: raise a copy of it.
                        raise copy.copy(result)
                else:
                    errors = 0
                    if result.succeeded:
                        return
                    if result.failed:
                        raise failed_job_error(label.lower(), result.status, result.error_message, result.error_code)
                    if result.status == ACTIVE and attempts > config.stuck_active_polls:
                        raise UpstreamTimeoutError(
                            f"Flow {label.lower()} job is stuck: still ACTIVE after {attempts} polls (upstream stuck)"
                        )
                    if result.status != last or attempts % config.progress_every == 0:
                        fraction = min(attempts / max_attempts, 0.95)
                        state = result.status.removeprefix("MEDIA_GENERATION_STATUS_").lower()
                        last = result.status
                        yield Progress(f"{label} {state} (poll {attempts})", percent=round(low + (high - low) * fraction, 1))
                if attempts >= max_attempts:
                    raise UpstreamTimeoutError(f"Flow {label.lower()} job did not finish within {attempts} polls")
        finally:
            self.unwatch(watch)
