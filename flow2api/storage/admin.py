"""Queries of the admin site's tables: ``admin_credentials``, ``admin_tokens``, ``admin_revoked_sessions``.

:class:`~flow2api.admin.store.AdminStore` owns the rules (argon2 hashing,
seeding from the settings, token format); this repository only stores what it
is given. Hashes only: no password or token is ever passed here in clear.
Times are Unix seconds; every method raises ``sqlite3.Error``.
"""

from __future__ import annotations

import sqlite3

from flow2api.storage.database import Database


class AdminRepository:
    """The admin login row, admin API token rows and revoked session ids."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- credentials (one row, id 1) ---------------------------------------------------------------------------

    async def credentials(self) -> sqlite3.Row | None:
        """The login row (``username, password_hash, seed_hash, must_change, changed_at``), or ``None`` before seeding."""
        return await self._db.fetch_one("SELECT * FROM admin_credentials WHERE id = 1")

    async def seed_credentials(self, username: str, password_hash: str, seed_hash: str, changed_at: float) -> None:
        """Store (replace) the login seeded from the settings, flagged ``must_change``."""
        await self._db.writes.write(
            "INSERT INTO admin_credentials (id, username, password_hash, seed_hash, must_change, changed_at)"
            " VALUES (1, ?, ?, ?, 1, ?) ON CONFLICT (id) DO UPDATE SET username = excluded.username,"
            " password_hash = excluded.password_hash, seed_hash = excluded.seed_hash, must_change = 1,"
            " changed_at = excluded.changed_at",
            (username, password_hash, seed_hash, changed_at), idempotent=True,
        )

    async def change_credentials(self, username: str, password_hash: str, changed_at: float) -> None:
        """Set the username and password hash chosen by the admin (clears ``must_change``)."""
        await self._db.writes.write(
            "UPDATE admin_credentials SET username = ?, password_hash = ?, must_change = 0, changed_at = ? WHERE id = 1",
            (username, password_hash, changed_at), idempotent=True,
        )

    # -- tokens ------------------------------------------------------------------------------------------------

    async def tokens(self) -> list[sqlite3.Row]:
        """Every token row (``id, name, token_hash, prefix, created_at, last_used_at``), oldest first."""
        return await self._db.fetch_all("SELECT * FROM admin_tokens ORDER BY id")

    async def create_token(self, name: str, token_hash: str, prefix: str, created_at: float) -> int:
        """Insert a token row; returns its id."""
        (row,) = await self._db.writes.write_one(
            "INSERT INTO admin_tokens (name, token_hash, prefix, created_at) VALUES (?, ?, ?, ?) RETURNING id",
            (name, token_hash, prefix, created_at),
        )
        return row[0]

    async def touch_token(self, token_id: int, at: float) -> None:
        """Set the token's ``last_used_at``."""
        await self._db.writes.write("UPDATE admin_tokens SET last_used_at = ? WHERE id = ?", (at, token_id),
                                    idempotent=True)

    async def delete_token(self, token_id: int) -> bool:
        """Delete a token row; True when it existed."""
        return bool(await self._db.writes.write_one("DELETE FROM admin_tokens WHERE id = ? RETURNING id", (token_id,)))

    # -- revoked sessions --------------------------------------------------------------------------------------

    async def revoked_sessions(self, now: float) -> dict[str, float]:
        """Forget revocations that ended before ``now``; returns the others as ``{sid: until}``."""
        await self._db.writes.write("DELETE FROM admin_revoked_sessions WHERE until < ?", (now,), idempotent=True)
        rows = await self._db.fetch_all("SELECT sid, until FROM admin_revoked_sessions")
        return {row["sid"]: row["until"] for row in rows}

    async def revoke_session(self, sid: str, until: float) -> None:
        """Refuse the session id until ``until`` (replacing an earlier revocation of it)."""
        await self._db.writes.write(
            "INSERT INTO admin_revoked_sessions (sid, until) VALUES (?, ?)"
            " ON CONFLICT (sid) DO UPDATE SET until = excluded.until",
            (sid, until), idempotent=True,
        )
