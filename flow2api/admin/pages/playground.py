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
from flow2api.catalog import CATALOG, Alias


async def playground_page(request: web.Request) -> web.StreamResponse:
    """``GET /admin/playground``: the test form; the model picker offers the set ``/v1/models`` lists for an
    unlimited key (:meth:`~flow2api.catalog.Catalog.listing`: models, then aliases), labelled "(alias)" and
    "(unavailable)" (no installed provider serves it) where that applies."""
    catalog = request.config_dict[CATALOG].current
    models = []
    for item in catalog.listing():
        target = catalog.entries.get(item.default_target) if isinstance(item, Alias) else item
        label = item.id + (" (alias)" if isinstance(item, Alias) else "")
        if target is None or not target.available:
            label += " (unavailable)"
        models.append({"id": item.id, "kind": item.kind.value, "label": label})
    return await render(request, "playground.html", {"models": models}, active="playground")


def setup_playground_routes(admin_app: web.Application) -> None:
    """Register the playground on the admin sub-app."""
    admin_app.router.add_get("/playground", playground_page)
