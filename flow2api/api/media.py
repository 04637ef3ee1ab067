"""``GET /media/{name}``: cached results, with Content-Type, Content-Length and HTTP ranges (docs/media.md).

No API key is needed: the random name is the capability, as with upstream's
signed URLs, so ``<img src>`` and video players can load it directly. With
``[cache] sign_urls`` on, a URL must also carry a valid, unexpired
``?expires=&sig=`` (HMAC, :mod:`flow2api.media.signing`), else 403.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from flow2api.media import MEDIA
from flow2api.settings import SETTINGS

SMALL_FILE_BYTES = 256 * 1024


async def get_media(request: web.Request) -> web.StreamResponse:
    """Serve one cached file: a recent small result from memory (:meth:`~flow2api.media.MediaCache.recent_bytes`),
    other files up to 256 KiB from one threaded read, others (and ``Range``/HEAD requests) through
    ``FileResponse``, which honours ranges and uses ``sendfile``.

    404 when unknown, expired or evicted; 403 when signing is on and the
    signature is missing, wrong or past its ``expires``.
    """
    cache = request.config_dict[MEDIA]
    name = request.match_info["name"]
    if request.config_dict[SETTINGS].current.cache.sign_urls and not cache.signer.verify(
        name, request.query.get("expires"), request.query.get("sig"), now=time.time()
    ):
        raise web.HTTPForbidden(text="media URL signature missing, invalid or expired")
    headers = {
        "Content-Type": cache.mime_for(name), "Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff",
    }
    recent = cache.recent_bytes(name)
    if recent is not None and request.method == "GET" and "Range" not in request.headers:
        # Just generated and still in memory: no file system call at all (the usual fetch right after the answer).
        return web.Response(body=recent, headers={**headers, "Accept-Ranges": "bytes"})
    path = cache.path_for(name)
    if path is None:
        raise web.HTTPNotFound(text="media not found or expired")
    size = cache.size_of(name)
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
