"""Every storage test runs on SQLite and on a real PostgreSQL server (:mod:`flow2api.testing.postgres`; the
PostgreSQL case skips only when its binaries are absent)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flow2api.storage import Database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database: a SQLite file in ``tmp_path``, or a new database on the test PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'flow2api.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The open (migrated) database at ``database_url``, closed after the test."""
    database = Database(database_url)
    await database.open()
    yield database
    await database.close()
