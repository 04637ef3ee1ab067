"""Workflow plugins: what a workflow distribution implements, and the core interfaces it is handed.

Part of the public plugin API (:mod:`flow2api.plugin` re-exports every name). A workflow is a
distribution that registers a factory in the entry-point group ``flow2api.workflows`` (the
entry-point name is the workflow's ``name``); it builds on the gateway instead of on an upstream:
its routes run behind the API pipeline and generate through the job engine, like any surface.

Lifecycle (``flow2api.discovery.build_workflows``, then ``flow2api.app.create_app``)::

    factory = entry_point.load()                  # a class or function
    workflow = factory(PluginContext(...))        # once per app; validates its settings sections
    mounted = workflow.mount(host)                # once, before start-up: routes and admin pages
    async with workflow.lifespan(): ...           # the app's lifetime (cleanup_ctx, after the video runner)

:class:`WorkflowHost` is everything the core lends a workflow: :class:`ImageJobs` (the job engine's
public interface: one image per call, through the same model resolution, key permission, account
selection, failover, media cache, usage and metrics as ``POST /v1/images/generations``; and one video
per call through the background video runner, as ``POST /v1/videos``),
:class:`DocumentStore` (rows of the workflow's own documents in the core's database),
:class:`AdminPages` (the admin layout around a page the workflow renders) and :class:`WebhookEvents`
(the signed-webhook outbox, for the workflow's own events). The core never imports
a workflow; a workflow imports only this package and :mod:`flow2api.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from aiohttp import web

from flow2api.plugin.job import InputImage
from flow2api.plugin.media import MediaChunks


@dataclass(frozen=True, slots=True)
class Owner:
    """Who a workflow document belongs to: an API key (``key_id``; ``None`` = the settings' key) or the admin.

    ``owner`` is the stored ownership value (``"global"``, ``"key:<id>"``, ``"admin"``); ``name`` a display
    name, never the key itself.
    """

    owner: str
    name: str
    key_id: int | None = None


@dataclass(frozen=True, slots=True)
class ImageModel:
    """A resolved image model: catalog ``id`` and how many input images it takes (``None`` = no limit)."""

    id: str
    max_images: int | None = None


@dataclass(frozen=True, slots=True)
class ImageJob:
    """One image to generate: ``task_id`` (unique, the task row's id), ``owner``, resolved ``model`` id,
    ``prompt``, reference ``images`` (at most the model's ``max_images``), ``surface`` (the task row's)."""

    task_id: str
    owner: Owner
    model: str
    prompt: str
    images: tuple[InputImage, ...] = ()
    surface: str = "workflow"
    request: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """A generated image in the media cache: its ``name`` (``/media/<name>``) and ``mime_type``."""

    name: str
    mime_type: str


@dataclass(frozen=True, slots=True)
class VideoModel:
    """A resolved video model: catalog ``id`` and how many input images it takes (``max_images`` ``None`` = no
    limit; ``0``: text-to-video only)."""

    id: str
    min_images: int = 0
    max_images: int | None = None


@dataclass(frozen=True, slots=True)
class VideoJob:
    """One video to generate: ``task_id`` (unique; the Videos API task row's id, so ``GET /v1/videos/{task_id}``
    shows it to its owner), ``owner``, resolved ``model`` id, ``prompt``, input ``images`` (an image-to-video
    model's start frame first), ``request`` (extra fields stored in the row's ``request``)."""

    task_id: str
    owner: Owner
    model: str
    prompt: str
    images: tuple[InputImage, ...] = ()
    request: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GeneratedVideo:
    """A generated video in the media cache: its ``name`` (``/media/<name>``) and ``mime_type`` (``video/mp4``)."""

    name: str
    mime_type: str


@runtime_checkable
class ImageJobs(Protocol):
    """The job engine's public interface for workflows (``flow2api.jobs.workflows.EngineImageJobs``).

    ``image_model(model, size=None) -> ImageModel``
        Resolve a model id or alias (``size`` ``"WxH"`` is the Images API's resolver hint). Raises
        ``ModelNotFoundError`` (404), ``InvalidRequestError`` (400, ``param`` model) for a model that
        does not make images, ``ProviderUnavailableError`` (503).
    ``async generate_image(job) -> GeneratedImage``
        Run one image job to its end through the job engine (task row ``job.task_id``, leased attempts
        with failover, media cached, usage recorded). Raises the engine's ``Flow2APIError`` s, and
        ``PermissionDeniedError`` (403) when the owner's key may not use the model or is revoked.
    ``async finished_image(task_id) -> GeneratedImage | None``
        The image of a task that completed (e.g. before a restart), else ``None``: a workflow resuming
        after a restart asks this before generating again, so no image is paid for twice.
    ``video_model(model, size=None) -> VideoModel``
        Resolve a video model id or alias (``size`` ``"WxH"`` picks the alias's aspect). Raises as
        ``image_model``, with ``InvalidRequestError`` for a model that does not make videos.
    ``async generate_video(job) -> GeneratedVideo``
        Queue ``job`` in the background video runner (a Videos API task row ``job.task_id``, its inputs
        saved, run under a lease with failover, resumed upstream on the same account after a restart)
        unless that row exists already, then wait until the row ends. Calling again with the same
        ``task_id`` (after a restart) joins the same job: it is never submitted twice. Raises
        ``PermissionDeniedError`` (403) as ``generate_image``, ``InvalidRequestError`` (400) for a model
        no longer in the catalog (both before the row is created: no job of that id exists),
        ``GenerationFailedError`` (the row's error as its message) when the job failed or its file has
        left the media cache. Cancelling the call leaves the job running.
    ``async delete_video(task_id, owner) -> bool``
        Soft-delete ``owner``'s Videos API job ``task_id`` as ``DELETE /v1/videos/{id}`` does: its files
        leave the media store, the row stays for statistics, ``GET /v1/videos/{id}`` answers 404. An
        unfinished job is deleted too (it leaves the API and is not resumed after a restart).
        ``False`` when no such job of ``owner`` exists (never queued, or deleted already).
    ``async concurrency(owner) -> int``
        The owner's key's concurrency limit (0 = none), to bound a workflow's parallel jobs by it.
    ``caller(request) -> Owner``
        The API caller of a request that passed the API pipeline's auth stage.
    ``base_url(request) -> str`` / ``media_url(name, base_url) -> str``
        Public media links (``[cache] base_url`` honoured, signed when ``[cache] sign_urls`` is on).
    ``async read_media(name) -> bytes | None`` / ``async remove_media(name)``
        The media store (a directory or an S3 bucket, :class:`flow2api.media.MediaStore`): whole bytes
        (reference images), deletion.
    ``async open_media(name, chunk_size=262144) -> MediaChunks | None``
        The same file opened for reading in chunks of at most ``chunk_size`` bytes (a download of files
        too big to hold in memory: :class:`~flow2api.plugin.media.MediaChunks`, its ``size`` known before
        the first chunk, released by ``aclose``); ``None`` when the name is malformed, unknown or expired.
        ``OSError`` when the backend fails.
    """

    def image_model(self, model: str, *, size: str | None = None) -> ImageModel: ...

    async def generate_image(self, job: ImageJob) -> GeneratedImage: ...

    async def finished_image(self, task_id: str) -> GeneratedImage | None: ...

    def video_model(self, model: str, *, size: str | None = None) -> VideoModel: ...

    async def generate_video(self, job: VideoJob) -> GeneratedVideo: ...

    async def delete_video(self, task_id: str, owner: Owner) -> bool: ...

    async def concurrency(self, owner: Owner) -> int: ...

    def caller(self, request: web.Request) -> Owner: ...

    def base_url(self, request: web.Request) -> str: ...

    def media_url(self, name: str, base_url: str) -> str: ...

    async def read_media(self, name: str) -> bytes | None: ...

    async def remove_media(self, name: str) -> None: ...

    async def open_media(self, name: str, chunk_size: int = 256 * 1024) -> MediaChunks | None: ...


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """One row of a workflow's documents: ``id``, ``owner``, ``status``, ``data`` (JSON object), times (Unix s)."""

    id: str
    owner: str
    status: str
    data: dict[str, Any]
    created_at: float
    updated_at: float


@runtime_checkable
class DocumentStore(Protocol):
    """Rows of one workflow's documents in the core's database (``flow2api.storage.workflows``).

    ``put`` inserts or replaces (``created_at`` kept), ``get`` reads one, ``page`` lists an owner's newest
    first after the cursor id ``after`` (returns the rows and whether more follow), ``unfinished`` lists
    rows in one of ``statuses`` oldest first (resumed after a restart), ``delete`` removes one (``True``
    if it existed). Raise ``sqlalchemy.exc.SQLAlchemyError`` (the database's errors).
    """

    async def put(self, doc_id: str, *, owner: str, status: str, data: Mapping[str, Any]) -> None: ...

    async def get(self, doc_id: str) -> StoredDocument | None: ...

    async def page(self, owner: str | None, *, after: str | None = None,
                   limit: int = 20) -> tuple[list[StoredDocument], bool]: ...

    async def unfinished(self, statuses: Sequence[str]) -> list[StoredDocument]: ...

    async def delete(self, doc_id: str) -> bool: ...


@runtime_checkable
class AdminPages(Protocol):
    """The admin site's layout for a workflow's pages (mounted behind the admin login, session and CSRF).

    ``async render(request, *, title, body, status=200) -> web.Response`` wraps ``body`` (HTML the
    workflow rendered and escaped itself) in the admin layout (navigation, flash messages).
    ``async csrf_token(request) -> str`` is the value of the ``_csrf`` field every POST form carries.
    ``async flash(request, message, level="ok")`` queues a message for the next page.
    """

    async def render(self, request: web.Request, *, title: str, body: str, status: int = 200) -> web.Response: ...

    async def csrf_token(self, request: web.Request) -> str: ...

    async def flash(self, request: web.Request, message: str, level: str = "ok") -> None: ...


@runtime_checkable
class WebhookEvents(Protocol):
    """The signed-webhook outbox as a workflow may use it (``flow2api.jobs.webhooks.WorkflowWebhooks``).

    ``async emit(type, data, *, owner) -> str | None``
        Store one event ``{"id": "evt_…", "object": "event", "type": type, "created_at": <Unix s>, "data": data}``
        in the core's durable outbox; it is delivered as the core's own events are (Standard Webhooks headers,
        retries with back-off, given up after ``[webhooks] give_up_after_seconds``, survives restarts) to the
        endpoint of ``owner``'s API key if it has one, else ``[webhooks] url``. ``type`` must start with the
        workflow's ``name`` and a dot (``"storyboard.ready"``), else ``ValueError``: a workflow never sends
        the core's ``video.*`` / ``image.*`` events. ``data`` is a JSON object (by convention ``{"id": …}``
        of the workflow's document). Returns the event id, or ``None`` when no endpoint is configured (nothing
        stored) or the outbox could not be written (logged; the workflow's own change stands). docs/webhooks.md.
    """

    async def emit(self, type: str, data: Mapping[str, Any], *, owner: Owner) -> str | None: ...


@dataclass(frozen=True, slots=True)
class WorkflowHost:
    """What the core lends a workflow at :meth:`Workflow.mount`; ``events`` is the webhook outbox
    (:class:`WebhookEvents`)."""

    jobs: ImageJobs
    store: DocumentStore
    admin: AdminPages
    data_dir: Path
    events: WebhookEvents


@dataclass(frozen=True, slots=True)
class MountedWorkflow:
    """What a workflow serves: ``api`` routes added to the ``/v1`` sub-app (behind auth and rate limits; paths
    relative to ``/v1``), ``admin`` routes added to the ``/admin`` sub-app (paths relative to ``/admin``) and
    its navigation entry ``nav`` (``(key, href, label)``, ``None`` for none)."""

    api: Sequence[web.AbstractRouteDef] = ()
    admin: Sequence[web.AbstractRouteDef] = ()
    nav: tuple[str, str, str] | None = None


@runtime_checkable
class Workflow(Protocol):
    """A workflow plugin (entry-point group ``flow2api.workflows``).

    ``name``
        The workflow id (equal to the entry-point name), e.g. ``"storyboard"``; its documents are
        stored under it.
    ``config_sections``
        Settings sections it owns (``("storyboard",)``); a section nobody claims is a start-up error.
    ``mount(host) -> MountedWorkflow``
        Called once before start-up with the core's :class:`WorkflowHost`.
    ``lifespan() -> AsyncContextManager[None]``
        Entered when the app starts (database open, pool loaded: resume unfinished work here) and
        left when it stops (cancel background tasks, leaving their documents resumable).
    """

    name: str
    config_sections: tuple[str, ...]

    def mount(self, host: WorkflowHost) -> MountedWorkflow: ...

    def lifespan(self) -> AbstractAsyncContextManager[None]: ...
