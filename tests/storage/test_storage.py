"""Storage: migrations (and adopting a file of the sqlite3 storage), WAL, sealed secrets, account upserts."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from flow2api.storage import Database, SecretBox, load_or_create_key
from flow2api.storage.accounts import AccountRepository
from flow2api.storage.migrate import head


async def test_migrations_apply_once(database_url: str) -> None:
    db = Database(database_url)
    await db.open()
    assert await db.migrate() == head()
    await db.close()
    again = Database(database_url)
    await again.open()  # no migration runs twice (it would fail on existing tables)
    assert await again.migrate() == head()
    await again.close()


async def test_sqlite_uses_wal(tmp_path: Path) -> None:
    db = Database(tmp_path / "f.db")
    await db.open()
    assert (await db.fetch_one("PRAGMA journal_mode"))[0] == "wal"
    assert (await db.fetch_one("PRAGMA foreign_keys"))[0] == 1
    await db.close()


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


async def test_upsert_by_family_and_email_merges_and_re_enables(db: Database) -> None:
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


async def test_the_migrations_create_exactly_the_schema_the_repositories_use(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from flow2api.storage.schema import metadata

    def differences(connection):  # noqa: ANN001, ANN202
        found = compare_metadata(MigrationContext.configure(connection), metadata)
        connection.rollback()
        return found

    assert await db.run(differences) == []


def _sqlite3_file(path: Path, version: int) -> None:
    """A data file as the sqlite3 storage left it at schema ``version``, with one key and one account."""
    import sqlite3

    from flow2api.storage import legacy

    with contextlib.closing(sqlite3.connect(path)) as connection:
        for number, script in enumerate(legacy.MIGRATIONS[:version], start=1):
            connection.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        connection.execute("INSERT INTO accounts (family, email, enabled, created_at, updated_at)"
                           " VALUES ('videofx', 'old@example.com', 0, 1, 2)")
        if version >= 3:
            connection.execute("INSERT INTO api_keys (name, key_hash, prefix, created_at) VALUES ('old', 'h', 'p', 3)")
        connection.commit()


@pytest.mark.parametrize("version", [5, 3])
async def test_a_file_of_the_sqlite3_storage_is_upgraded_in_place(tmp_path: Path, version: int) -> None:
    from flow2api.storage.apikeys import ApiKeyRepository

    path = tmp_path / "flow2api.db"
    _sqlite3_file(path, version)
    db = Database(path)
    await db.open()
    try:
        assert await db.migrate() == head()
        (account,) = await AccountRepository(db, SecretBox(Fernet.generate_key())).list()
        assert (account.email, account.enabled, account.created_at) == ("old@example.com", False, 1.0)
        keys = await ApiKeyRepository(db).list()
        assert [(k["name"], k["enabled"]) for k in keys] == ([("old", True)] if version >= 3 else [])
        await db.changes.bump("accounts")  # the table the later revision added is there
        assert await db.changes.revisions() == {"accounts": 1}
    finally:
        await db.close()
