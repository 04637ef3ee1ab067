"""The tables, as SQLAlchemy Core ``Table`` objects: what every repository's statements are built from.

One schema for SQLite and PostgreSQL. Types are chosen so that a SQLite file
created by the earlier ``sqlite3`` code is this schema as it stands (stamped by
:mod:`flow2api.storage.migrate`): ``Boolean`` flags are the ``0``/``1``
integers they were (a native ``boolean`` on PostgreSQL), times are Unix
seconds as ``Double`` (``REAL`` / ``double precision``), sealed secrets are
``LargeBinary`` (``BLOB`` / ``bytea``). ``sqlite_autoincrement`` keeps
SQLite's ``AUTOINCREMENT``: an id (of a revoked key, say) is never handed out
again. The migrations in :mod:`flow2api.storage.migrations` create exactly
this; tests/storage compares the two.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean, CheckConstraint, Column, Double, ForeignKey, Index, Integer, LargeBinary, MetaData, Table, Text,
    UniqueConstraint, bindparam, delete, select, text, true, tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite

metadata = MetaData()


def flag(name: str) -> Column[bool]:
    """A ``NOT NULL`` boolean column defaulting to true (``INTEGER 1`` on SQLite, ``true`` on PostgreSQL)."""
    return Column(name, Boolean(create_constraint=False), nullable=False, server_default=true())


def counter(name: str, default: str = "0", kind: Any = Integer) -> Column[Any]:
    """A ``NOT NULL`` number column with a server default."""
    return Column(name, kind, nullable=False, server_default=text(default))


def label(name: str) -> Column[str]:
    """A ``NOT NULL`` text column defaulting to ``''``."""
    return Column(name, Text, nullable=False, server_default=text("''"))


def required(name: str, kind: Any = Text) -> Column[Any]:
    """A ``NOT NULL`` column without default."""
    return Column(name, kind, nullable=False)


accounts = Table(
    "accounts", metadata,
    Column("id", Integer, primary_key=True),
    required("family"), required("email"), label("name"), label("remark"),
    flag("enabled"), flag("image_enabled"), flag("video_enabled"),
    counter("image_concurrency", "-1"), counter("video_concurrency", "-1"),
    Column("proxy_url", Text), Column("credits", Integer), Column("tier", Text), Column("secrets", LargeBinary),
    Column("state", Text, nullable=False, server_default=text("'{}'")),
    counter("consecutive_errors"), Column("cooldown_until", Double), Column("ban_reason", Text),
    Column("last_error", Text), counter("use_count"), Column("last_used_at", Double),
    required("created_at", Double), required("updated_at", Double),
    UniqueConstraint("family", "email"),
    sqlite_autoincrement=True,
)

projects = Table(
    "projects", metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    required("project_id"), label("title"), required("created_at", Double),
    UniqueConstraint("account_id", "project_id"),
    sqlite_autoincrement=True,
)

tasks = Table(
    "tasks", metadata,
    Column("id", Text, primary_key=True),
    required("kind"), required("model"), required("prompt"), required("status"),
    counter("progress", "0", Double), Column("account_id", Integer), Column("api_key", Text),
    Column("result", Text), Column("error", Text),
    required("created_at", Double), required("updated_at", Double), Column("completed_at", Double),
    Column("resume", Text), Column("surface", Text), Column("owner", Text), Column("api_key_id", Integer),
    Column("request", Text), Column("idempotency_key", Text), Column("request_hash", Text),
    Column("deleted_at", Double),
    # Issue 17: the instance running a Videos API job and until when (Unix s) it holds it (flow2api.jobs.leases)
    Column("lease_owner", Text), Column("lease_until", Double),
    # Issue 17: the instance that accepted the row (flow2api.storage.instances fails it once that instance is gone)
    Column("instance_id", Text),
    Index("tasks_status", "status"),
    Index("tasks_owner_surface", "owner", "surface", "created_at"),
)
Index("tasks_idempotency", tasks.c.owner, tasks.c.idempotency_key, unique=True,
      sqlite_where=tasks.c.idempotency_key.isnot(None), postgresql_where=tasks.c.idempotency_key.isnot(None))

request_logs = Table(
    "request_logs", metadata,
    Column("id", Integer, primary_key=True),
    required("request_id"), required("method"), required("path"), Column("model", Text),
    required("status", Integer), required("duration_ms", Double), Column("account_id", Integer),
    Column("api_key", Text), Column("error", Text), required("created_at", Double),
    Index("request_logs_created", "created_at"),
    sqlite_autoincrement=True,
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", Integer, primary_key=True),
    required("name"), Column("key_hash", Text, nullable=False, unique=True), required("prefix"),
    counter("rpm"), counter("concurrency"), Column("models", Text, nullable=False, server_default=text("'[]'")),
    Column("expires_at", Double), flag("enabled"), required("created_at", Double), Column("last_used_at", Double),
    sqlite_autoincrement=True,
)

admin_credentials = Table(
    "admin_credentials", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    required("username"), required("password_hash"), required("seed_hash"), flag("must_change"),
    required("changed_at", Double),
    CheckConstraint("id = 1"),
)

admin_tokens = Table(
    "admin_tokens", metadata,
    Column("id", Integer, primary_key=True),
    required("name"), Column("token_hash", Text, nullable=False, unique=True), required("prefix"),
    required("created_at", Double), Column("last_used_at", Double),
    sqlite_autoincrement=True,
)

admin_revoked_sessions = Table(
    "admin_revoked_sessions", metadata,
    Column("sid", Text, primary_key=True), required("until", Double),
)

settings_overrides = Table(
    "settings_overrides", metadata,
    Column("section", Text, primary_key=True), Column("key", Text, primary_key=True),
    required("value", LargeBinary), required("updated_at", Double),
)

usage_daily = Table(
    "usage_daily", metadata,
    Column("day", Text, primary_key=True), Column("account_id", Integer, primary_key=True, autoincrement=False),
    Column("api_key_id", Integer, primary_key=True, autoincrement=False), required("api_key"),
    Column("model", Text, primary_key=True), required("kind"),
    counter("attempts"), counter("succeeded"), counter("failed"), counter("outputs"),
    counter("duration_ms", "0", Double),
)

changes = Table(
    "changes", metadata,
    Column("scope", Text, primary_key=True), required("revision", Integer),
)


def upsert(dialect: str, table: Table) -> Any:
    """``INSERT`` into ``table`` with ``ON CONFLICT`` support (``.on_conflict_do_update`` / ``…_nothing`` and
    ``.excluded``): SQLAlchemy's construct of the database's dialect (``"sqlite"`` or ``"postgresql"``), which
    both spell the same way."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def delete_batch(table: Table, where: Any) -> Any:
    """``DELETE`` of at most ``:limit`` rows of ``table`` matching ``where`` (any of them: no order), ``RETURNING``
    the first primary-key column (so the caller counts what went).

    The rows are chosen by a sub-select on the primary key (``WHERE key IN (SELECT key … LIMIT n)``): neither
    SQLite (without a compile option) nor PostgreSQL has ``DELETE … LIMIT``. Without ``ORDER BY`` the sub-select
    stops at the n-th match instead of sorting every match of a large backlog. Bounded statements keep each
    write transaction short, so the group commit's other writes are not held up behind a big purge.
    """
    keys = list(table.primary_key.columns)
    chosen = select(*keys).where(where).limit(bindparam("limit", type_=Integer))
    target = keys[0] if len(keys) == 1 else tuple_(*keys)
    return delete(table).where(target.in_(chosen)).returning(keys[0])


