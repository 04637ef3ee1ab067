"""Queries of the ``settings_overrides`` table: settings changed in the admin site, one row per ``(section, key)``.

Values are opaque blobs here (:mod:`flow2api.admin.overrides` seals them with
the secrets key before they arrive). Rows are ``(section, key, value)``
tuples ordered by section and key. :func:`read_overrides` is the synchronous
read :func:`~flow2api.admin.overrides.apply_stored_settings` makes at start-up,
before there is an event loop or an open :class:`Database`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from flow2api.storage.changes import SETTINGS
from flow2api.storage.database import Database, make_engine
from flow2api.storage.schema import settings_overrides, upsert

_TABLE = settings_overrides
_SELECT = select(_TABLE.c.section, _TABLE.c.key, _TABLE.c.value).order_by(_TABLE.c.section, _TABLE.c.key)
Row = tuple[str, str, bytes]


class SettingsOverrideRepository:
    """Read and store sealed settings overrides on the app's database; raises ``sqlalchemy.exc.SQLAlchemyError``."""

    def __init__(self, db: Database) -> None:
        self._db = db
        insert = upsert(db.dialect, _TABLE)
        self._save = insert.on_conflict_do_update(
            index_elements=[_TABLE.c.section, _TABLE.c.key],
            set_={"value": insert.excluded.value, "updated_at": insert.excluded.updated_at},
        )

    async def rows(self) -> list[Row]:
        """Every stored ``(section, key, value)``."""
        return [(row[0], row[1], bytes(row[2])) for row in await self._db.fetch_all(_SELECT)]

    async def save(self, section: str, values: Mapping[str, bytes], updated_at: float) -> None:
        """Store (replace) the sealed ``values`` of ``section``'s keys, stamped ``updated_at`` (Unix s)."""
        # One batch of the group commit: the rows share one trip and one executemany.
        await asyncio.gather(*(self._db.writes.write(self._save, {
            "section": section, "key": key, "value": blob, "updated_at": updated_at}, idempotent=True)
                               for key, blob in values.items()), self._db.changes.bump(SETTINGS))


def read_overrides(target: str | Path) -> list[Row]:
    """The stored rows of the database at ``target`` (a SQLite file path or a URL), synchronously; ``[]`` when a
    SQLite file does not exist or the database predates the table."""
    if isinstance(target, Path) and not target.is_file():
        return []
    if isinstance(target, str) and target.startswith("sqlite:///") and not Path(target[10:]).is_file():
        return []
    engine = make_engine(target)
    try:
        with engine.connect() as connection:
            return [(row[0], row[1], bytes(row[2])) for row in connection.execute(_SELECT)]
    except DBAPIError:  # no such table: the schema is older than the admin site
        return []
    finally:
        engine.dispose()
