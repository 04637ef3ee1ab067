"""``flow2api db copy`` from a populated SQLite file to PostgreSQL: every row arrives, and a server on the copy
serves the old keys and accounts (issue 17, item 1). Real PostgreSQL (:mod:`flow2api.testing.postgres`), the
real CLI as a subprocess."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from sqlalchemy import Connection, select

from flow2api.apikeys import API_KEYS
from flow2api.storage import DATABASE, Database
from flow2api.storage.schema import metadata
from flow2api.testing import API_KEY, FAKE_IMAGE_MODEL, FakeWorld, run_cli


def _rows(connection: Connection) -> dict[str, list[dict]]:
    with connection.begin():
        return {table.name: [dict(row._mapping) for row in connection.execute(
            select(table).order_by(*table.primary_key.columns))] for table in metadata.sorted_tables}


async def _every_row(url: str) -> dict[str, list[dict]]:
    database = Database(url)
    await database.open()
    try:
        return await database.run(_rows)
    finally:
        await database.close()


async def _image(url: str, key: str) -> int:
    async with aiohttp.ClientSession() as http, http.post(
        f"{url}/v1/images/generations", json={"model": FAKE_IMAGE_MODEL, "prompt": "a red square"},
        headers={"Authorization": f"Bearer {key}"},
    ) as response:
        await response.read()
        return response.status


async def test_db_copy_moves_every_row_and_the_copy_serves_old_keys_and_accounts(
    fake: FakeWorld, tmp_path: Path, postgres_url: str,
) -> None:
    old = await fake.start(accounts=2)
    _, key = await old.app[API_KEYS].create("kept across the move", rpm=100)
    assert await _image(old.url, key) == 200 and await _image(old.url, API_KEY) == 200
    from flow2api.admin.overrides import SettingsOverrides
    from flow2api.storage import SecretBox, load_or_create_key

    box = SecretBox(load_or_create_key(tmp_path / "data"))
    await SettingsOverrides(old.app[DATABASE], box).save("generation", {"max_retries": 2})
    await old.app[DATABASE].writes.flushed()
    sqlite_url = f"sqlite:///{tmp_path / 'data' / 'flow2api.db'}"
    before = await _every_row(sqlite_url)
    assert all(before[name] for name in ("accounts", "api_keys", "tasks", "usage_daily", "request_logs",
                                         "settings_overrides", "changes")), {k: len(v) for k, v in before.items()}

    code, out, err = await run_cli("db", "copy", "--from", sqlite_url, "--to", postgres_url, "--data-dir",
                                   str(tmp_path / "data"), cwd=tmp_path, clean=True)
    assert code == 0, err
    assert f"accounts\t{len(before['accounts'])}" in out and "postgres@127.0.0.1" in out
    assert await _every_row(postgres_url) == before

    moved = await fake.start(accounts=2, storage={"url": postgres_url})
    assert moved.app[DATABASE].dialect == "postgresql"
    assert [r.email for r in moved.pool.records()] == [r.email for r in old.pool.records()]
    assert await _image(moved.url, key) == 200 and await _image(moved.url, API_KEY) == 200
    _, newer = await moved.app[API_KEYS].create("made after the move")  # the id sequence is past the copied ids
    assert newer.startswith("sk-f2a-")

    again = await run_cli("db", "copy", "--from", sqlite_url, "--to", postgres_url, cwd=tmp_path, clean=True)
    assert again[0] == 2 and "already holds rows" in again[2]


async def test_db_upgrade_reports_the_revision(tmp_path: Path, database_url: str) -> None:
    code, out, err = await run_cli("db", "upgrade", "--data-dir", str(tmp_path / "data"), cwd=tmp_path, clean=True,
                                   env={"FLOW2API_STORAGE__URL": database_url})
    assert code == 0, err
    from flow2api.storage.migrate import head

    assert out.strip().endswith(f"at revision {head()}")
