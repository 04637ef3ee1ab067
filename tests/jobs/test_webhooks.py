"""Signed webhooks (issue 21, item 7): events of ended image and video tasks reach a real receiver, signed with
Standard Webhooks headers that ``standardwebhooks.Webhook(secret).verify`` accepts, through the durable outbox:
refused deliveries are retried with back-off until one is accepted (the event then arrives once), an undelivered
event survives a restart, an API key's own endpoint replaces the global one. Every gateway test runs on SQLite and on a
real PostgreSQL (:func:`flow2api.testing.postgres_url`), as the storage tests do."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from flow2api.apikeys import API_KEYS
from flow2api.errors import GenerationFailedError
from flow2api.jobs.webhooks import TEST_EVENT, WEBHOOKS, WorkflowWebhooks, backoff
from flow2api.plugin import Owner, WebhookEvents
from flow2api.storage.webhooks import DELIVERED, GIVEN_UP, PENDING, WEBHOOK_EVENTS
from flow2api.testing import FAKE_IMAGE_MODEL, FAKE_VIDEO_MODEL, FakeWorld, until

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK marks the Sora API deprecated

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"another secret of thirty-two b.").decode()


@dataclass
class Receiver:
    """A webhook endpoint: every delivery is verified with ``secret``; the first ``refuse`` get a 503."""

    secret: str
    refuse: int = 0
    delay: float = 0.0  # seconds before each answer
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every verified delivery, refused ones too
    accepted: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        event = Webhook(self.secret).verify(body, dict(request.headers))  # raises on a bad signature: a 500
        assert request.headers["webhook-id"] == event["id"]
        self.attempts.append(event)
        await asyncio.sleep(self.delay)
        if len(self.attempts) <= self.refuse:
            return web.Response(status=503, text="not now")
        self.accepted.append(event)
        return web.Response(status=204)


@pytest.fixture(params=["sqlite", "postgresql"])
def fake(request: pytest.FixtureRequest, fake: FakeWorld) -> FakeWorld:
    """The plugin's :func:`flow2api.testing.fake` whose gateways store in the shared data directory's SQLite file,
    or in a new database on the test PostgreSQL (every gateway of one test on the same one)."""
    if request.param == "sqlite":
        return fake
    storage = {"url": request.getfixturevalue("postgres_url")}
    return dataclasses.replace(fake, start=functools.partial(fake.start, storage=storage))


@pytest.fixture
def receivers(aiohttp_server: Callable) -> Callable:
    """``await receivers(secret, refuse=0, delay=0)`` → a served :class:`Receiver`."""

    async def start(secret: str = SECRET, refuse: int = 0, delay: float = 0.0) -> Receiver:
        receiver = Receiver(secret, refuse, delay)
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        server = await aiohttp_server(app)
        receiver.url = str(server.make_url("/hook"))
        return receiver

    return start


def hooks(url: str, **extra: Any) -> dict[str, Any]:
    """A ``[webhooks]`` section for a test: fast retries."""
    return {"url": url, "secret": SECRET, "retry_initial_seconds": 0.05, "poll_interval": 0.1, **extra}


async def test_an_image_event_refused_three_times_still_arrives_once(fake: FakeWorld, sdk, receivers) -> None:  # noqa: ANN001
    receiver = await receivers(refuse=3)
    gw = await fake.start(webhooks=hooks(receiver.url))
    answer = await sdk(gw).chat.completions.create(model=FAKE_IMAGE_MODEL, messages=[{"role": "user", "content": "a cat"}])
    await until(lambda: _async(receiver.accepted), 10)
    assert len(receiver.attempts) == 4  # three refused, one accepted, every one verified
    assert {e["id"] for e in receiver.attempts} == {receiver.accepted[0]["id"]}  # the same webhook-id on each retry
    event = receiver.accepted[0]
    assert event["object"] == "event" and event["type"] == "image.completed"
    assert event["data"]["id"] in answer.id  # the task id is the request id the completion id carries
    # the receiver answers before the gateway records the answer: wait for the row, not the receiver
    stored = await until(lambda: _with_status(gw.app[WEBHOOK_EVENTS], event["id"], DELIVERED), 10)
    assert stored.attempts == 4 and stored.last_status == 204
    await _settle(gw)
    assert len(receiver.accepted) == 1  # delivered: never sent again


async def test_video_completed_and_image_failed_events(fake: FakeWorld, sdk, receivers) -> None:  # noqa: ANN001
    receiver = await receivers()
    gw = await fake.start(webhooks=hooks(receiver.url))
    video = await sdk(gw).videos.create(model=FAKE_VIDEO_MODEL, prompt="a boat", seconds="8")
    await until(lambda: _async([e for e in receiver.accepted if e["type"] == "video.completed"]), 10)
    assert [e["data"] for e in receiver.accepted] == [{"id": video.id}]
    fake.image.plans.append([GenerationFailedError("the upstream refused")])
    with pytest.raises(Exception):
        await sdk(gw).images.generate(model=FAKE_IMAGE_MODEL, prompt="x")
    failed = await until(lambda: _async([e for e in receiver.accepted if e["type"] == "image.failed"]), 10)
    task = await gw.app[WEBHOOK_EVENTS].get(failed[0]["id"])
    assert task.task_id == failed[0]["data"]["id"]


async def test_an_undelivered_event_is_delivered_after_a_restart(fake: FakeWorld, sdk, receivers) -> None:  # noqa: ANN001
    receiver = await receivers(refuse=10**6)  # refuses everything while the first process runs
    first = await fake.start(webhooks=hooks(receiver.url, retry_initial_seconds=60))
    await sdk(first).images.generate(model=FAKE_IMAGE_MODEL, prompt="x")
    await until(lambda: _async(receiver.attempts), 10)
    # the receiver answers before the gateway records the refusal: wait for the row
    [pending] = await until(lambda: _attempted(first.app[WEBHOOK_EVENTS]), 10)
    assert pending.status == PENDING and pending.attempts == 1 and pending.last_status == 503
    await first.server.close()  # the process stops with the event undelivered, its retry a minute away

    receiver.refuse = 0
    second = await fake.start(webhooks=hooks(receiver.url))
    events = second.app[WEBHOOK_EVENTS]
    await events._db.writes.write(  # the minute has passed (the clock moved on; the row is what a restart finds)
        _due_now(), {"event_id": pending.id}, idempotent=True)
    await until(lambda: _async(receiver.accepted), 10)
    assert [e["id"] for e in receiver.accepted] == [pending.id] and receiver.accepted[0]["type"] == "image.completed"
    await until(lambda: _with_status(events, pending.id, DELIVERED), 10)


async def test_a_keys_own_endpoint_replaces_the_global_one(fake: FakeWorld, sdk, receivers) -> None:  # noqa: ANN001
    shared, own = await receivers(), await receivers(OTHER_SECRET)
    gw = await fake.start(webhooks=hooks(shared.url))
    record, key = await gw.app[API_KEYS].create("client")
    await gw.app[WEBHOOK_EVENTS].set_endpoint(record.id, own.url, OTHER_SECRET)
    await sdk(gw, key).images.generate(model=FAKE_IMAGE_MODEL, prompt="x")
    await until(lambda: _async(own.accepted), 10)
    assert own.accepted[0]["type"] == "image.completed" and shared.attempts == []
    assert (await gw.app[WEBHOOKS].send_test()) is not None  # the admin's test event goes to [webhooks] url
    await until(lambda: _async(shared.accepted), 10)
    assert shared.accepted[0]["type"] == "webhook.test"


async def test_an_event_is_given_up_past_its_deadline(fake: FakeWorld, receivers) -> None:  # noqa: ANN001
    receiver = await receivers(refuse=10**6)
    gw = await fake.start(webhooks=hooks(receiver.url, give_up_after_seconds=0.3))
    event_id = await gw.app[WEBHOOKS].send_test()
    events = gw.app[WEBHOOK_EVENTS]
    stored = await until(lambda: _with_status(events, event_id, GIVEN_UP), 10)
    assert stored.attempts >= 2 and stored.last_error.startswith("HTTP 503") and stored.next_attempt_at is None
    assert len(receiver.attempts) == stored.attempts


async def test_no_endpoint_no_event(fake: FakeWorld, sdk) -> None:  # noqa: ANN001
    gw = await fake.start()
    await sdk(gw).images.generate(model=FAKE_IMAGE_MODEL, prompt="x")
    assert await gw.app[WEBHOOK_EVENTS].recent() == []


@pytest.mark.parametrize("fake", ["postgresql"], indirect=True)
async def test_two_instances_on_one_postgresql_deliver_each_event_once(fake: FakeWorld, receivers) -> None:  # noqa: ANN001
    receiver = await receivers(delay=0.05)  # slow answers: both instances' attempts overlap
    a, b = [await fake.start(server={"instance_id": name}, webhooks=hooks(receiver.url)) for name in "AB"]
    due_at = time.time() + 0.5  # every event falls due at once, for both instances' next scans
    ids = [f"evt_race{i:02d}" for i in range(50)]  # more than one scan's batch
    for event_id, gw in zip(ids, [a, b] * 25):
        assert await gw.app[WEBHOOK_EVENTS].enqueue(event_id, type=TEST_EVENT, payload=json.dumps({"id": event_id}),
                                                    now=due_at)
    await until(lambda: _all_delivered(a.app[WEBHOOK_EVENTS], ids), 20)
    await _settle(a)
    await _settle(b)
    assert sorted(e["id"] for e in receiver.accepted) == ids  # every event once, none twice
    assert {(await a.app[WEBHOOK_EVENTS].get(i)).attempts for i in ids} == {1}


@pytest.mark.parametrize("fake", ["postgresql"], indirect=True)
async def test_a_scan_skips_an_event_another_instance_is_claiming(fake: FakeWorld, receivers,  # noqa: ANN001
                                                                  postgres_url: str) -> None:
    receiver = await receivers()
    gw = await fake.start(webhooks=hooks(receiver.url, poll_interval=3600))  # only the scans below
    service, events, later = gw.app[WEBHOOKS], gw.app[WEBHOOK_EVENTS], time.time() + 3600
    for event_id in ("evt_locked", "evt_free"):
        await events.enqueue(event_id, type=TEST_EVENT, payload=json.dumps({"id": event_id}), now=later)
    other = await psycopg.AsyncConnection.connect(postgres_url)  # another instance, mid-claim of one row
    try:
        await other.execute("SELECT id FROM webhook_events WHERE id = 'evt_locked' FOR UPDATE")
        # this instance's one database thread must not wait for the other's transaction
        assert await asyncio.wait_for(service.deliver_due(now=later), 5) == 1
        assert [e["id"] for e in receiver.accepted] == ["evt_free"]
    finally:
        await other.rollback()  # the other instance's transaction ends without claiming
        await other.close()
    assert await service.deliver_due(now=later) == 1
    assert [e["id"] for e in receiver.accepted] == ["evt_free", "evt_locked"]


async def test_a_workflow_emits_only_its_own_events(fake: FakeWorld, receivers) -> None:  # noqa: ANN001
    receiver = await receivers()
    gw = await fake.start(webhooks=hooks(receiver.url))
    events = WorkflowWebhooks(gw.app[WEBHOOKS], "storyboard")  # what the core hands a workflow plugin
    assert isinstance(events, WebhookEvents)
    owner = Owner(owner="global", name="global")
    for forged in ("video.completed", "storyboard", "storyboard.", "storyboards.ready"):
        with pytest.raises(ValueError, match="must start with 'storyboard.'"):
            await events.emit(forged, {"id": "x"}, owner=owner)
    event_id = await events.emit("storyboard.ready", {"id": "sb_1"}, owner=owner)
    [event] = await until(lambda: _async(receiver.accepted), 10)
    assert event["id"] == event_id and event["type"] == "storyboard.ready" and event["data"] == {"id": "sb_1"}


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(n, 5, 3600) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff(20, 5, 3600) == 3600 and backoff(500, 5, 3600) == 3600


def test_the_settings_refuse_an_unsigned_or_malformed_endpoint(tmp_path) -> None:  # noqa: ANN001
    from flow2api.testing import make_settings
    with pytest.raises(Exception, match="needs a secret"):
        make_settings(tmp_path, webhooks={"url": "https://example.test/hook"})
    with pytest.raises(Exception, match="whsec_"):
        make_settings(tmp_path, webhooks={"url": "https://example.test/hook", "secret": "plain"})
    assert json.loads(make_settings(tmp_path, webhooks=hooks("https://example.test/h")).webhooks.model_dump_json())


async def _async(value: Any) -> Any:
    return value


async def _with_status(events, event_id: str, status: str) -> Any:  # noqa: ANN001
    stored = await events.get(event_id)
    return stored if stored.status == status else None


async def _attempted(events) -> list[Any] | None:  # noqa: ANN001
    recent = await events.recent()
    return recent if recent and all(e.attempts for e in recent) else None


async def _all_delivered(events, ids: list[str]) -> bool:  # noqa: ANN001
    return all(event.status == DELIVERED for event in [await events.get(i) for i in ids])


def _due_now() -> Any:
    from sqlalchemy import bindparam, update

    from flow2api.storage.schema import webhook_events
    return update(webhook_events).where(webhook_events.c.id == bindparam("event_id")).values(next_attempt_at=0)


async def _settle(gw) -> None:  # noqa: ANN001
    """A few scans of the outbox more (poll_interval 0.1 s)."""
    await asyncio.sleep(0.4)
    await gw.app[WEBHOOKS].deliver_due()
