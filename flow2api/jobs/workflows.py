"""The job engine's public interface for workflow plugins: :class:`EngineImageJobs` (:class:`flow2api.plugin.ImageJobs`).

A workflow (e.g. storyboards) asks for one image at a time; each call is one :meth:`JobEngine.run`
built the way ``POST /v1/images/generations`` builds one image of its fan-out and the background video
runner builds its job without a request: the catalog resolves the model (with the Images API's
``size`` hint), :func:`flow2api.pipeline.selection.select` checks the owner's key's model permission
and gives the slot wait and retries, :class:`~flow2api.pipeline.proxy.ProxyRouting` picks each
attempt's session. So a workflow's image has the task row, failover, commit point, media caching,
usage statistics and metrics of any other image; nothing goes through HTTP to ourselves.

A workflow's video (``generate_video``) is a Videos API job: a task row of surface ``videos`` with its inputs
saved, handed to the background video runner (:mod:`flow2api.jobs.runner`), which holds it under a lease,
fails over before the commit point and resumes it upstream after a restart or on another instance. The
call then watches the row in the database (another instance may run it) until it ends. Because the row
is the job, a workflow resuming after a restart that calls again with the same task id joins it instead
of paying for a second video. The owner sees it in ``GET /v1/videos`` like a video they asked for.

The owner's key is looked up again at every call (``api_keys``), so a key revoked or limited to other
models while a workflow runs stops it (403) — as a revoked key stops its requests.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing
from typing import Any

from aiohttp import web

from flow2api.apikeys import API_KEYS
from flow2api.catalog import CATALOG, CatalogEntry, ResolveHints
from flow2api.discovery import PROVIDERS
from flow2api.errors import (
    GenerationFailedError, InvalidRequestError, PermissionDeniedError, ProviderUnavailableError, UpstreamProtocolError,
)
from flow2api.jobs.engine import ENGINE, JobSpec, NewRow
from flow2api.jobs.events import Result
from flow2api.jobs.runner import SURFACE as VIDEO_SURFACE
from flow2api.jobs.runner import VIDEO_JOBS
from flow2api.jobs.urls import media_url, public_base_url
from flow2api.media import MEDIA, VIDEO_INPUTS
from flow2api.media.cache import CHUNK_BYTES
from flow2api.pipeline.proxy import ProxyRouting
from flow2api.pipeline.selection import select
from flow2api.plugin import (
    GeneratedImage, GeneratedVideo, ImageJob, ImageModel, Kind, MediaChunks, Owner, VideoJob, VideoModel,
)
from flow2api.request_state import STATE, Caller
from flow2api.settings import SETTINGS
from flow2api.storage.tasks import SUCCEEDED, TASKS, TaskRecord, owner_of

#: Seconds between two looks at a workflow's video row: a video takes minutes upstream, and the row may be
#: run by another instance, so the database is where its end is seen.
VIDEO_POLL_SECONDS = 0.5


class EngineImageJobs:
    """:class:`flow2api.plugin.ImageJobs` over a built app (its engine, catalog, keys, media cache)."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def _resolve(self, model: str, size: str | None, kind: Kind) -> tuple[CatalogEntry, dict[str, Any]]:
        """The entry of ``model`` (``size`` as the Images API's hint) and its first available route's
        ``describe()``; 404, 400 for another kind, 503 without an installed provider."""
        entry = self._app[CATALOG].current.resolve(model, ResolveHints(size=size) if size else None)
        if entry.kind is not kind:
            raise InvalidRequestError(f"The model '{entry.id}' makes {entry.kind.value}s, not {kind.value}s.",
                                      param="model")
        providers = self._app[PROVIDERS]
        for route in entry.routes:
            provider = providers.get(route.provider)
            if provider is not None and route.options is not None:
                return entry, dict(provider.describe(route.options))
        raise ProviderUnavailableError(f"The model '{entry.id}' is unavailable: no installed provider serves it.")

    def image_model(self, model: str, *, size: str | None = None) -> ImageModel:
        """Resolve ``model`` (id or alias, ``size`` as the Images API's hint) to an available image model.

        Raises ``ModelNotFoundError`` (404), ``InvalidRequestError`` (400, a video model),
        ``ProviderUnavailableError`` (503, no installed provider). ``max_images`` is the first available
        route's ``describe()["max_images"]`` (``None``: the provider states no limit)."""
        entry, described = self._resolve(model, size, Kind.IMAGE)
        return ImageModel(id=entry.id, max_images=_count(described.get("max_images")))

    def video_model(self, model: str, *, size: str | None = None) -> VideoModel:
        """Resolve ``model`` to an available video model; ``min_images``/``max_images`` from the first available
        route's ``describe()`` (0 and ``None`` when it states none). Raises as :meth:`image_model` (400 for an
        image model)."""
        entry, described = self._resolve(model, size, Kind.VIDEO)
        return VideoModel(id=entry.id, min_images=_count(described.get("min_images")) or 0,
                          max_images=_count(described.get("max_images")))

    async def _caller(self, owner: Owner) -> Caller:
        """The owner's key as it is now (limits, models); 403 when it was revoked, disabled or expired."""
        if owner.key_id is None:
            return Caller(name=owner.name)
        record = await self._app[API_KEYS].get(owner.key_id)
        if record is None or not record.usable(time.time()):
            raise PermissionDeniedError("The API key that owns this job was revoked, disabled or has expired.")
        return Caller.for_key(record, self._app[CATALOG].current)

    async def concurrency(self, owner: Owner) -> int:
        """The owner's key's concurrency limit (0 = none; the settings' key and the admin have none)."""
        return (await self._caller(owner)).concurrency

    async def generate_image(self, job: ImageJob) -> GeneratedImage:
        """One image through the job engine (see the module docstring); the task row is ``job.task_id`` with
        ``surface = job.surface``. Raises what :meth:`JobEngine.run` raises, ``PermissionDeniedError`` (403)."""
        app = self._app
        caller = await self._caller(job.owner)
        entry = app[CATALOG].current.entries.get(job.model)
        if entry is None or not entry.enabled:
            raise InvalidRequestError(f"The model '{job.model}' is no longer in the catalog.", param="model")
        selection = select(entry, caller, app[SETTINGS].current)
        spec = JobSpec(task_id=job.task_id, model=entry.id, kind=Kind.IMAGE, prompt=job.prompt, images=job.images,
                       caller=caller, new_row=NewRow(surface=job.surface, request=dict(job.request)))
        async with aclosing(app[ENGINE].run(spec, selection, ProxyRouting.of(app))) as events:
            results = [event async for event in events if isinstance(event, Result)]
        if not results:  # the engine raises when a job ends without media; kept for a provider that lies
            raise UpstreamProtocolError("The image job finished without an image.")
        return GeneratedImage(name=results[0].name, mime_type=results[0].mime_type)

    async def finished_image(self, task_id: str) -> GeneratedImage | None:
        """The first image of task ``task_id`` if it completed and its file is still cached, else ``None``."""
        record = await self._app[TASKS].get(task_id)
        found = await self._cached(record, "image/png") if record is not None else None
        return GeneratedImage(*found) if found else None

    async def _cached(self, record: TaskRecord, default_type: str) -> tuple[str, str] | None:
        """``(name, mime type)`` of a completed row's first file while the media store still has it."""
        if record.status != SUCCEEDED or not record.result:
            return None
        names, types = record.result.get("names") or [], record.result.get("mime_types") or []
        if not names or await self._app[MEDIA].read_bytes(names[0]) is None:
            return None
        return names[0], types[0] if types else default_type

    async def generate_video(self, job: VideoJob) -> GeneratedVideo:
        """One video through the background video runner (see the module docstring): the row ``job.task_id`` is
        created and queued unless it exists, then watched until it ends. Raises ``PermissionDeniedError``
        (403), ``InvalidRequestError`` (400, a model no longer in the catalog or not a video model),
        ``GenerationFailedError`` (the row's ``error`` as the message; or its file left the media cache)."""
        tasks = self._app[TASKS]
        if await tasks.get(job.task_id) is None:
            await self._queue_video(job)
        while True:
            record = await tasks.get(job.task_id)
            if record is None:
                raise GenerationFailedError(f"The video job '{job.task_id}' is gone.")
            if record.finished:
                break
            await asyncio.sleep(VIDEO_POLL_SECONDS)
        if record.status != SUCCEEDED:
            raise GenerationFailedError(record.error or "generation_failed: the video job failed")
        found = await self._cached(record, "video/mp4")
        if found is None:
            raise GenerationFailedError("media_expired: the video has left the media cache")
        return GeneratedVideo(*found)

    async def _queue_video(self, job: VideoJob) -> None:
        """Store ``job`` as a queued Videos API row held by this instance and hand it to the runner, as
        ``POST /v1/videos`` does (:func:`flow2api.api.videos.queue_job`); the key's model permission is
        checked first (403), so a refused job leaves no row."""
        app = self._app
        caller = await self._caller(job.owner)
        entry = app[CATALOG].current.entries.get(job.model)
        if entry is None or not entry.enabled or entry.kind is not Kind.VIDEO:
            raise InvalidRequestError(f"The video model '{job.model}' is no longer in the catalog.", param="model")
        select(entry, caller, app[SETTINGS].current)  # the key's model permission, before anything is stored
        names = await app[VIDEO_INPUTS].save(job.task_id, job.images)
        await app[TASKS].create(
            job.task_id, kind=Kind.VIDEO.value, model=entry.id, prompt=job.prompt.strip(), surface=VIDEO_SURFACE,
            api_key=caller.name, api_key_id=caller.key_id, lease=app[VIDEO_JOBS].new_lease(),
            request={**job.request, "requested_model": job.model, "inputs": names, "base_url": "",
                     "summary": {"model": job.model, "prompt": job.prompt[:200], "workflow": dict(job.request),
                                 "input_reference": [f"<{i.mime_type}, {len(i.data)} bytes>" for i in job.images]}},
        )
        app[VIDEO_JOBS].submit(job.task_id)

    async def delete_video(self, task_id: str, owner: Owner) -> bool:
        """Soft-delete ``owner``'s Videos API job ``task_id`` as ``DELETE /v1/videos/{id}`` does (its files leave the
        media store, ``deleted_at`` set, the row kept for statistics); unlike that endpoint also an unfinished job,
        which the video runner then no longer takes up. ``False`` when no such undeleted row of ``owner`` exists."""
        tasks = self._app[TASKS]
        record = await tasks.get(task_id)
        # the row's owner is its key's (the admin's videos are the settings key's, as _queue_video stores them)
        if (record is None or record.surface != VIDEO_SURFACE or record.deleted_at is not None
                or record.owner != owner_of(owner.key_id)):
            return False
        for name in (record.result or {}).get("names") or []:
            await self._app[MEDIA].delete(name)
        await tasks.mark_deleted(task_id)
        return True

    def caller(self, request: web.Request) -> Owner:
        """The authenticated caller of an API request (after the auth stage); raises ``KeyError`` before it."""
        caller = request[STATE].caller
        if caller is None:
            raise PermissionDeniedError("This request has no authenticated caller.")
        return Owner(owner=owner_of(caller.key_id), name=caller.name, key_id=caller.key_id)

    def base_url(self, request: web.Request) -> str:
        """:func:`flow2api.jobs.public_base_url` of ``request``."""
        return public_base_url(request)

    def media_url(self, name: str, base_url: str) -> str:
        """:func:`flow2api.jobs.media_url`: ``<base>/media/<name>``, signed when ``[cache] sign_urls`` is on."""
        return media_url(self._app[SETTINGS], self._app[MEDIA], base_url, name)

    async def read_media(self, name: str) -> bytes | None:
        """The cached file's bytes, or ``None`` when unknown or expired."""
        return await self._app[MEDIA].read_bytes(name)

    async def open_media(self, name: str, chunk_size: int = CHUNK_BYTES) -> MediaChunks | None:
        """:meth:`flow2api.media.MediaStore.open_chunks`: the file in chunks, ``None`` when unknown or expired."""
        return await self._app[MEDIA].open_chunks(name, chunk_size)

    async def remove_media(self, name: str) -> None:
        """Delete a stored file (nothing when it is gone already)."""
        await self._app[MEDIA].delete(name)


def _count(value: Any) -> int | None:
    """An image count a provider's ``describe()`` states, or ``None`` when it states none (or not a number)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
