"""The job engine's public interface for workflow plugins: :class:`EngineImageJobs` (:class:`flow2api.plugin.ImageJobs`).

A workflow (e.g. storyboards) asks for one image at a time; each call is one :meth:`JobEngine.run`
built the way ``POST /v1/images/generations`` builds one image of its fan-out and the background video
runner builds its job without a request: the catalog resolves the model (with the Images API's
``size`` hint), :func:`flow2api.pipeline.selection.select` checks the owner's key's model permission
and gives the slot wait and retries, :class:`~flow2api.pipeline.proxy.ProxyRouting` picks each
attempt's session. So a workflow's image has the task row, failover, commit point, media caching,
usage statistics and metrics of any other image; nothing goes through HTTP to ourselves.

The owner's key is looked up again at every call (``api_keys``), so a key revoked or limited to other
models while a workflow runs stops it (403) — as a revoked key stops its requests.
"""

from __future__ import annotations

import time
from contextlib import aclosing

from aiohttp import web

from flow2api.apikeys import API_KEYS
from flow2api.catalog import CATALOG, ResolveHints
from flow2api.discovery import PROVIDERS
from flow2api.errors import InvalidRequestError, PermissionDeniedError, ProviderUnavailableError, UpstreamProtocolError
from flow2api.jobs.engine import ENGINE, JobSpec, NewRow
from flow2api.jobs.events import Result
from flow2api.jobs.urls import media_url, public_base_url
from flow2api.media import MEDIA
from flow2api.pipeline.proxy import ProxyRouting
from flow2api.pipeline.selection import select
from flow2api.plugin import GeneratedImage, ImageJob, ImageModel, Kind, Owner
from flow2api.request_state import STATE, Caller
from flow2api.settings import SETTINGS
from flow2api.storage.tasks import SUCCEEDED, TASKS, owner_of


class EngineImageJobs:
    """:class:`flow2api.plugin.ImageJobs` over a built app (its engine, catalog, keys, media cache)."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def image_model(self, model: str, *, size: str | None = None) -> ImageModel:
        """Resolve ``model`` (id or alias, ``size`` as the Images API's hint) to an available image model.

        Raises ``ModelNotFoundError`` (404), ``InvalidRequestError`` (400, a video model),
        ``ProviderUnavailableError`` (503, no installed provider). ``max_images`` is the first available
        route's ``describe()["max_images"]`` (``None``: the provider states no limit)."""
        entry = self._app[CATALOG].current.resolve(model, ResolveHints(size=size) if size else None)
        if entry.kind is not Kind.IMAGE:
            raise InvalidRequestError(f"The model '{entry.id}' makes {entry.kind.value}s, not images.", param="model")
        providers = self._app[PROVIDERS]
        for route in entry.routes:
            provider = providers.get(route.provider)
            if provider is not None and route.options is not None:
                limit = provider.describe(route.options).get("max_images")
                return ImageModel(id=entry.id, max_images=limit if isinstance(limit, int) else None)
        raise ProviderUnavailableError(f"The model '{entry.id}' is unavailable: no installed provider serves it.")

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
        if record is None or record.status != SUCCEEDED or not record.result:
            return None
        names, types = record.result.get("names") or [], record.result.get("mime_types") or []
        if not names or await self._app[MEDIA].read_bytes(names[0]) is None:
            return None
        return GeneratedImage(name=names[0], mime_type=types[0] if types else "image/png")

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

    async def remove_media(self, name: str) -> None:
        """Delete a stored file (nothing when it is gone already)."""
        await self._app[MEDIA].delete(name)
