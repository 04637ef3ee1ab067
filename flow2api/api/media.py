"""``GET /media/{name}``: cached results, with Content-Type, Content-Length and HTTP ranges (docs/media.md).

No API key is needed: the random name is the capability, as with upstream's
signed URLs, so ``<img src>`` and video players can load it directly. With
``[cache] sign_urls`` on, a URL must also carry a valid, unexpired
``?expires=&sig=`` (HMAC, :mod:`flow2api.media.signing`), else 403.
"""

from __future__ import annotations

import asyncio
import re
import time

from aiohttp import web

from flow2api.media import MEDIA
from flow2api.settings import SETTINGS

SMALL_FILE_BYTES = 256 * 1024
# A suffix range of length 0 ("bytes=-0") selects no byte: unsatisfiable (RFC 9110 §14.1.2), but aiohttp's
# Request.http_range reads it as "from byte 0" and FileResponse would answer 206 with the whole file.
_EMPTY_SUFFIX = re.compile(r"^\s*bytes\s*=\s*-0+\s*$", re.IGNORECASE | re.ASCII)


async def get_media(request: web.Request) -> web.StreamResponse:
    """Serve one cached file: a recent small result from memory (:meth:`~flow2api.media.MediaCache.recent_bytes`),
    other files up to 256 KiB from one threaded read, others (and ``Range``/HEAD requests) through
    ``FileResponse``, which honours ranges and uses ``sendfile``.

    404 when unknown, expired or evicted; 403 when signing is on and the
    signature is missing, wrong or past its ``expires``; 416 (``Content-Range: bytes */<size>``) for a range
    no byte satisfies, ``bytes=-0`` included. ``Cache-Control: private``: a URL (signed or not) is one
    caller's capability, so shared caches must not keep the file past the URL's life.
    """
    cache = request.config_dict[MEDIA]
    name = request.match_info["name"]
    if request.config_dict[SETTINGS].current.cache.sign_urls and not cache.signer.verify(
        name, request.query.get("expires"), request.query.get("sig"), now=time.time()
    ):
        raise web.HTTPForbidden(text="media URL signature missing, invalid or expired")
    headers = {
        "Content-Type": cache.mime_for(name), "Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff",
    }
    recent = cache.recent_bytes(name)
    if recent is not None and request.method == "GET" and "Range" not in request.headers:
        # Just generated and still in memory: no file system call at all (the usual fetch right after the answer).
        return web.Response(body=recent, headers={**headers, "Accept-Ranges": "bytes"})
    path = cache.path_for(name)
    if path is None:
        raise web.HTTPNotFound(text="media not found or expired")
    size = cache.size_of(name)
    if _EMPTY_SUFFIX.match(request.headers.get("Range", "")):
        if size is None:
            size = (await asyncio.to_thread(path.stat)).st_size
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    if size is not None and size <= SMALL_FILE_BYTES and request.method == "GET" and "Range" not in request.headers:
        # FileResponse costs two executor round trips and sendfile set-up; for an image one threaded read is
        # cheaper: -15 % server CPU per generated image at 50 clients (docs/performance.md, hot path).
        try:
            body = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise web.HTTPNotFound(text="media not found or expired") from None
        return web.Response(body=body, headers={**headers, "Accept-Ranges": "bytes"})  # ranges: FileResponse below
    return web.FileResponse(path, headers=headers)


def setup_media_routes(app: web.Application) -> None:
    """Register ``/media/{name}`` on the root app."""
    app.router.add_get("/media/{name}", get_media)
