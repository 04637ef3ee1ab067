"""Storage: migrations, WAL, sealed secrets, account upserts."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from flow2api.storage import Database, SecretBox, load_or_create_key
from flow2api.storage.accounts import AccountRepository
from flow2api.storage.database import MIGRATIONS


async def test_migrations_apply_once_and_use_wal(tmp_path: Path) -> None:
    db = Database(tmp_path / "f.db")
    await db.open()
    assert (await db.fetch_one("PRAGMA journal_mode"))[0] == "wal"
    assert await db.migrate() == len(MIGRATIONS)
    await db.close()
    again = Database(tmp_path / "f.db")
    await again.open()  # no migration runs twice (it would fail on existing tables)
    assert (await again.fetch_one("PRAGMA user_version"))[0] == len(MIGRATIONS)
    await again.close()


def test_key_is_generated_once_with_private_permissions(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path)
    assert load_or_create_key(tmp_path) == key
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(ValueError, match="not a valid Fernet key"):
        load_or_create_key(tmp_path, "short")


def test_secret_box_round_trip_and_wrong_key() -> None:
    box = SecretBox(Fernet.generate_key())
    token = box.seal({"st": "session-token-value"})
    assert b"session-token-value" not in token
    assert box.open(token) == {"st": "session-token-value"}
    with pytest.raises(ValueError, match="cannot be decrypted"):
        SecretBox(Fernet.generate_key()).open(token)


async def test_upsert_by_family_and_email_merges_and_re_enables(tmp_path: Path) -> None:
    db = Database(tmp_path / "f.db")
    await db.open()
    repo = AccountRepository(db, SecretBox(Fernet.generate_key()))
    first = await repo.upsert("videofx", "a@example.com", secrets={"st": "s1", "at": "a1"}, state={"x": 1}, tier="T")
    await repo.update(first.id, {"enabled": False, "ban_reason": "session expired", "consecutive_errors": 3})
    second = await repo.upsert("videofx", "a@example.com", secrets={"st": "s2"}, state={"y": 2})
    assert second.id == first.id
    assert second.secrets == {"st": "s2", "at": "a1"} and second.state == {"x": 1, "y": 2}
    assert second.enabled and second.ban_reason is None and second.consecutive_errors == 0
    assert len(await repo.list()) == 1
    with pytest.raises(ValueError, match="not editable"):
        await repo.update(first.id, {"secrets": {}})
    await repo.add_project(first.id, "p1", "P1")
    await repo.add_project(first.id, "p1", "P1")
    assert await repo.projects(first.id) == ["p1"]
    assert await repo.delete(first.id) and await repo.projects(first.id) == []
    await db.close()
