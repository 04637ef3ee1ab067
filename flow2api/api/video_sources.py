"""Videos API jobs made from an existing video: remix, edits, extensions (OpenAI API reference "Videos").

Endpoints on the ``/v1`` sub-app::

    POST /v1/videos/{video_id}/remix   {"prompt"}: a new video from a completed one of ours, with a new prompt
    POST /v1/videos/edits              {"prompt", "video": {"id"} | file, "model"?}: an edit of ours or of a file
    POST /v1/videos/extensions         {"prompt", "video": {"id"}, "seconds", "model"?}: the video continued

Each answers the new job's video object (``queued``) and runs exactly like
``POST /v1/videos``: a task row before anything goes upstream, the background
runner (:mod:`flow2api.jobs.runner`), resumed after a restart, ``Idempotency-Key``
honoured (:func:`flow2api.api.videos.queue_job`).

**Which model.** A remix is an edit of the source (flow.google.com's ``jIps6``,
spec §14.1). Without a ``model`` the source's account family picks its own:
among the catalog's enabled video models, one with a route of that family that
can do the operation (``edit``; for ``extend`` a route whose provider describes
``sub_kind: extend``, since every route without an ``operations`` list accepts
``extend``), preferring the source's aspect ratio and resolution. A family with
no such model (labs has no video edit) is a 400 naming the operation. A given
``model`` must be able to do the operation (400 otherwise, from the catalog).

**Where it runs.** A source of ours lives in the upstream project of the account
that made it, so the job is pinned to that account (``owner_account_id`` in the
row); an owner that is gone or disabled is a 400 ``media_owner_unavailable``
before anything is charged. An uploaded file (edits only) runs on any account
that serves the model; without a ``model`` its aspect (read with PyAV) picks
the edit model.

**Extension length.** OpenAI's request ``seconds`` is the extension's length
and the video object's ``seconds`` the stitched total; the issue asks for the
stitched total. Both are accepted when they match what the model does (source
length + the extension model's fixed length); anything else is a 400 naming
both values. The answer's ``seconds`` is the stitched total.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from flow2api.api.inputs import decode_video
from flow2api.api.schemas.video_edits import PARAM, VideoEditRequest, VideoExtendRequest, VideoRemixRequest
from flow2api.api.schemas.videos import capabilities
from flow2api.api.videos import queue_job, request_hash, size_of, visible_video
from flow2api.catalog import CATALOG, CatalogEntry
from flow2api.catalog.model import OPERATION_TEXT, Route
from flow2api.discovery import PROVIDERS
from flow2api.errors import InvalidRequestError, MediaOwnerUnavailableError
from flow2api.media.frames import video_shape
from flow2api.pipeline.route import request_hints, resolve_entry
from flow2api.plugin import InputImage, Kind, Provider
from flow2api.pool import POOL
from flow2api.request_state import STATE
from flow2api.settings import SETTINGS
from flow2api.storage.tasks import SUCCEEDED, TaskRecord

log = logging.getLogger(__name__)

EDIT, EXTEND = "edit", "extend"
_VERB = {EDIT: "edited", EXTEND: "extended"}


@dataclass(frozen=True, slots=True)
class Source:
    """The video a job starts from: a completed job of ours (``record``, its upstream ``media_id``, the owning
    account and its family) or an uploaded file (``upload``); ``like`` is what its model should resemble
    (``aspect_ratio``, ``resolution`` as providers describe them); ``seconds`` its length when known."""

    record: TaskRecord | None = None
    media_id: str | None = None
    account_id: int | None = None
    family: str | None = None
    upload: InputImage | None = None
    like: Mapping[str, Any] | None = None
    seconds: float | None = None


async def source_of(request: web.Request, video_id: str, operation: str, *, param: str) -> Source:
    """The caller's completed video ``video_id`` as a :class:`Source`: 404 (``param``) for none of the caller's,
    400 while it is not completed, 400 ``media_owner_unavailable`` when its account is gone or disabled."""
    record = await visible_video(request, video_id, param=param)
    if record.status != SUCCEEDED:
        raise InvalidRequestError(f"The video '{video_id}' is {record.status}; only a completed video can be "
                                  f"{_VERB[operation]}.", param=param)
    media_id = next(iter((record.result or {}).get("upstream_ids") or []), None)
    if not media_id:
        raise InvalidRequestError(f"Flow gave no media id for the video '{video_id}', so it cannot be "
                                  f"{_VERB[operation]}.", param=param)
    app = request.config_dict
    pool = app[POOL]
    owner = next((a for a in pool.records() if a.id == record.account_id), None)
    if owner is None or not owner.enabled or owner.family not in pool.families:
        why = "no longer exists" if owner is None else "is disabled" if not owner.enabled else "has no installed family"
        raise MediaOwnerUnavailableError(
            f"The video '{video_id}' lives in the upstream project of account {record.account_id}, which {why}; "
            "no other account can reach it.", param=param)
    entry = app[CATALOG].current.entries.get(record.model)
    described = capabilities(app[PROVIDERS], entry) if entry is not None else {}
    stored = str((record.request or {}).get("seconds") or described.get("duration_seconds") or "")
    return Source(record=record, media_id=str(media_id), account_id=owner.id, family=owner.family,
                  like=described, seconds=float(stored) if stored.replace(".", "", 1).isdigit() else None)


async def upload_source(request: web.Request, data: bytes | str) -> Source:
    """An uploaded (or data-URI) video as a :class:`Source`; 400/413 naming ``video`` when it is not one."""
    video = decode_video(data, param=PARAM, max_bytes=request.config_dict[SETTINGS].current.server.max_body_bytes)
    shape = await video_shape(video.data)
    aspect = "portrait" if shape.portrait else "landscape"
    return Source(upload=video, like={"aspect_ratio": aspect, "resolution": None}, seconds=shape.seconds)


def _aspect(described: Mapping[str, Any]) -> str:
    """``portrait`` / ``landscape`` (or the value itself) from a described ``aspect_ratio`` such as
    ``VIDEO_ASPECT_RATIO_PORTRAIT``: providers spell it their own way."""
    text = str(described.get("aspect_ratio") or "").lower()
    return next((word for word in ("portrait", "landscape", "square") if word in text), text)


def _does(providers: Mapping[str, Provider], route: Route, operation: str, family: str | None) -> bool:
    """Whether ``route`` can do ``operation`` on a video of ``family`` (any family when ``None``)."""
    provider = providers.get(route.provider)
    if provider is None or route.options is None or operation not in route.operations:
        return False
    if family is not None and provider.family.name != family:
        return False
    return operation != EXTEND or provider.describe(route.options).get("sub_kind") == EXTEND


def choose_model(request: web.Request, body: VideoRemixRequest, operation: str, source: Source) -> CatalogEntry:
    """The catalog entry the job runs on (module docstring, "Which model"), set as ``state.entry``; 400 naming
    the operation when none can, 404 for an unknown ``model``, 403 for one the key may not use."""
    app = request.config_dict
    providers = app[PROVIDERS]
    requested = getattr(body, "model", None)
    if requested:
        entry = resolve_entry(request, requested, request_hints(app[CATALOG].current, requested, body))
        if entry.kind is not Kind.VIDEO:
            raise InvalidRequestError(f"The model '{entry.id}' makes images, not videos.", param="model")
        entry.for_operation(operation)  # 400 naming the operation when no route can
        if not any(_does(providers, r, operation, source.family) for r in entry.routes):
            raise InvalidRequestError(f"The model '{entry.id}' cannot {OPERATION_TEXT[operation]} made on a "
                                      f"{source.family} account (operation '{operation}').", param="model")
    else:
        request[STATE].catalog = catalog = app[CATALOG].current
        like = source.like or {}
        candidates = [e for e in catalog.public_entries() if e.kind is Kind.VIDEO
                      and any(_does(providers, r, operation, source.family) for r in e.routes)]
        if not candidates:
            made = f"the model '{source.record.model}'" if source.record else "an uploaded video"
            raise InvalidRequestError(
                f"No model of {made}'s family can {OPERATION_TEXT[operation]} (operation '{operation}'); "
                "pick a video of a family that can.", param="video_id" if source.record else PARAM)

        def likeness(entry: CatalogEntry) -> int:
            described = capabilities(providers, entry)
            # the aspect first (a portrait source stays portrait), then the resolution
            return 2 * (_aspect(described) == _aspect(like)) + (described.get("resolution") == like.get("resolution"))

        entry = max(candidates, key=likeness)  # the first in file order among the best
        request[STATE].entry = entry
    caller = request[STATE].caller
    if caller is not None:
        caller.check_model(entry.id)
    return entry


def _extension_seconds(request: web.Request, entry: CatalogEntry, source: Source, given: str) -> str:
    """The stitched total for an extension request's ``seconds`` (module docstring); 400 when it fits neither."""
    fixed = capabilities(request.config_dict[PROVIDERS], entry).get("duration_seconds")
    if not fixed or source.seconds is None:
        return given
    total = source.seconds + float(fixed)
    if float(given) not in (float(fixed), total):
        raise InvalidRequestError(
            f"The model '{entry.id}' adds {fixed:g} s to this {source.seconds:g} s video: send seconds "
            f'"{total:g}" (the stitched total) or "{fixed:g}" (the extension), not "{given}".', param="seconds")
    return f"{total:g}"


