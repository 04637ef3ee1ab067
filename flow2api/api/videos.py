"""The OpenAI Videos API (the Sora-style contract LiteLLM and new-api also serve), on the ``/v1`` sub-app.

Endpoints (OpenAI API reference "Videos"; matched against what the installed
``openai`` SDK's ``client.videos.create / retrieve / list / delete /
download_content`` send and parse)::

    POST   /v1/videos                  create a job → video object (status "queued")
    GET    /v1/videos                  list the caller's jobs: ?after=<id>&limit=1..100&order=desc|asc
    GET    /v1/videos/{video_id}       one job
    GET    /v1/videos/{video_id}/content   the MP4 (?variant=video), streamed with Range support, or a JPEG of
                                       its first frame (?variant=thumbnail)
    DELETE /v1/videos/{video_id}       delete a completed or failed job and its file

Remix, edits and extensions (jobs made from an existing video) are in
:mod:`flow2api.api.video_sources`; they store their job through :func:`queue_job`.

Video object: ``{"id": "video_…", "object": "video", "model", "status":
queued|in_progress|completed|failed, "progress": 0–100, "created_at",
"completed_at", "expires_at" (Unix s; when the cached MP4 expires), "prompt",
"seconds", "size", "remixed_from_video_id" (a remix's source), "error": {"code",
"message"} | null}`` plus ``flow2api: {"url", "model"}`` (the media URL and the
concrete catalog model) once completed.

Create accepts JSON or multipart (the SDK always sends multipart): ``model``
(catalog video model or resolver alias; required), ``prompt``, ``seconds``,
``size`` (``"1280x720"`` → landscape, ``"720x1280"`` → portrait for aliases),
``input_reference`` (an image file, an image URL / data URI, or
``{"image_url": …}``; ``file_id`` is refused). ``seconds`` that contradict a
model with a fixed duration are refused with 400 rather than silently ignored.

Jobs are task rows before anything goes upstream and run in the background
(:mod:`flow2api.jobs.runner`); a restart resumes them. ``Idempotency-Key``:
the same key with the same request returns the same job; with a different
request, 409 ``idempotency_key_reused``. Only the API key that created a job
sees it (others get 404).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import web

from flow2api.api.idempotency import conflict, idempotency_key, owner, request_hash
from flow2api.api.inputs import decode_image, input_reader
from flow2api.api.schemas import VideoCreateRequest
from flow2api.api.schemas.videos import capabilities
from flow2api.catalog import CatalogEntry
from flow2api.discovery import PROVIDERS
from flow2api.errors import InvalidRequestError, NotFoundError
from flow2api.jobs import media_url, public_base_url
from flow2api.jobs.runner import VIDEO_JOBS
from flow2api.media import MEDIA, VIDEO_INPUTS
from flow2api.media.frames import first_frame_jpeg
from flow2api.pipeline import generation
from flow2api.plugin import InputImage, Kind
from flow2api.request_state import STATE
from flow2api.settings import SETTINGS
from flow2api.storage.tasks import (
    FAILED,
    SUCCEEDED,
    TASKS,
    IdempotencyConflict,
    TaskRecord,
)

SURFACE = "videos"
MAX_LIMIT = 100
_ASPECT_SIZES = {"landscape": "1280x720", "portrait": "720x1280"}  # Veo renders 720p before any upsampling


def _error_object(error: str | None) -> dict[str, str] | None:
    if not error:
        return None
    code, sep, message = error.partition(": ")
    return {"code": code, "message": message} if sep else {"code": "generation_failed", "message": error}


async def video_object(request: web.Request, record: TaskRecord) -> dict[str, Any]:
    """The OpenAI video object for a task row (see the module docstring); media URLs are built per request."""
    app = request.config_dict
    stored = record.request or {}
    names = (record.result or {}).get("names") or []
    completed = record.status == SUCCEEDED
    expires = await app[MEDIA].expiry(names[0]) if completed and names else None
    obj: dict[str, Any] = {
        "id": record.id,
        "object": "video",
        "model": stored.get("requested_model", record.model),
        "status": record.status,
        "progress": 100 if completed else int(record.progress),
        "created_at": int(record.created_at),
        "completed_at": int(record.completed_at) if record.completed_at and record.finished else None,
        "expires_at": int(expires) if expires else None,
        "prompt": record.prompt,
        "seconds": str(stored.get("seconds") or ""),
        "size": stored.get("size") or "",
        "remixed_from_video_id": stored.get("remixed_from_video_id"),
        "error": _error_object(record.error) if record.status == FAILED else None,
    }
    if completed and names:
        url = media_url(app[SETTINGS], app[MEDIA], public_base_url(request), names[0])
        obj["flow2api"] = {"url": url, "model": record.model}
    return obj


async def visible_video(request: web.Request, video_id: str | None = None, *, param: str = "video_id") -> TaskRecord:
    """The caller's video job ``video_id`` (default: the one named in the URL); 404 naming ``param`` for an
    unknown, deleted or someone else's job (never revealing which)."""
    video_id = video_id if video_id is not None else request.match_info["video_id"]
    record = await request.config_dict[TASKS].get(video_id)
    if record is None or record.surface != SURFACE or record.deleted_at is not None or record.owner != owner(request):
        raise NotFoundError(f"No video found with id '{video_id}'.", param=param)
    return record


