"""The playground (``/admin/playground``): try a model from the browser through the public API.

The page is a form (model, prompt, optional image, API key) and a small
script, ``/admin/static/playground.js``, that calls ``POST
/v1/chat/completions`` with ``stream: true`` and the key the operator pastes —
the same path a client takes, so it tests the key, its limits and the whole
pipeline. Progress (``delta.reasoning_content`` or ``content``) is shown as
it streams; the result image or video is shown from its URL. The key is never
sent to the admin site: it stays in the browser (optionally in the tab's
``sessionStorage``).
"""

from __future__ import annotations

from aiohttp import web

from flow2api.admin.render import render
from flow2api.catalog import CATALOG


async def playground_page(request: web.Request) -> web.StreamResponse:
    """``GET /admin/playground``: the test form; models are the enabled catalog ids (aliases first)."""
    catalog = request.config_dict[CATALOG].current
    models = [
        {"id": a.id, "kind": a.kind.value, "label": f"{a.id} (alias)"} for a in catalog.aliases.values() if a.enabled
    ] + [
        {"id": e.id, "kind": e.kind.value, "label": e.id} for e in catalog.public_entries() if e.available
    ]
    return await render(request, "playground.html", {"models": models}, active="playground")


def setup_playground_routes(admin_app: web.Application) -> None:
    """Register the playground on the admin sub-app."""
    admin_app.router.add_get("/playground", playground_page)
