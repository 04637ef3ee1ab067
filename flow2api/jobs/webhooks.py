"""Signed webhooks: events of ended tasks go into a durable outbox and are POSTed with Standard Webhooks headers.

When a task row becomes ``completed`` or ``failed`` (:attr:`flow2api.storage.tasks.TaskRepository.on_finished`,
the one hook), an image or video task becomes an event ``image.completed`` / ``image.failed`` /
``video.completed`` / ``video.failed`` shaped like OpenAI's webhook events::

    {"id": "evt_…", "object": "event", "type": "video.completed", "created_at": 1765100000,
     "data": {"id": "video_…"}}

It is stored (``webhook_events``, :mod:`flow2api.storage.webhooks`) before anything is sent, then delivered
by :meth:`WebhookService.run` in the background: ``POST`` of those exact bytes with ``webhook-id`` (the event
id, the same on every retry, so a receiver drops duplicates), ``webhook-timestamp`` (Unix seconds of the
attempt) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>`` by the ``standardwebhooks`` package). A 2xx
answer delivers it; anything else (another status, a refused connection, ``[webhooks] timeout``) schedules the
next attempt ``retry_initial_seconds`` later, doubling up to ``retry_max_seconds``; an event not delivered
``give_up_after_seconds`` after it was created is marked ``failed``. Rows stay in the database meanwhile, so a
restart goes on where the last process stopped. The endpoint is the task's API key's own (admin site) if it
has one, else ``[webhooks] url``; with neither no event is stored. docs/webhooks.md has the operator's view.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

import aiohttp
from aiohttp import web
from standardwebhooks import Webhook

from flow2api import __version__
from flow2api.plugin import Owner
from flow2api.settings import SETTINGS, SettingsHolder
from flow2api.storage.batcher import describe
from flow2api.storage.crypto import SecretBox
from flow2api.storage import DATABASE
from flow2api.storage.tasks import FAILED, SUCCEEDED, TASKS, TaskRepository
from flow2api.storage.webhooks import (
    DELIVERED, GIVEN_UP, PENDING, WEBHOOK_EVENTS, WebhookEvent, WebhookRepository,
)

log = logging.getLogger(__name__)

TEST_EVENT = "webhook.test"
EVENT_KINDS = ("image", "video")  # task kinds that have events
BATCH = 20  # events sent concurrently per scan
CLAIM_MARGIN_S = 30.0  # an attempt cut short by a crash is tried again this long after its timeout


def backoff(attempts: int, initial: float, longest: float) -> float:
    """Seconds before the attempt after ``attempts`` failed ones: ``initial`` doubled each time, at most ``longest``."""
    return min(initial * 2 ** min(attempts - 1, 60), longest)


class WebhookService:
    """Enqueues events (:meth:`task_ended`, :meth:`send_test`) and delivers the outbox (:meth:`run`)."""

    def __init__(self, settings: SettingsHolder, events: WebhookRepository, tasks: TaskRepository) -> None:
        self._settings = settings
        self._events = events
        self._tasks = tasks
        self._wake = asyncio.Event()
        self._soonest: float | None = None  # the earliest retry this process scheduled
        self._http: aiohttp.ClientSession | None = None

    async def task_ended(self, task_id: str) -> None:
        """Enqueue the event of a task that just ended (a non-media task, or one without endpoint: nothing).
        Never raises: a failure is logged, the task's own outcome stands."""
        try:
            record = await self._tasks.get(task_id)
            if record is None or record.kind not in EVENT_KINDS or record.status not in (SUCCEEDED, FAILED):
                return
            outcome = "completed" if record.status == SUCCEEDED else "failed"
            await self.enqueue(f"{record.kind}.{outcome}", {"id": record.id}, task_id=record.id,
                               api_key_id=record.api_key_id)
        except Exception as exc:  # noqa: BLE001 - bookkeeping must not fail the job
            log.warning("webhook event of task %s not stored: %s", task_id, describe(exc))

    async def send_test(self, api_key_id: int | None = None) -> str | None:
        """Enqueue a ``webhook.test`` event to the key's endpoint (else ``[webhooks] url``); its id, or ``None``
        when there is no endpoint."""
        return await self.enqueue(TEST_EVENT, {"id": f"test_{secrets.token_hex(8)}"}, api_key_id=api_key_id)

    async def enqueue(self, type: str, data: dict[str, Any], *, task_id: str | None = None,
                      api_key_id: int | None = None) -> str | None:
        """Store one event for the endpoint of ``api_key_id`` (its own, else the global one) and wake the sender;
        returns the event id, ``None`` without endpoint or when ``task_id`` has an event already."""
        own = await self._events.endpoint(api_key_id) if api_key_id is not None else None
        if own is None and not self._settings.current.webhooks.url:
            return None
        now = time.time()
        event_id = f"evt_{secrets.token_hex(12)}"
        payload = json.dumps({"id": event_id, "object": "event", "type": type, "created_at": int(now), "data": data},
                             separators=(",", ":"))
        stored = await self._events.enqueue(event_id, type=type, payload=payload, task_id=task_id,
                                            api_key_id=own.api_key_id if own else None, now=now)
        if stored:
            self._wake.set()
        return event_id if stored else None

    async def _target(self, event: WebhookEvent) -> tuple[str, str] | None:
        """``(url, secret)`` of the event's endpoint as configured now (a key's deleted endpoint: the global one)."""
        config = self._settings.current.webhooks
        fallback = config.secret.get_secret_value() if config.secret else None
        own = await self._events.endpoint(event.api_key_id) if event.api_key_id is not None else None
        url, secret = (own.url, own.secret or fallback) if own else (config.url, fallback)
        return (url, secret) if url and secret else None

    async def deliver_due(self, now: float | None = None) -> int:
        """Claim the events due at ``now`` (default: the present), at most :data:`BATCH`, and attempt them at once;
        returns how many this call claimed (events another instance claims meanwhile are left to it)."""
        started = time.time()
        until = started + self._settings.current.webhooks.timeout + CLAIM_MARGIN_S
        claimed = await self._events.claim_due(started if now is None else now, until, BATCH)
        await asyncio.gather(*(self._attempt(event) for event in claimed))
        return len(claimed)

    async def _attempt(self, event: WebhookEvent) -> None:
        """One delivery of a claimed event and its recorded outcome."""
        config = self._settings.current.webhooks
        attempts, target = event.attempts + 1, await self._target(event)
        code: int | None = None
        error: str | None = "no webhook url and secret configured for this event"
        if target is not None:
            code, error = await self._post(event, *target, timeout=config.timeout)
        url = target[0] if target else None
        if error is None:
            await self._events.record(event.id, attempts=attempts, status=DELIVERED, next_attempt_at=None,
                                      url=url, last_status=code)
            log.info("webhook %s (%s) delivered after %d attempt(s)", event.id, event.type, attempts)
            return
        retry_at = time.time() + backoff(attempts, config.retry_initial_seconds, config.retry_max_seconds)
        gone = retry_at > event.created_at + config.give_up_after_seconds
        await self._events.record(event.id, attempts=attempts, status=GIVEN_UP if gone else PENDING,
                                  next_attempt_at=None if gone else retry_at, url=url, last_status=code,
                                  last_error=error)
        if gone:
            log.warning("webhook %s (%s) given up after %d attempt(s): %s", event.id, event.type, attempts, error)
        elif self._soonest is None or retry_at < self._soonest:
            self._soonest = retry_at

    async def _post(self, event: WebhookEvent, url: str, secret: str, *, timeout: float) -> tuple[int | None, str | None]:
        """One signed ``POST``; ``(status, None)`` on a 2xx, else ``(status or None, error text)``."""
        assert self._http is not None, "start() first"
        sent = datetime.datetime.now(datetime.timezone.utc)
        headers = {
            "webhook-id": event.id, "webhook-timestamp": str(int(sent.timestamp())),
            "webhook-signature": Webhook(secret).sign(event.id, sent, event.payload),
            "Content-Type": "application/json", "User-Agent": f"flow2api/{__version__}",
        }
        try:
            async with self._http.post(url, data=event.payload.encode(), headers=headers, allow_redirects=False,
                                       timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                if 200 <= response.status < 300:
                    return response.status, None
                return response.status, f"HTTP {response.status} {response.reason or ''}".strip()
        except TimeoutError:
            return None, f"no answer within {timeout:g} s"
        except aiohttp.ClientError as exc:
            return None, f"{type(exc).__name__}: {str(exc)[:200]}"

    async def run(self) -> None:
        """Deliver due events until cancelled: at once when one is enqueued, when a retry this process scheduled
        falls due, and every ``[webhooks] poll_interval`` seconds (retries of other processes, after a restart)."""
        while True:
            self._wake.clear()
            try:
                count = await self.deliver_due()
            except Exception as exc:  # noqa: BLE001 - a database outage must not end the service
                log.warning("webhook delivery scan failed: %s", describe(exc))
                count = 0
            if count >= BATCH:
                continue
            wait = self._settings.current.webhooks.poll_interval
            if self._soonest is not None:
                wait = max(0.0, min(wait, self._soonest - time.time()))
                self._soonest = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def start(self) -> None:
        """Open the HTTP client the deliveries use (direct, not through the accounts' proxies)."""
        self._http = aiohttp.ClientSession()

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._http is not None:
            await self._http.close()


class WorkflowWebhooks:
    """:class:`flow2api.plugin.WebhookEvents` of one workflow plugin: its events (``<workflow>.<what>``) go into
    the outbox of :class:`WebhookService`, to the owner's key's endpoint, else ``[webhooks] url``."""

    def __init__(self, service: WebhookService, workflow: str) -> None:
        self._service = service
        self._prefix = f"{workflow}."

    async def emit(self, type: str, data: Mapping[str, Any], *, owner: Owner) -> str | None:
        """Enqueue one event (see :class:`flow2api.plugin.WebhookEvents`); ``ValueError`` for a type outside the
        workflow's own ``<name>.`` namespace; a storage failure is logged and answered ``None``."""
        if not type.startswith(self._prefix) or len(type) == len(self._prefix):
            raise ValueError(f"a workflow's webhook event type must start with '{self._prefix}', not {type!r}")
        try:
            return await self._service.enqueue(type, dict(data), api_key_id=owner.key_id)
        except Exception as exc:  # noqa: BLE001 - bookkeeping must not fail the workflow's own change
            log.warning("webhook event %s not stored: %s", type, describe(exc))
            return None


WEBHOOKS: Final = web.AppKey("webhooks", WebhookService)


def setup_webhooks(app: web.Application, box: SecretBox) -> None:
    """Create the outbox repository (:data:`WEBHOOK_EVENTS`) and the service (:data:`WEBHOOKS`), hook the service
    to the end of every task, and register :func:`webhook_delivery` in ``cleanup_ctx`` (after the database)."""
    app[WEBHOOK_EVENTS] = WebhookRepository(app[DATABASE], box)
    app[WEBHOOKS] = service = WebhookService(app[SETTINGS], app[WEBHOOK_EVENTS], app[TASKS])
    app[TASKS].on_finished = service.task_ended
    app.cleanup_ctx.append(webhook_delivery)


async def webhook_delivery(app: web.Application) -> AsyncIterator[None]:
    """The background sender (:meth:`WebhookService.run`) from start-up to shutdown."""
    service = app[WEBHOOKS]
    await service.start()
    task = asyncio.create_task(service.run(), name="webhook-delivery")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await service.close()