workflow_documents = Table(  # issue 20: documents of workflow plugins (flow2api.storage.workflows), one JSON row each
    "workflow_documents", metadata,
    Column("workflow", Text, primary_key=True), Column("id", Text, primary_key=True),
    required("owner"), required("status"), required("data"), required("created_at", Double),
    required("updated_at", Double),
    Index("workflow_documents_owner", "workflow", "owner", "created_at"),
)

webhook_events = Table(  # issue 21: the webhook outbox (flow2api.storage.webhooks), one row per event until it ends
    "webhook_events", metadata,
    Column("id", Text, primary_key=True), required("type"), Column("task_id", Text), Column("api_key_id", Integer),
    required("payload"), required("status"), counter("attempts"), Column("next_attempt_at", Double),
    Column("last_status", Integer), Column("last_error", Text), Column("url", Text),
    required("created_at", Double), required("updated_at", Double), Column("delivered_at", Double),
    Index("webhook_events_due", "status", "next_attempt_at"),
    Index("webhook_events_created", "created_at"),
)
Index("webhook_events_task", webhook_events.c.task_id, unique=True,
      sqlite_where=webhook_events.c.task_id.isnot(None), postgresql_where=webhook_events.c.task_id.isnot(None))

webhook_endpoints = Table(  # issue 21: an API key's own webhook endpoint; its secret sealed (storage.crypto)
    "webhook_endpoints", metadata,
    Column("api_key_id", Integer, ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    required("url"), Column("secret", LargeBinary), required("updated_at", Double),
)

instances = Table(  # issue 17: the serving instances and their heartbeats (flow2api.storage.instances); times Unix s
    "instances", metadata,
    Column("instance_id", Text, primary_key=True), required("host"), required("pid", Integer), required("version"),
    required("started_at", Double), required("last_seen", Double),
)
