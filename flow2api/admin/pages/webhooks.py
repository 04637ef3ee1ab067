"""The webhooks page (``/admin/webhooks``): the delivery log, the "send test event" button, and an API key's own
endpoint (the form on the key's page posts to ``/admin/keys/{id}/webhook``).

The log shows the newest :data:`LOG_ROWS` events of the outbox (:mod:`flow2api.jobs.webhooks`): type, status
(``pending`` / ``delivered`` / ``failed`` = given up), attempts, the last HTTP status or error and when the next
attempt is due. A key's secret is write-only: the page says whether one is set, never shows it.
"""

from __future__ import annotations

from aiohttp import web

from flow2api.admin.render import flash, render
from flow2api.apikeys import API_KEYS
from flow2api.errors import NotFoundError
from flow2api.jobs.webhooks import WEBHOOKS
from flow2api.settings import SETTINGS
from flow2api.settings_webhooks import check_secret, check_url
from flow2api.storage.webhooks import WEBHOOK_EVENTS, Endpoint

LOG_ROWS = 50


async def webhooks_page(request: web.Request) -> web.StreamResponse:
    """``GET /admin/webhooks``: the ``[webhooks]`` endpoint in force, the test button and the delivery log."""
    config = request.config_dict[SETTINGS].current.webhooks
    events = await request.config_dict[WEBHOOK_EVENTS].recent(LOG_ROWS)
    return await render(request, "webhooks.html", {"url": config.url, "signed": config.secret is not None,
                                                   "events": events}, active="webhooks")


async def send_test(request: web.Request) -> web.StreamResponse:
    """``POST /admin/webhooks/test``: enqueue a ``webhook.test`` event to ``[webhooks] url`` (delivered in the
    background, shown in the log)."""
    event_id = await request.config_dict[WEBHOOKS].send_test()
    if event_id is None:
        await flash(request, "No test event: set [webhooks] url and secret first.", "error")
    else:
        await flash(request, f"Test event {event_id} queued.")
    raise web.HTTPSeeOther("/admin/webhooks")


async def key_endpoint(request: web.Request, key_id: int) -> Endpoint | None:
    """The key's own endpoint for its page (``None``: it uses ``[webhooks]``)."""
    return await request.config_dict[WEBHOOK_EVENTS].endpoint(key_id)


async def save_key_endpoint(request: web.Request) -> web.StreamResponse:
    """``POST /admin/keys/{id}/webhook`` (``url``, ``secret``): give the key its own endpoint; an empty ``url``
    removes it (back to ``[webhooks]``), an empty ``secret`` keeps the stored one (or signs with ``[webhooks]
    secret`` when there is none)."""
    key_id = int(request.match_info["id"])
    if await request.config_dict[API_KEYS].get(key_id) is None:
        raise NotFoundError(f"No API key {key_id}")
    form = await request.post()
    url, secret = str(form.get("url", "")).strip(), str(form.get("secret", "")).strip()
    events = request.config_dict[WEBHOOK_EVENTS]
    back = f"/admin/keys/{key_id}"
    if not url:
        await events.drop_endpoint(key_id)
        await flash(request, "The key uses the [webhooks] endpoint.")
        raise web.HTTPSeeOther(back)
    current = await events.endpoint(key_id)
    secret = secret or (current.secret if current else "") or ""
    fallback = request.config_dict[SETTINGS].current.webhooks.secret
    try:
        check_url(url)
        if secret:
            check_secret(secret)
        elif fallback is None:
            raise ValueError("a secret is needed: [webhooks] has none")
    except ValueError as exc:
        await flash(request, f"Webhook not saved: {exc}", "error")
        raise web.HTTPSeeOther(back) from None
    await events.set_endpoint(key_id, url, secret or None)
    await flash(request, "Webhook endpoint saved.")
    raise web.HTTPSeeOther(back)


def setup_webhook_routes(admin_app: web.Application) -> None:
    """Register the webhooks page and the key endpoint form on the admin sub-app."""
    admin_app.router.add_get("/webhooks", webhooks_page)
    admin_app.router.add_post("/webhooks/test", send_test)
    admin_app.router.add_post(r"/keys/{id:\d+}/webhook", save_key_endpoint)
