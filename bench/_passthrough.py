"""A minimal aiohttp reverse proxy, the "practical limit" of the hot-path benchmark.

``python bench/_passthrough.py PORT UPSTREAM_BASE [uvloop|asyncio]`` forwards every request
(method, path, query, headers but hop-by-hop ones and ``Host``, body) to
``UPSTREAM_BASE`` over one pooled client session and answers with upstream's
status, headers and body. No auth, no parsing, no storage, no logging: the
cost of one extra Python/aiohttp hop, which is the least any gateway written
with aiohttp can add. It runs on the event loop named last (default asyncio's),
so that it can be compared with a gateway on the same loop.
"""

from __future__ import annotations

import sys

import aiohttp
from aiohttp import web

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
})


def make_app(upstream: str) -> web.Application:
    """The proxy application forwarding to ``upstream`` (``http://host:port``)."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    session_key = web.AppKey("session", aiohttp.ClientSession)

    async def session_ctx(app: web.Application):  # noqa: ANN202 - a cleanup_ctx generator
        app[session_key] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
        )
        yield
        await app[session_key].close()

    async def forward(request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = await request.read()
        async with app[session_key].request(
            request.method, upstream + request.path_qs, headers=headers, data=body or None, allow_redirects=False,
        ) as resp:
            data = await resp.read()
            out = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(body=data, status=resp.status, headers=out)

    app.cleanup_ctx.append(session_ctx)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


if __name__ == "__main__":
    loop = None
    if sys.argv[3:] == ["uvloop"]:
        import uvloop

        loop = uvloop.new_event_loop()
    web.run_app(make_app(sys.argv[2].rstrip("/")), host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None,
                loop=loop)
