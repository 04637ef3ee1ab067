"""A user's video into a Flow project: Google's resumable upload on the Flow host (spec §14.2).

Not a batchexecute RPC and no reCAPTCHA token: under the page's cookies,

1. ``POST {origin}/upload/v1/flow/upload/video/<pid>`` with ``X-Goog-Upload-Protocol: resumable``,
   ``X-Goog-Upload-Command: start``, the total length and MIME type (``X-Goog-Upload-Header-*``),
   ``Slug`` (the percent-encoded file name) and ``X-Framework-Xsrf-Token`` (the page's ``at``) → 200 with
   ``X-Goog-Upload-URL`` and ``X-Goog-Upload-Chunk-Granularity``;
2. the bytes to that session URL in chunks of ``[flowweb] upload_chunk_bytes`` rounded down to the
   granularity (``upload`` + ``X-Goog-Upload-Offset``), the last one ``upload, finalize``;
3. the final answer ``{"mediaId", "media": {"name", "projectId"}, "workflow": {"name"}}``, accepted only when
   ``mediaId == media.name`` is a UUID and ``projectId`` is the path's project (qzent's check).

The session URL must be on the Flow origin and the same path (cookies never go to another host). The
local limits are :func:`check_video`'s. Always sent directly over HTTP, whatever ``[flowweb] executor``
says (like account management); the browser extension does not carry uploads.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import aiohttp
from mutagen import MutagenError
from mutagen.mp4 import MP4

from flow2api.errors import (
    CredentialRejectedError,
    InvalidRequestError,
    PayloadTooLargeError,
    UpstreamProtocolError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from flow2api.plugin import AccountSession, AccountUpdate
from flow2api_flowweb.config import FlowWebConfig
from flow2api_flowweb.cookies import absorb_set_cookies, cookie_header, dump_jar, load_jar
from flow2api_flowweb.envelope import UUID_RE

UPLOAD_PATH = "/upload/v1/flow/upload/video/{project}"
#: MIME types qzent's wire client sends (spec §14.2); the duration is read for MP4/QuickTime.
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})


@dataclass(frozen=True, slots=True)
class UploadedVideo:
    """What the final answer names: the new media id, its project and workflow."""

    media_id: str
    project_id: str
    workflow_id: str | None


def video_seconds(data: bytes) -> float | None:
    """The length of an MP4/QuickTime file in seconds from its ``moov`` header (mutagen), ``None`` if unreadable."""
    try:
        length = MP4(io.BytesIO(data)).info.length
    except (MutagenError, ValueError, KeyError):
        return None
    return float(length) if length and length > 0 else None


def check_video(config: FlowWebConfig, data: bytes, mime_type: str) -> float | None:
    """The clip's seconds after the local guards (spec §14.2: Google's own limits are not documented).

    400 for a type Flow's upload is not known to take, for an MP4 that cannot be read or that is longer
    than ``max_edit_seconds``; 413 past ``max_upload_video_bytes``. WebM's length is not read (``None``).
    """
    if mime_type not in VIDEO_TYPES:
        raise InvalidRequestError(f"Flow takes video/mp4, video/quicktime or video/webm uploads, not {mime_type}.",
                                  param="video")
    if len(data) > config.max_upload_video_bytes:
        raise PayloadTooLargeError(f"The video is {len(data)} bytes; at most {config.max_upload_video_bytes} "
                                   "are uploaded to Flow.", param="video")
    seconds = video_seconds(data) if mime_type != "video/webm" else None
    if mime_type != "video/webm" and seconds is None:
        raise InvalidRequestError("The video could not be read as MP4/QuickTime.", param="video")
    if seconds is not None and seconds > config.max_edit_seconds:
        raise InvalidRequestError(f"The video is {seconds:.1f} s long; edits take at most {config.max_edit_seconds:g} s.",
                                  param="video")
    return seconds


class _Session:
    """One upload's HTTP exchange: cookies in, rotated cookies saved, transport errors typed."""

    def __init__(self, config: FlowWebConfig, account: AccountSession, http: aiohttp.ClientSession, project: str) -> None:
        self.config, self.account, self.http, self.project = config, account, http, project
        self.jar = load_jar(account.view.secrets.get("cookies", ""))
        self.path = UPLOAD_PATH.format(project=project)
        self.changed = False

    def headers(self, extra: dict[str, str]) -> dict[str, str]:
        origin = self.config.origin
        headers = {"Origin": origin, "Referer": f"{origin}/project/{self.project}", "User-Agent": self.config.user_agent,
                   "X-Goog-Upload-Protocol": "resumable", **extra}
        cookie = cookie_header(self.jar, self.config.cookie_url.rstrip("/") + self.path)
        if cookie:
            headers["Cookie"] = cookie
        return headers

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            async with self.http.post(url, data=body, headers=self.headers(headers), allow_redirects=False,
                                      timeout=aiohttp.ClientTimeout(total=self.config.write_timeout)) as resp:
                content = await resp.read()
                if absorb_set_cookies(self.jar, self.config.cookie_url.rstrip("/") + self.path,
                                      resp.headers.getall("Set-Cookie", [])):
                    self.changed = True
                answer = (resp.status, {k.lower(): v for k, v in resp.headers.items()}, content)
        except TimeoutError as exc:
            raise UpstreamTimeoutError(f"the Flow video upload did not answer within {self.config.write_timeout:g} s") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailableError(f"the Flow video upload failed: {type(exc).__name__}") from exc
        status = answer[0]
        if status == 401 or 300 <= status < 400:
            raise CredentialRejectedError(f"the Flow video upload was refused (HTTP {status}): cookies expired?")
        if status >= 500:
            raise UpstreamUnavailableError(f"the Flow video upload answered HTTP {status}")
        if status != 200:
            raise UpstreamProtocolError(f"the Flow video upload answered HTTP {status} (upstream changed?)")
        return answer

    async def close(self) -> None:
        if self.changed:
            await self.account.save(AccountUpdate(secrets={"cookies": dump_jar(self.jar)}))


