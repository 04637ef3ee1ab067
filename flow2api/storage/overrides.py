"""Queries of the ``settings_overrides`` table: settings changed in the admin site, one row per ``(section, key)``.

Values are opaque blobs here (:mod:`flow2api.admin.overrides` seals them with
the secrets key before they arrive). Rows are ``(section, key, value)``
tuples ordered by section and key. :func:`read_overrides` is the synchronous
read :func:`~flow2api.admin.overrides.apply_stored_settings` makes at start-up,
before there is an event loop or an open :class:`Database`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from flow2api.storage.changes import SETTINGS
from flow2api.storage.database import Database

_SELECT = "SELECT section, key, value FROM settings_overrides ORDER BY section, key"
Row = tuple[str, str, bytes]


class SettingsOverrideRepository:
    """Read and store sealed settings overrides on the app's database; raises ``sqlite3.Error``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def rows(self) -> list[Row]:
        """Every stored ``(section, key, value)``."""
        return [tuple(row) for row in await self._db.fetch_all(_SELECT)]

    async def save(self, section: str, values: Mapping[str, bytes], updated_at: float) -> None:
        """Store (replace) the sealed ``values`` of ``section``'s keys, stamped ``updated_at`` (Unix s)."""
        upsert = (
            "INSERT INTO settings_overrides (section, key, value, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (section, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
        )
        # One batch of the group commit: the rows share one trip and one executemany.
        await asyncio.gather(*(self._db.writes.write(upsert, (section, key, blob, updated_at), idempotent=True)
                               for key, blob in values.items()), self._db.changes.bump(SETTINGS))


def read_overrides(path: Path) -> list[Row]:
    """The stored rows of the database file at ``path``, read-only and synchronously; ``[]`` when the file does
    not exist or predates the table."""
    if not path.is_file():
        return []
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return connection.execute(_SELECT).fetchall()
        finally:
            connection.close()
    except sqlite3.OperationalError:  # no such table: the schema is older than the admin site
        return []