async def _queue(request: web.Request, body: VideoRemixRequest, operation: str, source: Source, *,
                 endpoint: str, seconds: str | None = None) -> web.Response:
    """Choose the model, store the job (pinned to the source's owner) and answer its video object."""
    entry = choose_model(request, body, operation, source)
    record = source.record
    if isinstance(body, VideoExtendRequest):
        seconds = _extension_seconds(request, entry, source, str(body.seconds))
    elif seconds is None and source.seconds is not None:
        seconds = f"{source.seconds:g}"
    images = [source.upload] if source.upload is not None else []
    canonical = {"endpoint": endpoint, "source": record.id if record else None, "prompt": body.prompt,
                 "model": getattr(body, "model", None), "seconds": seconds, "size": getattr(body, "size", None)}
    stored: dict[str, Any] = {
        "requested_model": getattr(body, "model", None) or entry.id, "seconds": seconds or "",
        "size": (record.request or {}).get("size") if record else "",
        "operation": operation, "source_media_id": source.media_id, "owner_account_id": source.account_id,
        "source_video_id": record.id if record else None, "summary": body.summary(),
    }
    stored["size"] = stored["size"] or size_of(capabilities(request.config_dict[PROVIDERS], entry).get("aspect_ratio"))
    if endpoint == "remix":
        stored["remixed_from_video_id"] = record.id if record else None
    log.info("videos %s: %s of %s with %s%s", endpoint, operation, record.id if record else "an upload", entry.id,
             f" on account {source.account_id}" if source.account_id is not None else "")
    return await queue_job(request, entry=entry, prompt=body.prompt, images=images, stored=stored,
                           digest=request_hash(canonical, images))


