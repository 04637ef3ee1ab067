"""``GET /media/{name}``: cached results, with Content-Type, Content-Length and HTTP ranges (docs/media.md).

No API key is needed: the random name is the capability, as with upstream's
signed URLs, so ``<img src>`` and video players can load it directly. With
``[cache] sign_urls`` on, a URL must also carry a valid, unexpired
``?expires=&sig=`` (HMAC, :mod:`flow2api.media.signing`), else 403. The bytes
come from whichever backend ``[cache] backend`` names (a directory or an S3
bucket, :class:`~flow2api.media.MediaStore`); this handler does not know which.
"""

from __future__ import annotations

import time

from aiohttp import web

from flow2api.media import MEDIA
from flow2api.settings import SETTINGS


async def get_media(request: web.Request) -> web.StreamResponse:
    """Serve one cached file (``GET`` and ``HEAD``): a recent small result from this instance's memory, else
    from the backend (the local directory: one threaded read or ``FileResponse`` with ``sendfile``; S3: the
    object streamed, ``Range`` passed through).

    404 when unknown, expired or evicted; 403 when signing is on and the
    signature is missing, wrong or past its ``expires``; 206 for a satisfiable ``Range``, 416
    (``Content-Range: bytes */<size>``) for a range no byte satisfies, ``bytes=-0`` included.
    ``Cache-Control: private``: a URL (signed or not) is one caller's capability, so shared caches must not
    keep the file past the URL's life.
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
    response = await cache.respond(request, name, headers)
    if response is None:
        raise web.HTTPNotFound(text="media not found or expired")
    return response


def setup_media_routes(app: web.Application) -> None:
    """Register ``/media/{name}`` on the root app."""
    app.router.add_get("/media/{name}", get_media)
