"""Media delivery: the signed CDN (``fifeUrl``s, redirect targets) and ``GET {api}/media/<name>``.

CDN URLs are ``{base}/cdn/image/<cdnId>?expires=<unix>&sig=<hmac>`` and
``{base}/cdn/video/<videoUuid>?expires=..&sig=..``: self-authorising like Google's signed
``fifeUrl``s (spec §2.6, §2.16) — no auth header, but an HMAC-SHA256 over kind, id and expiry
with a per-emulator secret. A bad signature or a past ``expires`` answers 403 (plain text). The
video CDN honours a single-range ``Range`` (206 with ``Content-Range``, 416 when unsatisfiable).
Fault ``slow_media`` throttles the body.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
from typing import Callable, Mapping

from aiohttp import web

from flow2api_flowkit.emulator.render import render_png, video_asset

from .api_common import emulator_of, context_of, require_account
from .catalog import is_portrait
from .errors import CdnError, GoogleError, not_found
from .settings import EmulatorSettings
from .state import SUCCESSFUL, GeneratedImage, Video

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class MediaUrls:
    """Signs and checks CDN URLs; a URL stays valid ``settings.media_url_ttl_s`` seconds."""

    def __init__(self, settings: EmulatorSettings, clock: Callable[[], float]) -> None:
        self._secret = secrets.token_bytes(32)
        self.settings = settings
        self.clock = clock

    def _signature(self, kind: str, media_id: str, expires: int) -> str:
        message = f"{kind}/{media_id}:{expires}".encode()
        return base64.urlsafe_b64encode(hmac.new(self._secret, message, hashlib.sha256).digest()[:18]).decode()

    def url(self, request: web.Request, kind: str, media_id: str) -> str:
        """Absolute signed URL on the host the request came to."""
        expires = int(self.clock() + self.settings.media_url_ttl_s)
        return (f"{request.url.origin()}/cdn/{kind}/{media_id}"
                f"?expires={expires}&sig={self._signature(kind, media_id, expires)}")

    def check(self, kind: str, media_id: str, query: Mapping[str, str]) -> None:
        """403 unless ``sig`` matches and ``expires`` is in the future."""
        try:
            expires = int(query.get("expires", ""))
        except ValueError:
            raise CdnError(403, "Missing or malformed expires parameter.") from None
        if not hmac.compare_digest(str(query.get("sig", "")).encode(), self._signature(kind, media_id, expires).encode()):
            raise CdnError(403, "Signature check failed.")
        if self.clock() > expires:
            raise CdnError(403, "URL signature expired.")


def _payload(request: web.Request, kind: str, media_id: str) -> tuple[bytes, str]:
    world = emulator_of(request).world
    if kind == "image":
        image = world.images_by_cdn_id.get(media_id)
        if image is None:
            raise CdnError(404, "The requested URL was not found on this server.")
        return render_png(image.prompt, image.seed, image.model, image.width, image.height, image.tint), "image/png"
    video = world.videos_by_id.get(media_id)
    if video is not None and video.status == SUCCESSFUL:
        return video_asset(is_portrait(video.aspect_ratio)), "video/mp4"
    concat = world.concatenations_by_video_id.get(media_id)
    if concat is not None and concat.polls >= concat.polls_to_finish:
        return video_asset(is_portrait(concat.aspect_ratio)), "video/mp4"
    raise CdnError(404, "The requested URL was not found on this server.")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Inclusive (start, end) of a single ``bytes=`` range; None = whole body; 416 if unsatisfiable."""
    if not header:
        return None
    match = _RANGE_RE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None  # malformed or multi-range: RFC 9110 lets us ignore it
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise CdnError(416, "Requested range not satisfiable.", headers={"Content-Range": f"bytes */{size}"})
    return start, end


async def serve_cdn(request: web.Request) -> web.StreamResponse:
    """``GET|HEAD /cdn/{image|video}/<id>?expires&sig`` → the bytes (spec §2.6 ``fifeUrl``, §2.16 ``Location``)."""
    ctx = context_of(request)
    if not ctx.method_ok:
        raise CdnError(405, "Method not allowed.", headers={"Allow": "GET, HEAD"})
    kind = ctx.operation.removeprefix("cdn.")
    media_id = ctx.param or ""
    emulator = emulator_of(request)
    emulator.media_urls.check(kind, media_id, request.query)
    data, content_type = _payload(request, kind, media_id)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=3600",
               "Content-Type": content_type}
    byte_range = _byte_range(request.headers.get("Range"), len(data))
    status = 200
    if byte_range is not None:
        start, end = byte_range
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        data, status = data[start:end + 1], 206
    rule = emulator.faults.take("slow_media", ctx.operation, ctx.account)
    if rule is None or request.method == "HEAD":
        return web.Response(body=data, status=status, headers=headers)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = len(data)
    await response.prepare(request)
    chunk = max(1, rule.bytes_per_second // 10)
    for offset in range(0, len(data), chunk):
        await response.write(data[offset:offset + chunk])
        await asyncio.sleep(len(data[offset:offset + chunk]) / rule.bytes_per_second)
    await response.write_eof()
    return response


async def get_media(request: web.Request) -> web.Response:
    """``GET {api}/media/<name>`` (spec §2.17) → ``{"name", "video": {"encodedVideo", "seed", "prompt",
    "model", "aspectRatio"}}``; for a generated image ``{"name", "image": {"encodedImage", ...}}`` (invented).
    404 when the name is unknown or another account's; 400 FAILED_PRECONDITION while not SUCCESSFUL."""
    account = require_account(request)
    name = context_of(request).param or ""
    world = emulator_of(request).world
    record: Video | GeneratedImage | None = world.videos.get(name)
    if record is None:
        image = world.images.get(name)
        record = image if isinstance(image, GeneratedImage) else None
    if record is None or record.email != account.email:
        raise not_found(f"media {name}")
    if isinstance(record, GeneratedImage):
        png = render_png(record.prompt, record.seed, record.model, record.width, record.height, record.tint)
        return web.json_response({"name": name, "image": {
            "encodedImage": base64.b64encode(png).decode("ascii"), "seed": record.seed, "prompt": record.prompt,
            "model": record.model, "aspectRatio": record.aspect_ratio}})
    if record.status != SUCCESSFUL:
        raise GoogleError(400, f"Media {name} is not ready: {record.status}", grpc_status="FAILED_PRECONDITION")
    return web.json_response({"name": name, "video": {
        "encodedVideo": base64.b64encode(video_asset(is_portrait(record.aspect_ratio))).decode("ascii"),
        "seed": record.seed, "prompt": record.prompt, "model": record.model_key,
        "aspectRatio": record.aspect_ratio}})
