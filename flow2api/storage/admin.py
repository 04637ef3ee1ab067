"""Queries of the admin site's tables: ``admin_credentials``, ``admin_tokens``, ``admin_revoked_sessions``.

:class:`~flow2api.admin.store.AdminStore` owns the rules (argon2 hashing,
seeding from the settings, token format); this repository only stores what it
is given. Hashes only: no password or token is ever passed here in clear.
Times are Unix seconds; every method raises ``sqlalchemy.exc.SQLAlchemyError``.
Rows are mappings (``row["token_hash"]``, ``dict(row)``).
"""

from __future__ import annotations

from sqlalchemy import RowMapping, bindparam, delete, insert, select, update

from flow2api.storage.database import Database
from flow2api.storage.schema import admin_credentials, admin_revoked_sessions, admin_tokens, upsert

_LOGIN = admin_credentials.c.id == 1
_TOKEN = admin_tokens.c.id == bindparam("token_id")
_SESSIONS = admin_revoked_sessions
_CHANGE = update(admin_credentials).where(_LOGIN)  # SET the parameters' columns
_CREATE_TOKEN = insert(admin_tokens).returning(admin_tokens.c.id)
_TOUCH_TOKEN = update(admin_tokens).where(_TOKEN)
_DELETE_TOKEN = delete(admin_tokens).where(_TOKEN).returning(admin_tokens.c.id)
_FORGET = delete(_SESSIONS).where(_SESSIONS.c.until < bindparam("now"))


class AdminRepository:
    """The admin login row, admin API token rows and revoked session ids."""

    def __init__(self, db: Database) -> None:
        self._db = db
        seed = upsert(db.dialect, admin_credentials)
        self._seed = seed.on_conflict_do_update(index_elements=[admin_credentials.c.id], set_={
            **{name: seed.excluded[name] for name in ("username", "password_hash", "seed_hash", "changed_at")},
            "must_change": True,
        })
        revoke = upsert(db.dialect, _SESSIONS)
        self._revoke = revoke.on_conflict_do_update(index_elements=[_SESSIONS.c.sid],
                                                    set_={"until": revoke.excluded.until})

    # -- credentials (one row, id 1) ---------------------------------------------------------------------------

    async def credentials(self) -> RowMapping | None:
        """The login row (``username, password_hash, seed_hash, must_change, changed_at``), or ``None`` before seeding."""
        row = await self._db.fetch_one(select(admin_credentials).where(_LOGIN))
        return row._mapping if row is not None else None

    async def seed_credentials(self, username: str, password_hash: str, seed_hash: str, changed_at: float) -> None:
        """Store (replace) the login seeded from the settings, flagged ``must_change``."""
        await self._db.writes.write(self._seed, {
            "id": 1, "username": username, "password_hash": password_hash, "seed_hash": seed_hash, "must_change": True,
            "changed_at": changed_at,
        }, idempotent=True)

    async def change_credentials(self, username: str, password_hash: str, changed_at: float) -> None:
        """Set the username and password hash chosen by the admin (clears ``must_change``)."""
        await self._db.writes.write(_CHANGE, {
            "username": username, "password_hash": password_hash, "must_change": False, "changed_at": changed_at,
        }, idempotent=True)

    # -- tokens ------------------------------------------------------------------------------------------------

    async def tokens(self) -> list[RowMapping]:
        """Every token row (``id, name, token_hash, prefix, created_at, last_used_at``), oldest first."""
        return [row._mapping for row in await self._db.fetch_all(select(admin_tokens).order_by(admin_tokens.c.id))]

    async def create_token(self, name: str, token_hash: str, prefix: str, created_at: float) -> int:
        """Insert a token row; returns its id."""
        (row,) = await self._db.writes.write_one(_CREATE_TOKEN, {
            "name": name, "token_hash": token_hash, "prefix": prefix, "created_at": created_at,
        })
        return row[0]

    async def touch_token(self, token_id: int, at: float) -> None:
        """Set the token's ``last_used_at``."""
        await self._db.writes.write(_TOUCH_TOKEN, {"last_used_at": at, "token_id": token_id}, idempotent=True)

    async def delete_token(self, token_id: int) -> bool:
        """Delete a token row; True when it existed."""
        return bool(await self._db.writes.write_one(_DELETE_TOKEN, {"token_id": token_id}))

    # -- revoked sessions --------------------------------------------------------------------------------------

    async def revoked_sessions(self, now: float) -> dict[str, float]:
        """Forget revocations that ended before ``now``; returns the others as ``{sid: until}``."""
        await self._db.writes.write(_FORGET, {"now": now}, idempotent=True)
        rows = await self._db.fetch_all(select(_SESSIONS.c.sid, _SESSIONS.c.until))
        return {row.sid: row.until for row in rows}

    async def revoke_session(self, sid: str, until: float) -> None:
        """Refuse the session id until ``until`` (replacing an earlier revocation of it)."""
        await self._db.writes.write(self._revoke, {"sid": sid, "until": until}, idempotent=True)