async def remix_video(request: web.Request) -> web.Response:
    """``POST /v1/videos/{video_id}/remix`` (OpenAI "Remix video") → the new job (``queued``, with
    ``remixed_from_video_id``): an edit of the completed source with the new ``prompt`` (module docstring).

    Errors: 400 empty prompt, source not completed, its family cannot edit (naming the operation),
    ``media_owner_unavailable``; 404 no such video of the caller's; 409 Idempotency-Key reused.
    """
    body = await VideoRemixRequest.read(request)
    request[STATE].request = body
    source = await source_of(request, request.match_info["video_id"], EDIT, param="video_id")
    return await _queue(request, body, EDIT, source, endpoint="remix")


async def edit_video(request: web.Request) -> web.Response:
    """``POST /v1/videos/edits`` (OpenAI "Create video edit", LiteLLM video edits) → the new job (``queued``).

    Body (multipart as the SDK sends it, or JSON): ``prompt``, ``video`` (``{"id"}`` of a completed video of
    the caller's, an MP4/MOV/WebM file, or in JSON a data URI), ``model`` (optional, must edit). Errors as
    for remix, plus 400/413 for a video file that is not one or too large.
    """
    body = await VideoEditRequest.read(request)
    request[STATE].request = body
    video_id = body.source_id()
    upload = body.upload()
    source = (await source_of(request, video_id, EDIT, param="video.id") if video_id is not None
              else await upload_source(request, upload or b""))
    return await _queue(request, body, EDIT, source, endpoint="edits")


async def extend_video(request: web.Request) -> web.Response:
    """``POST /v1/videos/extensions`` (OpenAI "Create video extension", LiteLLM video extensions) → the new job.

    Body: ``prompt``, ``video`` (``{"id"}`` of a completed video of the caller's), ``seconds`` (the extension's
    length or the stitched total; see the module docstring), ``model`` (optional, must extend). Errors as for
    remix, plus 400 for ``seconds`` the model cannot make and for an uploaded file.
    """
    body = await VideoExtendRequest.read(request)
    request[STATE].request = body
    video_id = body.source_id()
    assert video_id is not None  # VideoExtendRequest.check refuses uploads
    source = await source_of(request, video_id, EXTEND, param="video.id")
    return await _queue(request, body, EXTEND, source, endpoint="extensions")


def setup_video_source_routes(app: web.Application) -> None:
    """Register remix, edits and extensions on the ``/v1`` sub-app."""
    app.router.add_post("/videos/edits", edit_video)
    app.router.add_post("/videos/extensions", extend_video)
    app.router.add_post("/videos/{video_id}/remix", remix_video)