async def _read_images(request: web.Request, body: VideoCreateRequest) -> list[InputImage]:
    """The create request's reference image(s): the uploaded file, or the URL / data URI fetched or decoded."""
    reader = input_reader(request)
    given: list[tuple[InputImage | str, str]] = [
        (decode_image(data, param=param, max_bytes=reader.max_bytes), param) for param, data in body.uploads()]
    url = body.url()
    if url:
        given.append((url, "input_reference"))
    return await reader.read_all(given)


@generation(VideoCreateRequest)
async def create_video(request: web.Request) -> web.Response:
    """``POST /v1/videos`` → the new job's video object (``queued``), or the existing one for a repeated key.

    Body: :class:`~flow2api.api.schemas.VideoCreateRequest`, parsed by the route
    stage. Errors: 400 missing ``prompt``/``model``, bad ``seconds`` or ``size``,
    an image model, ``file_id``; 404 unknown model; 403 model not allowed for the key; 409
    Idempotency-Key reused with another request; 413 oversized image; 503 no
    installed provider.
    """
    state = request[STATE]
    body, entry = state.request, state.entry
    assert isinstance(body, VideoCreateRequest) and entry is not None
    images = await _read_images(request, body)
    described = capabilities(request.config_dict[PROVIDERS], entry)
    fixed = described.get("duration_seconds")
    digest = request_hash({k: getattr(body, k) for k in ("model", "prompt", "seconds", "size")}, images)
    stored = {
        "requested_model": body.model, "seconds": str(body.seconds or fixed or ""),
        "size": body.size or size_of(described.get("aspect_ratio")),
        "summary": {**body.summary(), "input_reference": [f"<{i.mime_type}, {len(i.data)} bytes>" for i in images]},
    }
    return await queue_job(request, entry=entry, prompt=body.prompt, images=images, stored=stored, digest=digest)


async def queue_job(
    request: web.Request, *, entry: CatalogEntry, prompt: str, images: list[InputImage], stored: dict[str, Any],
    digest: str,
) -> web.Response:
    """Store a ``queued`` job of ``entry`` (its inputs on disk, ``stored`` plus them and the base URL as the row's
    ``request``) and hand it to the background runner → the video object; with an ``Idempotency-Key`` seen
    before, the stored job instead (same ``digest``) or 409 ``idempotency_key_reused``. 400 for a malformed key."""
    app = request.config_dict
    key = idempotency_key(request)
    if key is not None:
        existing = await app[TASKS].find_idempotent(owner(request), key)
        if existing is not None:
            return await _replay(request, existing, key, digest)
    task_id = f"video_{uuid.uuid4().hex}"
    names = await app[VIDEO_INPUTS].save(task_id, tuple(images))
    caller = request[STATE].caller
    try:
        await app[TASKS].create(
            task_id, kind=Kind.VIDEO.value, model=entry.id, prompt=prompt.strip(), surface=SURFACE,
            api_key=caller.name if caller else None, api_key_id=caller.key_id if caller else None,
            request={**stored, "inputs": names, "base_url": public_base_url(request)},
            idempotency_key=key, request_hash=digest, lease=app[VIDEO_JOBS].new_lease(),
        )
    except IdempotencyConflict as exc:  # a concurrent request with the same key won the race
        await app[VIDEO_INPUTS].delete(task_id)
        assert key is not None
        return await _replay(request, exc.existing, key, digest)
    app[VIDEO_JOBS].submit(task_id)
    record = await app[TASKS].get(task_id)
    assert record is not None
    return web.json_response(await video_object(request, record))


async def _replay(request: web.Request, existing: TaskRecord, key: str, digest: str) -> web.Response:
    if existing.request_hash != digest:
        raise conflict(key)
    return web.json_response(await video_object(request, existing), headers={"Idempotent-Replayed": "true"})


