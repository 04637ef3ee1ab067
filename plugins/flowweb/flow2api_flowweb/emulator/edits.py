"""Video edit (``jIps6``) and the resumable video upload of the emulator (spec §14.1, §14.2).

``jIps6`` is checked like the other submits (the captured layout, reCAPTCHA action ``VIDEO_GENERATION``, a
trailer ``[uuid, 2]``): the source must be a finished video or an uploaded video **of this account and
of the context's project**, the frame range ``0 ≤ start < end ≤ ⌈seconds × 24⌉`` (the 24 fps reading,
§13), the OutputSpec ``[4]`` at slot 12 with ``abra_edit_360p`` and absent at 720p, at most one
reference (``[[null, id]]`` at slot 8, an image uploaded into the project). Costs: 10 credits at 360p
(measured), 12 at 720p (invented).

The upload is ``POST /upload/v1/flow/upload/video/<pid>`` (start, no query, signed-in cookies, the
project the account's) then chunks to the session URL: ``X-Goog-Upload-Offset`` must equal the bytes
received, every non-final chunk a multiple of ``upload_granularity``, the total the declared length and
the bytes an MP4/QuickTime (``ftyp``) or WebM. The final answer is the JSON of §14.2; the video is media of
kind ``video_upload`` in status 1 (ready) whose ``as29s`` record carries its length.
"""

from __future__ import annotations

import io
import math
import secrets
import uuid
from typing import Any

from aiohttp import web
from mutagen import MutagenError
from mutagen.mp4 import MP4

from .app import emulator_of, request_account
from .rpc import RpcContext, array, expect, nulls, rpc
from .state import Media
from .videos import _frame, _key_and_aspect, _metadata, _prompt, _submit
from .wire import RpcError

EDIT_KEYS = frozenset({"abra_edit", "abra_edit_360p"})
EDIT_COSTS = {"abra_edit": 12, "abra_edit_360p": 10}
UPLOAD_PREFIX = "/upload/v1/flow/upload/video/"
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})


@rpc("jIps6")
async def edit_video(rc: RpcContext) -> Any:
    """ITEM = ``[[null, source, start, end], P, key, aspect, M, null×3, [[null, ref]]?, null×3, [4]?]`` (spec §14.1)."""
    trailer = array(array(rc.args, "args", length=3)[2], "args[2]", length=2)
    expect(trailer[1] == 2, "args[2][1] must be 2 for jIps6")

    def item(it: list, where: str, project: str | None):  # noqa: ANN202
        array(it, where, min_len=5, max_len=13)
        key, aspect = _key_and_aspect(rc, it[2], it[3], where, EDIT_KEYS)
        expect(aspect in (1, 2), f"{where}[3]: an edit's aspect is 1 or 2")
        source = _source(rc, it[0], f"{where}[0]", project)
        prompt = _prompt(it[1], f"{where}[1]")
        ids = _metadata(rc, it[4], f"{where}[4]")
        nulls(it, (5, 6, 7, 9, 10, 11), where)
        if len(it) > 8 and it[8] is not None:
            refs = array(it[8], f"{where}[8]", min_len=1, max_len=1)
            _frame(rc, array(refs[0], f"{where}[8][0]", length=2), f"{where}[8][0]", project)
        else:
            expect(len(it) in (5, 13), f"{where}: without references the item ends at slot 4 (or OutputSpec at 12)")
        if key.endswith("_360p"):
            expect(len(it) == 13 and it[12] == [4], f"{where}[12] must be OutputSpec [4] for {key}")
        else:
            expect(len(it) <= 9, f"{where}: a 720p edit has no OutputSpec (slots after 8)")
        seconds = source[1]
        return prompt, key, aspect, {"source": source[0].id, "seconds": seconds, **ids}

    return await _submit(rc, item, costs=EDIT_COSTS)


def _source(rc: RpcContext, value: Any, where: str, project: str | None) -> tuple[Media, float]:
    """The edited media and the length of the range: ownership, project, state and frame bounds."""
    src = array(value, where, length=4)
    expect(src[0] is None, f"{where}[0] must be null")
    media = rc.emulator.world.owned(src[1], rc.email, ("video", "video_upload"))
    if media is None:
        raise RpcError(5, f"{where}[1]: source video not found for this account")
    expect(media.project == project, f"{where}[1]: the source is in another project")
    ready = media.status == 1 if media.kind == "video_upload" else media.status == 3 and media.failure is None
    expect(ready, f"{where}[1]: the source video is not finished")
    start, end = src[2], src[3]
    limit = math.ceil(media.duration_s * 24)
    expect(isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= limit,
           f"{where}: frames must be 0 <= start < end <= {limit} (24 fps)")
    return media, (end - start) / 24


def _seconds(data: bytes) -> float | None:
    try:
        return float(MP4(io.BytesIO(data)).info.length) or None
    except (MutagenError, ValueError, KeyError):
        return None


