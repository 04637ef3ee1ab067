"""``GET /media/{name}``: cached results, with Content-Type, Content-Length and HTTP ranges.

No API key is needed: the random name is the capability, as with upstream's
signed URLs, so ``<img src>`` and video players can load it directly.
"""

from __future__ import annotations

from aiohttp import web

from flow2api.keys import MEDIA


async def get_media(request: web.Request) -> web.StreamResponse:
    """Serve one cached file (``Range`` honoured by ``FileResponse``); 404 when unknown or expired."""
    cache = request.config_dict[MEDIA]
    name = request.match_info["name"]
    path = cache.path_for(name)
    if path is None:
        raise web.HTTPNotFound(text="media not found or expired")
    return web.FileResponse(path, headers={
        "Content-Type": cache.mime_for(name), "Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff",
    })


def setup_media_routes(app: web.Application) -> None:
    """Register ``/media/{name}`` on the root app."""
    app.router.add_get("/media/{name}", get_media)
