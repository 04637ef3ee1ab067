"""Queries of the webhook outbox (``webhook_events``) and of API keys' own endpoints (``webhook_endpoints``).

An event row is written when a task ends (or the admin sends a test event) and stays until it is
``delivered`` or ``failed`` (given up): the delivery service (:mod:`flow2api.jobs.webhooks`) reads due rows
(``pending`` with ``next_attempt_at`` ≤ now) and *claims* them in one statement
(:meth:`WebhookRepository.claim_due`) that moves their ``next_attempt_at`` past the attempt, then records each
outcome. As for video leases (:mod:`flow2api.storage.leases`), PostgreSQL picks the rows with ``SELECT … FOR
UPDATE SKIP LOCKED`` and the ``UPDATE`` repeats the condition, so two instances claiming at once take different
events and neither waits for the other's transaction; SQLite runs one writer at a time. ``task_id`` is unique
among rows that have one: a task that is closed twice enqueues once.
An endpoint's secret is sealed with the data directory's key (:class:`~flow2api.storage.crypto.SecretBox`).
SQLAlchemy Core statements (:mod:`flow2api.storage.schema`), so SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from sqlalchemy import Integer, and_, bindparam, delete, select, update

from flow2api.storage.crypto import SecretBox
from flow2api.storage.database import Database
from flow2api.storage.schema import upsert, webhook_endpoints as endpoints, webhook_events as events

PENDING, DELIVERED, GIVEN_UP = "pending", "delivered", "failed"

_BY_ID = events.c.id == bindparam("event_id")


def _due(table: Any = events) -> Any:
    """The condition of an event to attempt now: ``pending`` and its next attempt at or before ``now``."""
    return and_(table.c.status == PENDING, table.c.next_attempt_at <= bindparam("now"))


_CANDIDATES = events.alias("candidates")  # the subquery's own name, so it is not correlated with the UPDATE's table
_PICK = (select(_CANDIDATES.c.id).where(_due(_CANDIDATES))
         .order_by(_CANDIDATES.c.next_attempt_at, _CANDIDATES.c.id).limit(bindparam("limit", type_=Integer))
         .with_for_update(skip_locked=True))  # PostgreSQL only; SQLite's compiler leaves it out
_CLAIM_DUE = (update(events).where(events.c.id.in_(_PICK.scalar_subquery()), _due())
              .values(next_attempt_at=bindparam("until")).returning(*events.c))
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

    async def claim_due(self, now: float, until: float, limit: int = 20) -> list[WebhookEvent]:
        """Take up to ``limit`` events due at ``now`` (the longest waiting first) for one attempt each: their
        ``next_attempt_at`` becomes ``until`` (when an attempt cut short by a crash is tried again). Returns them
        as they are now, in no order; an event another instance is claiming at this moment is skipped, never
        waited for."""
        if limit <= 0:
            return []
        rows = await self._db.writes.write_one(_CLAIM_DUE, {"now": now, "until": until, "limit": limit})
        return [WebhookEvent(**row._mapping) for row in rows]

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