def _failure(status: int, detail: str) -> web.Response:
    return web.Response(status=status, text=detail, headers={"X-Emulator-Detail": detail})


async def upload_video(request: web.Request) -> web.Response:
    """``POST /upload/v1/flow/upload/video/{project}``: start a session, or a chunk of one (``?upload_id=``)."""
    emulator = emulator_of(request)
    account = request_account(request)
    if account is None or not account.cookies_valid:
        return _failure(401, "no signed-in Google session in the cookies")
    project = request.match_info["project"]
    owned = emulator.world.projects.get(project)
    if owned is None or owned.owner != account.email:
        return _failure(404, "project not found for this account")
    if request.headers.get("X-Goog-Upload-Protocol") != "resumable":
        return _failure(400, "X-Goog-Upload-Protocol: resumable missing")
    body = await request.read()
    if "upload_id" not in request.query:
        return _start(request, account.email, project, body)
    session = emulator.world.uploads.get(request.query["upload_id"])
    if session is None or session["owner"] != account.email or session["project"] != project:
        return _failure(404, "upload session not found")
    command = request.headers.get("X-Goog-Upload-Command", "")
    if command not in ("upload", "upload, finalize", "finalize"):
        return _failure(400, f"unknown X-Goog-Upload-Command {command!r}")
    if request.headers.get("X-Goog-Upload-Offset") != str(len(session["data"])):
        return _failure(400, f"X-Goog-Upload-Offset must be {len(session['data'])}")
    granularity = emulator.settings.upload_granularity
    if command == "upload" and (not body or len(body) % granularity):
        return _failure(400, f"a non-final chunk must be a non-empty multiple of {granularity} bytes")
    session["data"] += body
    if command == "upload":
        return web.Response(headers={"X-Goog-Upload-Status": "active",
                                     "X-Goog-Upload-Size-Received": str(len(session["data"]))})
    return _finish(request, session)


def _start(request: web.Request, owner: str, project: str, body: bytes) -> web.Response:
    emulator = emulator_of(request)
    headers = request.headers
    length, mime = headers.get("X-Goog-Upload-Header-Content-Length", ""), headers.get("X-Goog-Upload-Header-Content-Type")
    problems = [text for bad, text in (
        (headers.get("X-Goog-Upload-Command") != "start", "X-Goog-Upload-Command must be start"),
        (bool(request.query_string), "the start has no query string"),
        (bool(body), "the start has an empty body"),
        (not (length.isdigit() and int(length) > 0), "X-Goog-Upload-Header-Content-Length must be the total bytes"),
        (mime not in VIDEO_TYPES, "X-Goog-Upload-Header-Content-Type must be a video type"),
        (not headers.get("Slug"), "Slug (the file name) missing"),
        ("X-Framework-Xsrf-Token" in headers and headers["X-Framework-Xsrf-Token"] != emulator.account(owner).at,
         "X-Framework-Xsrf-Token is not the page's at"),
    ) if bad]
    if problems:
        return _failure(400, "; ".join(problems))
    upload_id = secrets.token_urlsafe(24)
    emulator.world.uploads[upload_id] = {"owner": owner, "project": project, "total": int(length), "mime": mime,
                                         "name": headers["Slug"], "data": b""}
    url = f"{request.url.origin()}{UPLOAD_PREFIX}{project}?upload_id={upload_id}&upload_protocol=resumable"
    return web.Response(headers={"X-Goog-Upload-Status": "active", "X-Goog-Upload-URL": url,
                                 "X-Goog-Upload-Control-URL": url,
                                 "X-Goog-Upload-Chunk-Granularity": str(emulator.settings.upload_granularity)})


def _finish(request: web.Request, session: dict[str, Any]) -> web.Response:
    emulator = emulator_of(request)
    data: bytes = session["data"]
    if len(data) != session["total"]:
        return _failure(400, f"received {len(data)} bytes, the start declared {session['total']}")
    webm = session["mime"] == "video/webm"
    if (webm and not data.startswith(b"\x1a\x45\xdf\xa3")) or (not webm and data[4:8] != b"ftyp"):
        return _failure(400, "the bytes are not the declared video type")
    seconds = 8.0 if webm else _seconds(data)
    if seconds is None:
        return _failure(400, "the MP4 has no readable duration")
    media = emulator.world.add_media(Media(
        id=str(uuid.uuid4()), kind="video_upload", owner=session["owner"], project=session["project"],
        workflow_id=str(uuid.uuid4()), created=emulator.clock(), mime_type=session["mime"], status=1,
        duration_s=seconds, prompt=session["name"],
    ))
    answer = {"mediaId": media.id, "media": {"name": media.id, "projectId": media.project, "mediaType": "VIDEO"},
              "workflow": {"name": media.workflow_id, "metadata": {"displayName": session["name"]}},
              "sizeBytes": len(data), "durationSeconds": seconds}
    return web.json_response(answer, headers={"X-Goog-Upload-Status": "final"})
