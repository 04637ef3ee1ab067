"""Queries of the ``api_keys`` table (client API keys: SHA-256 of the key, display prefix, limits).

:class:`~flow2api.apikeys.ApiKeyStore` keeps the in-memory index the hot path
reads; this repository is what it reads it from and writes through (the
database's group commit). Rows are mappings of the table's columns
(``row["key_hash"]``, ``dict(row)``); ``models`` is a JSON list, times are Unix seconds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, bindparam, delete, insert, select, update

from flow2api.storage.changes import API_KEYS
from flow2api.storage.database import Database
from flow2api.storage.schema import api_keys

_BY_ID = api_keys.c.id == bindparam("key_id")
_LIST = select(api_keys).order_by(api_keys.c.id)
_CREATE = insert(api_keys).returning(api_keys.c.id)
# SET takes the columns of the parameters given (SQLAlchemy); separate objects, so each groups its own writes
_UPDATE = update(api_keys).where(_BY_ID)
_DELETE = delete(api_keys).where(_BY_ID).returning(api_keys.c.id)
_TOUCH = update(api_keys).where(_BY_ID)


class ApiKeyRepository:
    """List, create, update, delete and touch ``api_keys`` rows; raises ``sqlalchemy.exc.SQLAlchemyError``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self) -> list[RowMapping]:
        """Every row, oldest first."""
        return [row._mapping for row in await self._db.fetch_all(_LIST)]

    async def create(
        self, *, name: str, key_hash: str, prefix: str, rpm: int, concurrency: int, models: str,
        expires_at: float | None, created_at: float,
    ) -> int:
        """Insert an enabled key; returns its id. ``models`` is the JSON list; a duplicate ``key_hash`` raises
        ``sqlalchemy.exc.IntegrityError``."""
        (row,) = await self._db.changes.along(API_KEYS, self._db.writes.write_one(_CREATE, {
            "name": name, "key_hash": key_hash, "prefix": prefix, "rpm": rpm, "concurrency": concurrency,
            "models": models, "expires_at": expires_at, "enabled": True, "created_at": created_at,
        }))
        return row[0]

    async def update(self, key_id: int, values: dict[str, Any]) -> None:
        """Set ``name, rpm, concurrency, models`` (JSON), ``expires_at`` and ``enabled`` of the key."""
        params = {name: values[name] for name in ("name", "rpm", "concurrency", "models", "expires_at")}
        await self._db.changes.along(API_KEYS, self._db.writes.write(
            _UPDATE, {**params, "enabled": bool(values["enabled"]), "key_id": key_id}, idempotent=True,
        ))

    async def delete(self, key_id: int) -> bool:
        """Delete the key; True when it existed."""
        return bool(await self._db.changes.along(API_KEYS, self._db.writes.write_one(_DELETE, {"key_id": key_id})))

    async def touch(self, key_id: int, at: float) -> None:
        """Set ``last_used_at`` to ``at`` (Unix s)."""
        await self._db.writes.write(_TOUCH, {"last_used_at": at, "key_id": key_id}, idempotent=True)
