"""``GET /``: where to go next — the admin site, the API bases, the health check and the docs (issue 19 item 5).

A browser gets a small HTML page; a client that asks for ``Accept:
application/json`` gets the same links as JSON. No key is needed and none is
shown: the start-up banner says which key to use.
"""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web

from flow2api import __version__
from flow2api.startup import DEMO

DOC_PAGES = ("README.md", "docs/api.md", "docs/admin.md", "docs/catalog.md")


def landing_links(request: web.Request) -> dict[str, Any]:
    """The landing page's facts: ``name``, ``version``, ``demo`` (bool) and absolute URLs ``admin``,
    ``openai_base`` (``/v1``), ``gemini_base`` (``/v1beta``), ``models``, ``health``; ``docs`` lists the
    documentation files shipped with the source (paths relative to the repository)."""
    origin = str(request.url.origin())
    return {
        "name": "flow2api",
        "version": __version__,
        "demo": request.config_dict[DEMO],
        "admin": f"{origin}/admin/",
        "openai_base": f"{origin}/v1",
        "gemini_base": f"{origin}/v1beta",
        "models": f"{origin}/v1/models",
        "health": f"{origin}/health",
        "docs": list(DOC_PAGES),
    }


def _page(links: dict[str, Any]) -> str:
    esc = {k: html.escape(str(v)) for k, v in links.items() if isinstance(v, str)}
    mode = "<p><strong>Demo mode</strong>: the bundled emulators answer; no Google account is used.</p>" if links["demo"] else ""
    docs = "".join(f"<li><code>{html.escape(p)}</code></li>" for p in links["docs"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>flow2api</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}
code{{background:#f3f3f3;padding:0 .2em;overflow-wrap:anywhere}}</style></head>
<body><h1>flow2api {esc['version']}</h1>{mode}
<ul>
<li><a href="{esc['admin']}">Admin site</a> — accounts, keys, models, logs, playground</li>
<li>OpenAI API base: <code>{esc['openai_base']}</code> (<a href="{esc['models']}">models</a>, needs the API key)</li>
<li>Gemini API base: <code>{esc['gemini_base']}</code></li>
<li><a href="{esc['health']}">Health</a></li>
</ul>
<p>Documentation (in the source): </p><ul>{docs}</ul>
<p>The API key to use was printed when the server started.</p>
</body></html>
"""


async def landing(request: web.Request) -> web.Response:
    """``GET /`` → HTML links page, or ``application/json`` of :func:`landing_links` when the
    ``Accept`` header prefers JSON (``application/json`` listed and ``text/html`` not)."""
    links = landing_links(request)
    accept = request.headers.get("Accept", "")
    if "application/json" in accept and "text/html" not in accept:
        return web.json_response(links)
    return web.Response(text=_page(links), content_type="text/html")


def setup_landing_routes(app: web.Application) -> None:
    """Register ``GET /`` on the root app."""
    app.router.add_get("/", landing)
