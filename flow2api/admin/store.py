"""The admin login, admin API tokens and revoked sessions, in the database.

* **Credentials** (``admin_credentials``, one row): the username and an argon2id
  hash of the password (``argon2-cffi``). The row is seeded from ``[global]
  admin_username`` / ``admin_password`` on first start and flagged
  ``must_change``: the admin site lets nobody past the change-password form
  until it is changed. ``seed_hash`` remembers what the settings file said when
  it was seeded; when the file's password no longer matches it at start-up,
  the operator edited the file (the documented way to reset a forgotten
  password), so the row is seeded again. The fingerprint is a salted SHA-256,
  not argon2: it never admits anyone (logins check ``password_hash``), and the
  password it fingerprints sits in clear in the settings file anyway.
* **Admin tokens** (``admin_tokens``): ``f2a-admin-`` + 43 URL-safe characters
  (256 bits) for the JSON API; only their SHA-256 and a display prefix are
  stored (a high-entropy token needs no slow KDF, like the client API keys).
* **Revoked sessions** (``admin_revoked_sessions``): session ids logged out
  before their absolute timeout, so a copied cookie stops working at logout.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from flow2api.storage.admin import AdminRepository
from flow2api.storage.database import Database

log = logging.getLogger(__name__)

TOKEN_PREFIX = "f2a-admin-"
MIN_PASSWORD_LENGTH = 8


class PasswordPolicyError(ValueError):
    """A new password or username is refused; the message says why (never echoes the password)."""


class WrongPasswordError(PasswordPolicyError):
    """The current password given to :meth:`AdminStore.change_password` is not the stored one (counted by the
    login throttle)."""


@dataclass(frozen=True, slots=True)
class AdminTokenRecord:
    """One admin API token as stored: no secret, ``prefix`` is for display; times are Unix seconds."""

    id: int
    name: str
    prefix: str
    created_at: float
    last_used_at: float | None = None


@dataclass(frozen=True, slots=True)
class AdminLogin:
    """The admin account: ``username``, ``must_change`` (still the seeded password), ``epoch`` (Unix s of the last change)."""

    username: str
    must_change: bool
    epoch: float


def _seed_fingerprint(username: str, password: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(16)
    digest = hashlib.sha256(f"{salt}\0{username}\0{password}".encode()).hexdigest()
    return f"sha256${salt}${digest}"


def _seed_matches(stored: str, username: str, password: str) -> bool:
    parts = stored.split("$")
    if len(parts) != 3 or parts[0] != "sha256":
        return False
    return secrets.compare_digest(_seed_fingerprint(username, password, parts[1]), stored)


def hash_token(token: str) -> str:
    """Hex SHA-256 of an admin token (what the table stores and looks up)."""
    return hashlib.sha256(token.encode()).hexdigest()


class AdminStore:
    """Admin credentials, tokens and revoked sessions; call :meth:`load` once the database is open.

    Password hashing runs in a worker thread: argon2 deliberately costs tens of
    milliseconds and 64 MiB, which must not stall the event loop.
    """

    def __init__(self, db: Database, hasher: PasswordHasher | None = None) -> None:
        self._repo = AdminRepository(db)
        self._hasher = hasher or PasswordHasher()
        self.login: AdminLogin | None = None
        self._password_hash = ""
        self._tokens: dict[str, AdminTokenRecord] = {}
        self._revoked: dict[str, float] = {}
        self._pending_seed: tuple[str, str] | None = None
        self._seed_lock = asyncio.Lock()

    async def load(self, username: str, password: str) -> None:
        """Read the credentials (noting a needed seed), admin tokens and revoked sessions.

        Seeding hashes with argon2, which is deliberately slow; it is deferred to
        the first login so that starting the server (and every test gateway)
        does not pay for it.
        """
        row = await self._repo.credentials()
        if row is None or not _seed_matches(row["seed_hash"], username, password):
            self._pending_seed = (username, password)
            self.login = AdminLogin(username, True, time.time())
            if row is not None:
                log.warning("the admin login in the settings file changed: it replaces the stored one (change it at next login)")
        else:
            self._remember(dict(row))
        self._tokens = {
            row["token_hash"]: AdminTokenRecord(row["id"], row["name"], row["prefix"], row["created_at"], row["last_used_at"])
            for row in await self._repo.tokens()
        }
        self._revoked = await self._repo.revoked_sessions(time.time())

    async def _seed_if_pending(self) -> None:
        async with self._seed_lock:  # two first logins at once must not both seed
            if self._pending_seed is not None:
                await self._seed(*self._pending_seed)
                self._pending_seed = None

    async def _seed(self, username: str, password: str) -> None:
        now = time.time()
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        seed_hash = _seed_fingerprint(username, password)
        await self._repo.seed_credentials(username, password_hash, seed_hash, now)
        self._remember({"username": username, "password_hash": password_hash, "must_change": 1, "changed_at": now})
        log.info("admin login seeded from the settings (must be changed at first login)")

    def _remember(self, row: dict) -> None:
        self._password_hash = row["password_hash"]
        self.login = AdminLogin(row["username"], bool(row["must_change"]), row["changed_at"])

    async def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(self._hasher.verify, stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    # -- password --------------------------------------------------------------------------------------------

    async def check_password(self, username: str, password: str) -> bool:
        """True when ``username`` and ``password`` are the admin login (constant-time name compare, argon2 verify)."""
        assert self.login is not None, "AdminStore.load() was not called"
        await self._seed_if_pending()
        name_ok = secrets.compare_digest(username.encode(), self.login.username.encode())
        password_ok = await self._verify(self._password_hash, password)
        return name_ok and password_ok

    async def change_password(self, current: str, new: str, *, username: str | None = None) -> AdminLogin:
        """Set a new password (and optionally username) after checking the current one.

        Raises :class:`PasswordPolicyError` when the current password is wrong,
        the new one is shorter than 8 characters or equal to the current one, or
        the username is empty. Every session started before is invalidated (the
        login ``epoch`` moves).
        """
        assert self.login is not None, "AdminStore.load() was not called"
        await self._seed_if_pending()
        if not await self._verify(self._password_hash, current):
            raise WrongPasswordError("the current password is not correct")
        if len(new) < MIN_PASSWORD_LENGTH:
            raise PasswordPolicyError(f"the new password needs at least {MIN_PASSWORD_LENGTH} characters")
        if secrets.compare_digest(new.encode(), current.encode()):
            raise PasswordPolicyError("the new password must differ from the current one")
        name = (username or self.login.username).strip()
        if not name:
            raise PasswordPolicyError("the username cannot be empty")
        password_hash = await asyncio.to_thread(self._hasher.hash, new)
        now = time.time()
        await self._repo.change_credentials(name, password_hash, now)
        self._remember({"username": name, "password_hash": password_hash, "must_change": 0, "changed_at": now})
        log.info("admin password changed; earlier sessions are logged out")
        return self.login

    # -- sessions ---------------------------------------------------------------------------------------------

    def is_revoked(self, sid: str) -> bool:
        """True when the session id was logged out."""
        return sid in self._revoked

    async def revoke_session(self, sid: str, until: float) -> None:
        """Refuse the session id from now until ``until`` (Unix s, its absolute expiry)."""
        self._revoked[sid] = until
        await self._repo.revoke_session(sid, until)

    # -- tokens -----------------------------------------------------------------------------------------------

    async def create_token(self, name: str) -> tuple[AdminTokenRecord, str]:
        """Create an admin API token; returns the record and the plaintext token (shown once, never stored).

        Raises ``ValueError`` for an empty name.
        """
        name = name.strip()
        if not name:
            raise ValueError("a token needs a name")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        prefix = token[: len(TOKEN_PREFIX) + 4]
        now = time.time()
        token_id = await self._repo.create_token(name, hash_token(token), prefix, now)
        record = AdminTokenRecord(token_id, name, prefix, now)
        self._tokens[hash_token(token)] = record
        log.info("admin token %d (%s) created", record.id, name)
        return record, token

    def tokens(self) -> list[AdminTokenRecord]:
        """Every admin token, oldest first."""
        return sorted(self._tokens.values(), key=lambda r: r.id)

    def find_token(self, token: str) -> AdminTokenRecord | None:
        """The record of a presented plaintext token, or ``None`` (dictionary lookup on its SHA-256)."""
        return self._tokens.get(hash_token(token))

    async def touch_token(self, record: AdminTokenRecord) -> None:
        """Record a use (written at most once a minute per token)."""
        now = time.time()
        if record.last_used_at and now - record.last_used_at < 60:
            return
        await self._repo.touch_token(record.id, now)
        for digest, current in self._tokens.items():
            if current.id == record.id:
                self._tokens[digest] = AdminTokenRecord(current.id, current.name, current.prefix, current.created_at, now)

    async def revoke_token(self, token_id: int) -> bool:
        """Delete an admin token; True when it existed."""
        digest = next((d for d, r in self._tokens.items() if r.id == token_id), None)
        if digest is None:
            return False
        await self._repo.delete_token(token_id)
        del self._tokens[digest]
        log.info("admin token %d revoked", token_id)
        return True

ADMIN_STORE: Final = web.AppKey("admin_store", AdminStore)
