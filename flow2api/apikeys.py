"""Client API keys created by operators: stored hashed, shown once, with per-key limits.

A key is ``sk-f2a-`` + 43 random URL-safe characters (256 bits); the database
keeps its SHA-256 (a high-entropy token needs no slow KDF, as with GitHub or
Stripe tokens) and a display prefix. Limits: ``rpm`` requests per minute and
``concurrency`` requests at once (0 = unlimited), ``models`` allowed (empty =
all), ``expires_at`` (Unix seconds or ``None``). The settings' ``[global]
api_key`` keeps working beside these keys.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, fields, replace
from typing import Any, Final

from aiohttp import web

from flow2api.storage.apikeys import ApiKeyRepository
from flow2api.storage.database import Database

KEY_PREFIX = "sk-f2a-"
_EDITABLE = frozenset({"name", "rpm", "concurrency", "models", "expires_at", "enabled"})


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """One API key as stored (no secret in it). ``prefix`` is what UIs show (``sk-f2a-AbCd…``)."""

    id: int
    name: str
    prefix: str
    rpm: int = 0
    concurrency: int = 0
    models: tuple[str, ...] = ()
    expires_at: float | None = None
    enabled: bool = True
    created_at: float = 0.0
    last_used_at: float | None = None

    def usable(self, now: float) -> bool:
        """Enabled and not expired at ``now`` (Unix s)."""
        return self.enabled and (self.expires_at is None or self.expires_at > now)


def hash_key(key: str) -> str:
    """Hex SHA-256 of a presented key (what the table stores and looks up)."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyStore:
    """The ``api_keys`` table with an in-memory index by hash (one lookup per request, no query)."""

    def __init__(self, db: Database) -> None:
        self._repo = ApiKeyRepository(db)
        self._by_hash: dict[str, ApiKeyRecord] = {}
        self._last_used_written: dict[int, float] = {}

    @staticmethod
    def _record(row: Any) -> ApiKeyRecord:
        data = dict(row)
        data["models"] = tuple(json.loads(data["models"] or "[]"))
        data["enabled"] = bool(data["enabled"])
        return ApiKeyRecord(**{f.name: data[f.name] for f in fields(ApiKeyRecord)})

    async def load(self) -> None:
        """Read every key into the index (call once after the database is open)."""
        rows = await self._repo.list()
        self._by_hash = {row["key_hash"]: self._record(row) for row in rows}

    async def create(
        self, name: str, *, rpm: int = 0, concurrency: int = 0, models: tuple[str, ...] | list[str] = (),
        expires_at: float | None = None,
    ) -> tuple[ApiKeyRecord, str]:
        """Create a key; returns its record and the plaintext key, which is never retrievable again.

        Raises ``ValueError`` for an empty name or negative limits.
        """
        if not name.strip():
            raise ValueError("a key needs a name")
        if rpm < 0 or concurrency < 0:
            raise ValueError("limits must be 0 (unlimited) or positive")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        key_id = await self._repo.create(
            name=name.strip(), key_hash=hash_key(key), prefix=key[:11], rpm=rpm, concurrency=concurrency,
            models=json.dumps(list(models)), expires_at=expires_at, created_at=now,
        )
        record = ApiKeyRecord(
            id=key_id, name=name.strip(), prefix=key[:11], rpm=rpm, concurrency=concurrency,
            models=tuple(models), expires_at=expires_at, created_at=now,
        )
        self._by_hash[hash_key(key)] = record
        return record, key

    async def list(self) -> list[ApiKeyRecord]:
        """Every key, oldest first."""
        return sorted(self._by_hash.values(), key=lambda r: r.id)

    async def get(self, key_id: int) -> ApiKeyRecord | None:
        """The key with this id, or ``None``."""
        return next((r for r in self._by_hash.values() if r.id == key_id), None)

    async def update(self, key_id: int, **changes: Any) -> ApiKeyRecord:
        """Change name, limits, allowed models, expiry or enabled; ``KeyError`` if unknown, ``ValueError`` if not editable."""
        bad = set(changes) - _EDITABLE
        if bad:
            raise ValueError(f"not editable: {', '.join(sorted(bad))}")
        for digest, record in self._by_hash.items():
            if record.id == key_id:
                break
        else:
            raise KeyError(key_id)
        if "models" in changes:
            changes["models"] = tuple(changes["models"])
        updated = replace(record, **changes)
        await self._repo.update(key_id, {
            "name": updated.name, "rpm": updated.rpm, "concurrency": updated.concurrency,
            "models": json.dumps(list(updated.models)), "expires_at": updated.expires_at, "enabled": int(updated.enabled),
        })
        self._by_hash[digest] = updated
        return updated

    async def revoke(self, key_id: int) -> bool:
        """Delete a key for good; True when it existed."""
        digest = next((d for d, r in self._by_hash.items() if r.id == key_id), None)
        if digest is None:
            return False
        await self._repo.delete(key_id)
        del self._by_hash[digest]
        return True

    def find(self, key: str) -> ApiKeyRecord | None:
        """The record for a presented plaintext key, or ``None`` (no I/O)."""
        return self._by_hash.get(hash_key(key))

    async def touch(self, record: ApiKeyRecord) -> None:
        """Record use; written at most once a minute per key so the hot path stays free of writes."""
        now = time.time()
        if now - self._last_used_written.get(record.id, 0) < 60:
            return
        self._last_used_written[record.id] = now
        await self._repo.touch(record.id, now)
        for digest, current in self._by_hash.items():
            if current.id == record.id:
                self._by_hash[digest] = replace(current, last_used_at=now)
                break

API_KEYS: Final = web.AppKey("api_keys", ApiKeyStore)
