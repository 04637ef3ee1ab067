"""Queries of the webhook outbox (``webhook_events``) and of API keys' own endpoints (``webhook_endpoints``).

An event row is written when a task ends (or the admin sends a test event) and stays until it is
``delivered`` or ``failed`` (given up): the delivery service (:mod:`flow2api.jobs.webhooks`) reads due rows
(``pending`` with ``next_attempt_at`` ≤ now), *claims* one by moving its ``next_attempt_at`` forward with a
conditional ``UPDATE`` (so two instances on one database never send it at the same time), and records the
outcome. ``task_id`` is unique among rows that have one: a task that is closed twice enqueues once.
An endpoint's secret is sealed with the data directory's key (:class:`~flow2api.storage.crypto.SecretBox`).
SQLAlchemy Core statements (:mod:`flow2api.storage.schema`), so SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from sqlalchemy import bindparam, delete, select, update

from flow2api.storage.crypto import SecretBox
from flow2api.storage.database import Database
from flow2api.storage.schema import upsert, webhook_endpoints as endpoints, webhook_events as events

PENDING, DELIVERED, GIVEN_UP = "pending", "delivered", "failed"

_BY_ID = events.c.id == bindparam("event_id")
_DUE = (select(events).where(events.c.status == PENDING, events.c.next_attempt_at <= bindparam("now"))
        .order_by(events.c.next_attempt_at, events.c.id).limit(bindparam("limit")))
_CLAIM = (update(events).where(_BY_ID, events.c.status == PENDING, events.c.next_attempt_at == bindparam("seen"))
          .values(next_attempt_at=bindparam("until")).returning(events.c.id))
_OUTCOME = update(events).where(_BY_ID)
_RECENT = select(events).order_by(events.c.created_at.desc(), events.c.id.desc()).limit(bindparam("limit"))
_ENDPOINT = select(endpoints).where(endpoints.c.api_key_id == bindparam("key_id"))
_DROP_ENDPOINT = delete(endpoints).where(endpoints.c.api_key_id == bindparam("key_id")).returning(endpoints.c.api_key_id)


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One outbox row: ``payload`` is the JSON body as sent (the bytes signed); times are Unix seconds;
    ``api_key_id`` is the key whose own endpoint it goes to (``None``: the ``[webhooks]`` one)."""

    id: str
    type: str
    task_id: str | None
    api_key_id: int | None
    payload: str
    status: str
    attempts: int
    next_attempt_at: float | None
    last_status: int | None
    last_error: str | None
    url: str | None
    created_at: float
    updated_at: float
    delivered_at: float | None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An API key's own webhook endpoint; ``secret`` ``None`` signs with the ``[webhooks]`` secret."""

    api_key_id: int
    url: str
    secret: str | None


class WebhookRepository:
    """The outbox rows and the per-key endpoints; every method raises ``sqlalchemy.exc.SQLAlchemyError``."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        self._insert = upsert(db.dialect, events).on_conflict_do_nothing().returning(events.c.id)
        put = upsert(db.dialect, endpoints)
        self._put_endpoint = put.on_conflict_do_update(
            index_elements=[endpoints.c.api_key_id],
            set_={"url": put.excluded.url, "secret": put.excluded.secret, "updated_at": put.excluded.updated_at})

    async def enqueue(self, event_id: str, *, type: str, payload: str, task_id: str | None = None,
                      api_key_id: int | None = None, now: float | None = None) -> bool:
        """Store a new ``pending`` event due at once; ``False`` when ``task_id`` already has one (nothing written)."""
        now = time.time() if now is None else now
        rows = await self._db.writes.write_one(self._insert, {
            "id": event_id, "type": type, "task_id": task_id, "api_key_id": api_key_id, "payload": payload,
            "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now,
        })
        return bool(rows)

    async def due(self, now: float, limit: int = 20) -> list[WebhookEvent]:
        """``pending`` events whose next attempt is due at ``now``, the longest waiting first."""
        return [WebhookEvent(**row._mapping) for row in await self._db.fetch_all(_DUE, {"now": now, "limit": limit})]

    async def claim(self, event: WebhookEvent, until: float) -> bool:
        """Take ``event`` for one attempt: its ``next_attempt_at`` becomes ``until`` (when an attempt cut short by
        a crash is tried again) if nobody changed it since it was read; ``True`` when this caller has it."""
        rows = await self._db.writes.write_one(_CLAIM, {"event_id": event.id, "seen": event.next_attempt_at,
                                                        "until": until})
        return bool(rows)

    async def record(self, event_id: str, *, attempts: int, status: str, next_attempt_at: float | None,
                     url: str | None, last_status: int | None = None, last_error: str | None = None) -> None:
        """Store an attempt's outcome: ``delivered`` (stamps ``delivered_at``), ``pending`` again with the next
        attempt's time, or ``failed`` (given up)."""
        now = time.time()
        await self._db.writes.write(_OUTCOME, {
            "event_id": event_id, "attempts": attempts, "status": status, "next_attempt_at": next_attempt_at,
            "url": url, "last_status": last_status, "last_error": last_error, "updated_at": now,
            "delivered_at": now if status == DELIVERED else None,
        }, idempotent=True)

    async def recent(self, limit: int = 50) -> list[WebhookEvent]:
        """The newest ``limit`` events, newest first (the admin site's delivery log)."""
        return [WebhookEvent(**row._mapping) for row in await self._db.fetch_all(_RECENT, {"limit": limit})]

    async def get(self, event_id: str) -> WebhookEvent | None:
        """One event, or ``None``."""
        row = await self._db.fetch_one(select(events).where(_BY_ID), {"event_id": event_id})
        return WebhookEvent(**row._mapping) if row is not None else None

    async def endpoint(self, api_key_id: int) -> Endpoint | None:
        """The key's own endpoint, or ``None``."""
        row = await self._db.fetch_one(_ENDPOINT, {"key_id": api_key_id})
        if row is None:
            return None
        secret = self._box.open(row.secret).get("secret") if row.secret else None
        return Endpoint(api_key_id=row.api_key_id, url=row.url, secret=secret)

    async def set_endpoint(self, api_key_id: int, url: str, secret: str | None) -> None:
        """Give the key its own endpoint (replacing one it had); ``secret`` ``None`` = sign with ``[webhooks] secret``."""
        sealed = self._box.seal({"secret": secret}) if secret else None
        await self._db.writes.write(self._put_endpoint, {"api_key_id": api_key_id, "url": url, "secret": sealed,
                                                         "updated_at": time.time()}, idempotent=True)

    async def drop_endpoint(self, api_key_id: int) -> bool:
        """Remove the key's own endpoint; ``True`` when it had one."""
        return bool(await self._db.writes.write_one(_DROP_ENDPOINT, {"key_id": api_key_id}))


WEBHOOK_EVENTS: Final = web.AppKey("webhook_events", WebhookRepository)

