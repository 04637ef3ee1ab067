"""Queries of the ``api_keys`` table (client API keys: SHA-256 of the key, display prefix, limits).

:class:`~flow2api.apikeys.ApiKeyStore` keeps the in-memory index the hot path
reads; this repository is what it reads it from and writes through (the
database's group commit). Rows are :class:`sqlite3.Row` with the table's
columns; ``models`` is a JSON list, times are Unix seconds.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from flow2api.storage.changes import API_KEYS
from flow2api.storage.database import Database


class ApiKeyRepository:
    """List, create, update, delete and touch ``api_keys`` rows; raises ``sqlite3.Error``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self) -> list[sqlite3.Row]:
        """Every row, oldest first."""
        return await self._db.fetch_all("SELECT * FROM api_keys ORDER BY id")

    async def create(
        self, *, name: str, key_hash: str, prefix: str, rpm: int, concurrency: int, models: str,
        expires_at: float | None, created_at: float,
    ) -> int:
        """Insert an enabled key; returns its id. ``models`` is the JSON list; a duplicate ``key_hash`` raises
        ``sqlite3.IntegrityError``."""
        (row,) = await self._db.changes.along(API_KEYS, self._db.writes.write_one(
            "INSERT INTO api_keys (name, key_hash, prefix, rpm, concurrency, models, expires_at, enabled, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?) RETURNING id",
            (name, key_hash, prefix, rpm, concurrency, models, expires_at, created_at),
        ))
        return row[0]

    async def update(self, key_id: int, values: dict[str, Any]) -> None:
        """Set ``name, rpm, concurrency, models`` (JSON), ``expires_at`` and ``enabled`` (0/1) of the key."""
        await self._db.changes.along(API_KEYS, self._db.writes.write(
            "UPDATE api_keys SET name = ?, rpm = ?, concurrency = ?, models = ?, expires_at = ?, enabled = ? WHERE id = ?",
            (values["name"], values["rpm"], values["concurrency"], values["models"], values["expires_at"],
             values["enabled"], key_id),
            idempotent=True,
        ))

    async def delete(self, key_id: int) -> bool:
        """Delete the key; True when it existed."""
        return bool(await self._db.changes.along(
            API_KEYS, self._db.writes.write_one("DELETE FROM api_keys WHERE id = ? RETURNING id", (key_id,))))

    async def touch(self, key_id: int, at: float) -> None:
        """Set ``last_used_at`` to ``at`` (Unix s)."""
        await self._db.writes.write("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (at, key_id), idempotent=True)