async def upload_video(config: FlowWebConfig, account: AccountSession, http: aiohttp.ClientSession, project: str,
                       data: bytes, mime_type: str, file_name: str = "video.mp4") -> UploadedVideo:
    """Upload ``data`` into ``project`` (module docstring); raises :mod:`flow2api.errors` types only."""
    session = _Session(config, account, http, project)
    try:
        start = {"X-Goog-Upload-Command": "start", "X-Goog-Upload-Header-Content-Length": str(len(data)),
                 "X-Goog-Upload-Header-Content-Type": mime_type, "Slug": quote(file_name, safe=""),
                 "X-Framework-Xsrf-Token": str(account.view.secrets.get("at") or "")}
        _, headers, _ = await session.post(config.origin + session.path, start, b"")
        url = headers.get("x-goog-upload-url", "")
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != config.origin or parts.path != session.path:
            raise UpstreamProtocolError("the Flow video upload named a session URL off its own path (upstream changed?)")
        granularity = int(headers.get("x-goog-upload-chunk-granularity") or 1)
        chunk = max(granularity, config.upload_chunk_bytes // granularity * granularity)
        offset, body = 0, b""
        while True:
            piece = data[offset:offset + chunk]
            last = offset + len(piece) >= len(data)
            command = "upload, finalize" if last else "upload"
            _, headers, body = await session.post(
                url, {"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset),
                      "Content-Type": mime_type}, piece)
            offset += len(piece)
            if last:
                break
        if headers.get("x-goog-upload-status") != "final":
            raise UpstreamProtocolError("the Flow video upload did not end in status final (upstream changed?)")
        return _final(body, project)
    finally:
        await session.close()


def _final(body: bytes, project: str) -> UploadedVideo:
    try:
        answer = json.loads(body)
        media_id, media = answer["mediaId"], answer["media"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UpstreamProtocolError("the Flow video upload answer has no mediaId/media (upstream changed?)") from exc
    if not (isinstance(media_id, str) and UUID_RE.match(media_id) and isinstance(media, dict)
            and media.get("name") == media_id and media.get("projectId") == project):
        raise UpstreamProtocolError("the Flow video upload answer names another media or project (upstream changed?)")
    workflow = answer.get("workflow") if isinstance(answer.get("workflow"), dict) else {}
    return UploadedVideo(media_id, project, workflow.get("name") if isinstance(workflow.get("name"), str) else None)
