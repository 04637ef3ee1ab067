"""The storyboards API under ``/v1`` (behind the gateway's auth and rate limits; errors in OpenAI's shape).

=======  ==============================================  ===========================================
POST     /v1/storyboards                                 create (202, planned and generated in the background)
GET      /v1/storyboards?after=&limit=                   the key's own, newest first (OpenAI list + cursor)
GET      /v1/storyboards/{id}                            one storyboard object
DELETE   /v1/storyboards/{id}                            remove it and its images
POST     /v1/storyboards/{id}/scenes/{index}/regenerate  ``{"prompt"?}`` → 202
POST     /v1/storyboards/{id}/approve                    ``{"scenes": [0, 2]}`` or ``{"all": true}``
POST     /v1/storyboards/{id}/scenes/{index}/animate     ``{"model"?, "prompt"?}`` → 202, the scene's clip queued
GET      /v1/storyboards/{id}/download[?scenes=all]      the ZIP (approved scenes, or every scene with an image)
=======  ==============================================  ===========================================

A key sees only its own storyboards: another key's id is a 404, as an unknown one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from flow2api.errors import ConflictError, InvalidRequestError, ModelNotFoundError
from flow2api_storyboard.archive import build_zip, open_members, zip_chunks
from flow2api_storyboard.model import MAX_SCENES, Storyboard
from flow2api_storyboard.service import StoryboardService

log = logging.getLogger(__name__)

SIZE_PATTERN = r"^\d{2,5}x\d{2,5}$"


class UnknownModelError(InvalidRequestError):
    """The ``model`` of a storyboard is not in the catalog: a 400 here, the storyboard's input being wrong."""

    code = "model_not_found"


class CreateStoryboard(BaseModel):
    """``POST /v1/storyboards`` body (issue 20 §1); unknown fields are refused (400 naming the field)."""

    model_config = ConfigDict(extra="forbid")

    story: StrictStr
    scenes: StrictInt | None = Field(None, ge=1, le=MAX_SCENES)
    style: StrictStr | None = Field(None, max_length=500)
    model: StrictStr | None = Field(None, min_length=1)
    size: StrictStr | None = Field(None, pattern=SIZE_PATTERN)
    consistent_characters: StrictBool = True


class Regenerate(BaseModel):
    """``POST …/regenerate`` body: an optional new image ``prompt``."""

    model_config = ConfigDict(extra="forbid")

    prompt: StrictStr | None = Field(None, min_length=1, max_length=4000)


class Animate(BaseModel):
    """``POST …/animate`` body: an image-to-video ``model`` (id or alias; default ``[storyboard] video_model``) and
    a ``prompt`` for the motion (default: the scene's image prompt)."""

    model_config = ConfigDict(extra="forbid")

    model: StrictStr | None = Field(None, min_length=1)
    prompt: StrictStr | None = Field(None, min_length=1, max_length=4000)


class Approve(BaseModel):
    """``POST …/approve`` body: ``scenes`` (indexes) or ``all: true``."""

    model_config = ConfigDict(extra="forbid")

    scenes: list[StrictInt] | None = Field(None, min_length=1)
    all: StrictBool = False