def size_of(aspect_ratio: Any) -> str:
    """``"1280x720"``/``"720x1280"`` for a landscape/portrait aspect (``VIDEO_ASPECT_RATIO_PORTRAIT`` …), else ""."""
    text = str(aspect_ratio or "").lower()
    return next((size for word, size in _ASPECT_SIZES.items() if word in text), "")


async def retrieve_video(request: web.Request) -> web.Response:
    """``GET /v1/videos/{video_id}`` → the video object; 404 when unknown, deleted or another key's."""
    return web.json_response(await video_object(request, await visible_video(request)))


async def list_videos(request: web.Request) -> web.Response:
    """``GET /v1/videos?after=&limit=&order=`` → ``{"object": "list", "data", "first_id", "last_id", "has_more"}``.

    ``limit`` 1–100 (default 20), ``order`` ``desc`` (newest first, default) or
    ``asc``; ``after`` is the last id of the previous page. Only the caller's jobs.
    """
    try:
        limit = int(request.query.get("limit", "20"))
    except ValueError:
        raise InvalidRequestError("'limit' must be an integer from 1 to 100.", param="limit") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequestError("'limit' must be an integer from 1 to 100.", param="limit")
    order = request.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequestError("'order' must be 'asc' or 'desc'.", param="order")
    records, has_more = await request.config_dict[TASKS].page(
        owner=owner(request), surface=SURFACE, after=request.query.get("after") or None, limit=limit, order=order,
    )
    data = list(await asyncio.gather(*(video_object(request, r) for r in records)))  # S3: the HEADs at once
    return web.json_response({
        "object": "list", "data": data, "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None, "has_more": has_more,
    })


async def video_content(request: web.Request) -> web.StreamResponse:
    """``GET /v1/videos/{video_id}/content[?variant=video|thumbnail]`` → the MP4 (``video/mp4``, Content-Length,
    Range) or a JPEG of its first frame (``thumbnail``, :mod:`flow2api.media.frames`).

    400 while the job is not completed, for ``spritesheet`` (not produced) or another variant; 404 when the
    file has left the media cache (``expires_at``).
    """
    record = await visible_video(request)
    variant = request.query.get("variant", "video")
    if variant not in ("video", "thumbnail"):
        raise InvalidRequestError(
            f"The '{variant}' variant is not available; 'video' and 'thumbnail' are produced.", param="variant")
    if record.status != SUCCEEDED:
        raise InvalidRequestError(f"The video is not ready (status {record.status}).", param="video_id")
    names = (record.result or {}).get("names") or []
    cache = request.config_dict[MEDIA]
    if variant == "thumbnail":
        video = await cache.read_bytes(names[0]) if names else None
        if video is None:
            raise NotFoundError("The video file has expired from the media cache.", param="video_id")
        return web.Response(body=await first_frame_jpeg(video), content_type="image/jpeg", headers={
            "Content-Disposition": f'inline; filename="{record.id}.jpg"', "X-Content-Type-Options": "nosniff"})
    response = await cache.respond(request, names[0], {
        "Content-Type": cache.mime_for(names[0]), "Content-Disposition": f'inline; filename="{record.id}.mp4"',
        "X-Content-Type-Options": "nosniff",
    }) if names else None
    if response is None:
        raise NotFoundError("The video file has expired from the media cache.", param="video_id")
    return response


async def delete_video(request: web.Request) -> web.Response:
    """``DELETE /v1/videos/{video_id}`` → ``{"id", "object": "video.deleted", "deleted": true}``.

    Only completed or failed jobs can be deleted (400 otherwise, as OpenAI);
    the cached file goes with it, the task row stays (soft delete) for statistics.
    """
    record = await visible_video(request)
    if not record.finished:
        raise InvalidRequestError("Only completed or failed videos can be deleted.", param="video_id")
    for name in (record.result or {}).get("names") or []:
        await request.config_dict[MEDIA].delete(name)
    await request.config_dict[TASKS].mark_deleted(record.id)
    return web.json_response({"id": record.id, "object": "video.deleted", "deleted": True})


def setup_video_routes(app: web.Application) -> None:
    """Register the Videos API on the ``/v1`` sub-app."""
    app.router.add_post("/videos", create_video)
    app.router.add_get("/videos", list_videos)
    app.router.add_get("/videos/{video_id}", retrieve_video)
    app.router.add_get("/videos/{video_id}/content", video_content)
    app.router.add_delete("/videos/{video_id}", delete_video)

