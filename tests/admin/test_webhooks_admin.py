"""The admin site's webhooks page (issue 21, item 7): the delivery log, "send test event", and an API key's own
endpoint saved from its page (the secret sealed, never shown back)."""

from __future__ import annotations

from flow2api.apikeys import API_KEYS
from flow2api.storage.webhooks import WEBHOOK_EVENTS
from flow2api.testing import FakeWorld, until
from tests.jobs.test_webhooks import OTHER_SECRET, hooks, receivers  # noqa: F401 - the fixture


async def test_send_test_event_and_see_it_in_the_delivery_log(fake: FakeWorld, admin_clients, receivers) -> None:  # noqa: ANN001, F811
    receiver = await receivers()
    site = await admin_clients(await fake.start(webhooks=hooks(receiver.url))).log_in()
    status, text, _ = await site.client.get("/admin/webhooks")
    assert status == 200 and "No event yet" in text and receiver.url in text
    status, text, _ = await site.client.post("/admin/webhooks/test")
    assert status == 200 and "Test event evt_" in text
    await until(lambda: _value(receiver.accepted), 10)
    event = receiver.accepted[0]
    assert event["type"] == "webhook.test"
    _, text, _ = await site.client.get("/admin/webhooks")
    assert event["id"] in text and "delivered" in text


async def test_a_keys_endpoint_is_saved_from_its_page(fake: FakeWorld, admin_clients) -> None:  # noqa: ANN001
    site = await admin_clients(await fake.start()).log_in()
    record, _ = await site.gateway.app[API_KEYS].create("client")
    status, text, _ = await site.client.post(f"/admin/keys/{record.id}/webhook", {"url": "https://hooks.test/a"})
    assert status == 200 and "a secret is needed" in text  # no [webhooks] secret to fall back on
    status, text, _ = await site.client.post(f"/admin/keys/{record.id}/webhook",
                                             {"url": "https://hooks.test/a", "secret": OTHER_SECRET})
    assert status == 200 and "Webhook endpoint saved" in text and "https://hooks.test/a" in text
    assert OTHER_SECRET not in text
    endpoint = await site.gateway.app[WEBHOOK_EVENTS].endpoint(record.id)
    assert endpoint.url == "https://hooks.test/a" and endpoint.secret == OTHER_SECRET
    await site.client.post(f"/admin/keys/{record.id}/webhook", {"url": ""})
    assert await site.gateway.app[WEBHOOK_EVENTS].endpoint(record.id) is None


async def _value(value):  # noqa: ANN001, ANN202
    return value