def parse(model: type[BaseModel], data: Any) -> Any:
    """``data`` validated as ``model``; a ``ValidationError`` becomes a 400 naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidRequestError(f"Invalid '{param}': {first['msg']}." if param else first["msg"], param=param) from None


async def read_body(request: web.Request, *, allow_empty: bool = False) -> dict[str, Any]:
    """The JSON object body; 400 when it is not one (an empty body is ``{}`` when ``allow_empty``)."""
    raw = await request.read()
    if not raw.strip() and allow_empty:
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequestError("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    return body


def validate_create(service: StoryboardService, fields: CreateStoryboard) -> tuple[str, str]:
    """The stripped story and the resolved model id; 400 for an empty or too long story, an unknown or non-image
    model (``ModelNotFoundError`` becomes a 400: the storyboard's own input is wrong)."""
    story = fields.story.strip()
    if not story:
        raise InvalidRequestError("'story' must not be empty.", param="story")
    limit = service.config.max_story_chars
    if len(story) > limit:
        raise InvalidRequestError(f"'story' is too long: {len(story)} characters, at most {limit} are accepted"
                                  " ([storyboard] max_story_chars).", param="story")
    try:
        model = service.jobs.image_model(fields.model or service.config.image_model, size=fields.size)
    except ModelNotFoundError as exc:
        raise UnknownModelError(exc.message, param="model") from None
    return story, model.id


def validate_video_model(service: StoryboardService, model: str | None, size: str | None) -> str:
    """The resolved id of a clip's video ``model`` (default ``[storyboard] video_model``; ``size``, the
    storyboard's, picks an alias's aspect); 400 for an unknown model, an image model or one that cannot start
    from one image (text-to-video only, or two frames needed)."""
    try:
        found = service.jobs.video_model(model or service.config.video_model, size=size)
    except ModelNotFoundError as exc:
        raise UnknownModelError(exc.message, param="model") from None
    if found.min_images > 1 or found.max_images == 0:
        raise InvalidRequestError(
            f"The model '{found.id}' cannot animate one image (it takes {found.min_images}–{found.max_images} input"
            " images); choose an image-to-video model.", param="model")
    return found.id


class StoryboardApi:
    """The handlers of the routes in the module docstring, over one :class:`StoryboardService`."""

    def __init__(self, service: StoryboardService) -> None:
        self.service = service
        self.jobs = service.jobs

    def _object(self, request: web.Request, board: Storyboard) -> dict[str, Any]:
        base = self.jobs.base_url(request)
        return board.public(lambda name: self.jobs.media_url(name, base))

    def _owner(self, request: web.Request) -> str:
        return self.jobs.caller(request).owner

    async def create(self, request: web.Request) -> web.Response:
        """``POST /v1/storyboards`` → 202 the storyboard (``planning``). Errors: 400 (bad field, empty or too long
        story, unknown or video model), 403 (model not allowed for the key)."""
        fields = parse(CreateStoryboard, await read_body(request))
        story, model = validate_create(self.service, fields)
        board = await self.service.create(
            self.jobs.caller(request), story=story, style=fields.style, model=model, size=fields.size,
            scenes=fields.scenes, consistent_characters=fields.consistent_characters,
        )
        return web.json_response(self._object(request, board), status=202)

    async def retrieve(self, request: web.Request) -> web.Response:
        """``GET /v1/storyboards/{id}`` → the storyboard object; 404 for an unknown one or another key's."""
        board = await self.service.load(request.match_info["id"], self._owner(request))
        return web.json_response(self._object(request, board))

    async def list(self, request: web.Request) -> web.Response:
        """``GET /v1/storyboards?after=&limit=`` (1–100, default 20) → ``{"object": "list", "data", "first_id",
        "last_id", "has_more"}``, newest first."""
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            raise InvalidRequestError("'limit' must be an integer from 1 to 100.", param="limit")
        rows, more = await self.service.store.page(self._owner(request), after=request.query.get("after"), limit=limit)
        data = [self._object(request, Storyboard.model_validate(r.data)) for r in rows]
        return web.json_response({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                                  "last_id": data[-1]["id"] if data else None, "has_more": more})

    async def delete(self, request: web.Request) -> web.Response:
        """``DELETE /v1/storyboards/{id}`` → ``{"id", "object": "storyboard.deleted", "deleted": true}``."""
        sb_id = request.match_info["id"]
        await self.service.delete(sb_id, self._owner(request))
        return web.json_response({"id": sb_id, "object": "storyboard.deleted", "deleted": True})

    async def regenerate(self, request: web.Request) -> web.Response:
        """``POST /v1/storyboards/{id}/scenes/{index}/regenerate`` ``{"prompt"?}`` → 202 the storyboard;
        404 unknown scene, 409 while the scene is still queued or generating."""
        fields = parse(Regenerate, await read_body(request, allow_empty=True))
        board = await self.service.regenerate(request.match_info["id"], scene_index(request), fields.prompt,
                                              self._owner(request))
        return web.json_response(self._object(request, board), status=202)

    async def approve(self, request: web.Request) -> web.Response:
        """``POST /v1/storyboards/{id}/approve`` ``{"scenes": [...]}`` | ``{"all": true}`` → the storyboard;
        400 without either, 409 for a scene without an image."""
        fields = parse(Approve, await read_body(request))
        if not fields.all and fields.scenes is None:
            raise InvalidRequestError("Send 'scenes' (a list of scene indexes) or 'all': true.", param="scenes")
        board = await self.service.approve(request.match_info["id"], None if fields.all else fields.scenes,
                                           self._owner(request))
        return web.json_response(self._object(request, board))

    async def animate(self, request: web.Request) -> web.Response:
        """``POST /v1/storyboards/{id}/scenes/{index}/animate`` ``{"model"?, "prompt"?}`` → 202 the storyboard with
        the scene's ``clip`` queued (a Videos API job, ``clip.video_id``, once generating). 400 bad field or
        model, 404 unknown storyboard or scene, 409 scene not approved or its clip still being generated."""
        fields = parse(Animate, await read_body(request, allow_empty=True))
        sb_id, owner = request.match_info["id"], self._owner(request)
        board = await self.service.load(sb_id, owner)
        model = validate_video_model(self.service, fields.model, board.size)
        board = await self.service.animator.animate(sb_id, scene_index(request), model=model, prompt=fields.prompt,
                                                    owner=owner)
        return web.json_response(self._object(request, board), status=202)

    async def download(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1/storyboards/{id}/download[?scenes=all]`` → ``application/zip`` (see :mod:`.archive`);
        409 when no scene qualifies."""
        board = await self.service.load(request.match_info["id"], self._owner(request))
        return await stream_zip(request, self.service, board, everything=request.query.get("scenes") == "all")

    def routes(self) -> list[web.RouteDef]:
        """The route table (paths relative to ``/v1``)."""
        return [
            web.post("/storyboards", self.create), web.get("/storyboards", self.list),
            web.get("/storyboards/{id}", self.retrieve), web.delete("/storyboards/{id}", self.delete),
            web.post("/storyboards/{id}/scenes/{index}/regenerate", self.regenerate),
            web.post("/storyboards/{id}/scenes/{index}/animate", self.animate),
            web.post("/storyboards/{id}/approve", self.approve), web.get("/storyboards/{id}/download", self.download),
        ]


def scene_index(request: web.Request) -> int:
    """The ``{index}`` of the URL; 400 when it is not an integer."""
    try:
        return int(request.match_info["index"])
    except ValueError:
        raise InvalidRequestError("The scene index must be an integer.", param="index") from None


async def stream_zip(request: web.Request, service: StoryboardService, board: Storyboard, *,
                     everything: bool) -> web.StreamResponse:
    """Send ``board``'s ZIP (approved scenes, or all with an image when ``everything``) as it is built, each file
    streamed from the media store in chunks (:mod:`flow2api_storyboard.archive`). 409 when no scene qualifies;
    a file that cannot be read once the ZIP has begun drops the connection (logged), the client's ZIP truncated."""
    async with contextlib.AsyncExitStack() as opened:
        images, clips = await open_members(service.jobs, board, opened, everything=everything)
        if not images:
            raise ConflictError("No scene to download: approve scenes first, or ask for ?scenes=all.", param="scenes")
        response = web.StreamResponse(headers={
            "Content-Type": "application/zip", "Content-Disposition": f'attachment; filename="{board.id}.zip"',
        })
        await response.prepare(request)
        stream = build_zip(board, images, clips, asyncio.get_running_loop())
        try:
            async with contextlib.aclosing(zip_chunks(stream)) as chunks:  # closed before the members it reads
                async for chunk in chunks:
                    await response.write(chunk)
        except ConnectionResetError:  # the client hung up (aiohttp's write error is one)
            raise
        except OSError as exc:
            # A file gone since it was opened (the storyboard deleted meanwhile) or the store failing, after the
            # status line was sent: no error body can follow. The connection is dropped, so the client sees a
            # truncated ZIP at once; a 500 rendered now by the errors middleware would corrupt the chunked body.
            log.warning("storyboard %s: download cut short, a file could not be read: %s", board.id,
                        exc.strerror or exc)
            raise ConnectionResetError("storyboard download cut short") from exc
        await response.write_eof()
        return response
