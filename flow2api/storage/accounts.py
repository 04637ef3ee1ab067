"""Queries of the ``accounts`` and ``projects`` tables.

Secrets are sealed with :class:`~flow2api.storage.crypto.SecretBox` on the way
in and opened on the way out: the file never holds them in clear.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update

from flow2api.storage.changes import ACCOUNTS
from flow2api.storage.crypto import SecretBox
from flow2api.storage.database import Database
from flow2api.storage.schema import accounts, projects, upsert

EDITABLE_FIELDS = frozenset({
    "name", "remark", "enabled", "image_enabled", "video_enabled", "image_concurrency", "video_concurrency",
    "proxy_url", "credits", "tier", "consecutive_errors", "cooldown_until", "ban_reason", "last_error",
    "use_count", "last_used_at", "email",
})


@dataclass(slots=True)
class AccountRecord:
    """One row of ``accounts`` with ``secrets`` decrypted and ``state`` parsed.

    Concurrency limits are per kind, ``-1`` = unlimited; ``cooldown_until`` and
    the ``*_at`` fields are Unix seconds.
    """

    id: int
    family: str
    email: str
    name: str = ""
    remark: str = ""
    enabled: bool = True
    image_enabled: bool = True
    video_enabled: bool = True
    image_concurrency: int = -1
    video_concurrency: int = -1
    proxy_url: str | None = None
    credits: int | None = None
    tier: str | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    consecutive_errors: int = 0
    cooldown_until: float | None = None
    ban_reason: str | None = None
    last_error: str | None = None
    use_count: int = 0
    last_used_at: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    def __repr__(self) -> str:
        return f"AccountRecord(id={self.id}, family={self.family!r}, email={self.email!r}, enabled={self.enabled})"


_COLUMNS = [f.name for f in fields(AccountRecord)]
_BY_ID = accounts.c.id == bindparam("account_id")
_LIST = select(accounts).order_by(accounts.c.id)
_GET = select(accounts).where(_BY_ID)
_FIND = select(accounts).where(accounts.c.family == bindparam("family"), accounts.c.email == bindparam("email"))
_INSERT = insert(accounts).returning(accounts.c.id)
_DELETE = delete(accounts).where(_BY_ID).returning(accounts.c.id)
_USAGE = update(accounts).where(_BY_ID)  # SET use_count, last_used_at, updated_at (the parameters' columns)
_REMOVE_PROJECT = delete(projects).where(projects.c.account_id == bindparam("account_id"),
                                         projects.c.project_id == bindparam("project_id"))
_PROJECTS = select(projects.c.project_id).where(projects.c.account_id == bindparam("account_id")).order_by(projects.c.id)


class AccountRepository:
    """CRUD for accounts and their projects."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        self._add_project = upsert(db.dialect, projects).on_conflict_do_nothing(
            index_elements=[projects.c.account_id, projects.c.project_id])

    @property
    def database(self) -> Database:
        """The database the accounts live in (operator commands store other rows beside them)."""
        return self._db

    @property
    def box(self) -> SecretBox:
        """The secrets box sealing the accounts' secrets (the same key seals stored settings)."""
        return self._box

    def _record(self, row: Any) -> AccountRecord:
        data = dict(row._mapping)
        data["secrets"] = self._box.open(data["secrets"])
        data["state"] = json.loads(data["state"] or "{}")
        for flag in ("enabled", "image_enabled", "video_enabled"):
            data[flag] = bool(data[flag])
        return AccountRecord(**{k: data[k] for k in _COLUMNS})

    async def list(self) -> list[AccountRecord]:
        """Every account, oldest first."""
        return [self._record(row) for row in await self._db.fetch_all(_LIST)]

    async def get(self, account_id: int) -> AccountRecord | None:
        """The account with this id, or ``None``."""
        row = await self._db.fetch_one(_GET, {"account_id": account_id})
        return self._record(row) if row else None

    async def upsert(
        self,
        family: str,
        email: str,
        *,
        secrets: dict[str, str],
        state: dict[str, Any] | None = None,
        name: str | None = None,
        tier: str | None = None,
        credits: int | None = None,
        **extra: Any,
    ) -> AccountRecord:
        """Insert an account, or update the one with the same ``(family, email)``.

        On update, ``secrets`` and ``state`` are merged into the stored ones, and the
        account is re-enabled with its error counters cleared (new credentials
        are a fresh start, as in the original project). ``extra`` may set any
        editable field (``remark``, ``proxy_url``, concurrency …).
        """
        now = time.time()
        existing = await self._find(family, email)
        if existing is None:
            record = AccountRecord(
                id=0, family=family, email=email, name=name or "", tier=tier, credits=credits,
                secrets=dict(secrets), state=dict(state or {}), created_at=now, updated_at=now,
            )
            for key, value in extra.items():
                setattr(record, key, value)
            values = self._row_values(record)
            del values["id"]
            (row,) = await self._db.changes.along(ACCOUNTS, self._db.writes.write_one(_INSERT, values))
            record.id = row[0]
            return record
        changes: dict[str, Any] = {
            "enabled": True, "consecutive_errors": 0, "ban_reason": None, "cooldown_until": None, "last_error": None,
            **extra,
        }
        if name is not None:
            changes["name"] = name
        if tier is not None:
            changes["tier"] = tier
        if credits is not None:
            changes["credits"] = credits
        return await self.update(existing.id, changes, secrets=secrets, state=state)

    async def _find(self, family: str, email: str) -> AccountRecord | None:
        row = await self._db.fetch_one(_FIND, {"family": family, "email": email})
        return self._record(row) if row else None

    def _row_values(self, record: AccountRecord) -> dict[str, Any]:
        values = {name: getattr(record, name) for name in _COLUMNS}
        values["secrets"] = self._box.seal(record.secrets)
        values["state"] = json.dumps(record.state, separators=(",", ":"))
        return values

    async def update(
        self,
        account_id: int,
        changes: dict[str, Any] | None = None,
        *,
        secrets: dict[str, str] | None = None,
        state: dict[str, Any] | None = None,
        current: AccountRecord | None = None,
    ) -> AccountRecord:
        """Apply ``changes`` (editable fields only) and merge ``secrets``/``state``; returns the new record.

        Only changed columns are written; secrets are re-sealed only when they
        change. ``current`` is the caller's up-to-date copy of the record (the
        pool's), which saves reading and decrypting the row. Raises ``KeyError``
        for an unknown account and ``ValueError`` for a field that is not editable.
        """
        changes = dict(changes or {})
        bad = set(changes) - EDITABLE_FIELDS
        if bad:
            raise ValueError(f"not editable: {', '.join(sorted(bad))}")
        record = replace(current) if current is not None else await self.get(account_id)
        if record is None:
            raise KeyError(account_id)
        columns: dict[str, Any] = dict(changes)
        if secrets:
            record.secrets = {**record.secrets, **secrets}
            columns["secrets"] = self._box.seal(record.secrets)
        if state:
            record.state = {**record.state, **state}
            columns["state"] = json.dumps(record.state, separators=(",", ":"))
        for key, value in changes.items():
            setattr(record, key, value)
        record.updated_at = columns["updated_at"] = time.time()
        statement = update(accounts).where(accounts.c.id == account_id).values(columns).returning(accounts.c.id)
        matched = await self._db.changes.along(ACCOUNTS, self._db.writes.write_one(statement, {}))
        if not matched:
            raise KeyError(account_id)
        return record

    def write_usage_later(self, account_id: int, current: Callable[[], AccountRecord | None]) -> None:
        """Queue a write of the account's use counters (``use_count``, ``last_used_at``).

        Group commit, not awaited (:class:`~flow2api.storage.batcher.WriteBatcher`):
        ``current()`` is read when the batch runs, so the row gets the latest
        in-memory values. No other write touches these two columns, so the
        order against the other updates does not matter (``consecutive_errors``,
        which failures write with :meth:`update`, is not part of it).
        """
        def values() -> dict[str, Any]:
            record = current()
            if record is None:  # deleted meanwhile: the UPDATE matches nothing
                return {"use_count": 0, "last_used_at": None, "updated_at": time.time(), "account_id": account_id}
            return {"use_count": record.use_count, "last_used_at": record.last_used_at, "updated_at": time.time(),
                    "account_id": account_id}

        self._db.writes.write_later(_USAGE, values, idempotent=True)

    async def delete(self, account_id: int) -> bool:
        """Delete an account and its projects; True when it existed."""
        return bool(await self._db.changes.along(ACCOUNTS, self._db.writes.write_one(_DELETE, {"account_id": account_id})))

    async def add_project(self, account_id: int, project_id: str, title: str) -> None:
        """Record an upstream project owned by the account (idempotent)."""
        await self._db.changes.along(ACCOUNTS, self._db.writes.write(self._add_project, {
            "account_id": account_id, "project_id": project_id, "title": title, "created_at": time.time(),
        }, idempotent=True))

    async def remove_project(self, account_id: int, project_id: str) -> None:
        """Forget a project upstream no longer knows (idempotent)."""
        await self._db.changes.along(ACCOUNTS, self._db.writes.write(
            _REMOVE_PROJECT, {"account_id": account_id, "project_id": project_id}, idempotent=True))

    async def projects(self, account_id: int) -> list[str]:
        """The account's project ids, oldest first."""
        rows = await self._db.fetch_all(_PROJECTS, {"account_id": account_id})
        return [row[0] for row in rows]
