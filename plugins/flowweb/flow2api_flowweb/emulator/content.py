"""The signed content host: the emulator's stand-in for ``https://flow-content.google/{image|video}/<id>`` (spec §6.5).

``GET /fc/image/<id>?Expires=…&KeyName=labs-flow-prod-cdn-key&Signature=…`` serves a generated
image as PNG (or a video's poster as JPEG); ``/fc/video/<id>`` the MP4 of a finished video,
honouring a single ``Range`` (206). No cookies needed; a bad or expired signature is 403.
Fault ``slow_media`` streams the body at ``bytes_per_second``.
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from flow2api_flowkit.emulator.render import render_jpeg, render_png, video_asset

from .app import emulator_of

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _payload(request: web.Request, kind: str, media_id: str) -> tuple[bytes, str]:
    media = emulator_of(request).world.media.get(media_id)
    if media is None:
        raise web.HTTPNotFound(text="Not found")
    if kind == "image" and media.kind == "image":
        return render_png(media.prompt, media.seed, media.model, media.width, media.height, media.tint), "image/png"
    if media.kind == "video" and media.status == 3 and media.failure is None:
        if kind == "video":
            return video_asset(media.portrait), "video/mp4"
        size = (90, 160) if media.portrait else (160, 90)
        return render_jpeg(media.prompt, 1, media.model, *size), "image/jpeg"
    raise web.HTTPNotFound(text="Not found")


async def serve_content(request: web.Request) -> web.StreamResponse:
    """``GET /fc/{kind}/{media_id}`` with a signed query."""
    emulator = emulator_of(request)
    kind, media_id = request.match_info["kind"], request.match_info["media_id"]
    if not emulator.content_allowed(kind, media_id, request.query):
        raise web.HTTPForbidden(text="Signature check failed or URL expired")
    data, mime = _payload(request, kind, media_id)
    status, headers = 200, {"Accept-Ranges": "bytes"}
    match = _RANGE.match(request.headers.get("Range", ""))
    if match and kind == "video":
        start = int(match.group(1)) if match.group(1) else max(0, len(data) - int(match.group(2) or 0))
        end = int(match.group(2)) if match.group(1) and match.group(2) else len(data) - 1
        if start >= len(data) or start > end:
            raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{len(data)}"})
        end = min(end, len(data) - 1)
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        data, status = data[start:end + 1], 206
    rule = emulator.faults.take("slow_media", "content", None)
    if rule is None:
        return web.Response(body=data, status=status, content_type=mime, headers=headers)
    response = web.StreamResponse(status=status, headers={**headers, "Content-Type": mime,
                                                          "Content-Length": str(len(data))})
    await response.prepare(request)
    step = max(1, rule.bytes_per_second // 10)
    for offset in range(0, len(data), step):
        await response.write(data[offset:offset + step])
        await asyncio.sleep(0.1)
    await response.write_eof()
    return response
