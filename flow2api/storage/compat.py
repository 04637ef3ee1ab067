"""Deprecated: the aiosqlite-shaped ``Database.conn`` that tests and benchmarks outside the package still use.

``async with db.conn.execute(sql, params) as cur: rows = await cur.fetchall()``
and ``await db.conn.execute(sql)`` keep working on top of the public
interface: a read (``SELECT``, ``PRAGMA``, ``WITH``) is :meth:`Database.fetch_all
<flow2api.storage.database.Database.fetch_all>` after the queued writes, any
other statement goes through the group commit (``db.writes.write_one``), the
one write path. :meth:`LegacyConnection.commit` is a barrier on the group
commit. The SQL goes to the driver as written (``?`` placeholders: SQLite
only). Nothing in ``flow2api`` uses this; new code calls the repositories.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row

if TYPE_CHECKING:
    from flow2api.storage.database import Database

_READS = ("SELECT", "PRAGMA", "WITH", "EXPLAIN")


class LegacyCursor:
    """The fetched rows of one statement, with aiosqlite's awaitable ``fetchall`` / ``fetchone``."""

    def __init__(self, rows: list[Row]) -> None:
        self._rows = rows

    async def fetchall(self) -> list[Row]:
        """Every remaining row."""
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Row | None:
        """The next row, or ``None``."""
        return self._rows.pop(0) if self._rows else None


class _Statement:
    """``db.conn.execute(...)``: awaitable (→ :class:`LegacyCursor`) and an async context manager."""

    def __init__(self, db: Database, sql: str, params: Sequence[Any]) -> None:
        self._db, self._sql, self._params = db, sql, params

    async def _cursor(self) -> LegacyCursor:
        if self._sql.lstrip().upper().startswith(_READS):
            await self._db.writes.flushed()
            return LegacyCursor(await self._db.fetch_all(self._sql, self._params))
        return LegacyCursor(await self._db.writes.write_one(self._sql, self._params))

    def __await__(self) -> Generator[Any, None, LegacyCursor]:
        return self._cursor().__await__()

    async def __aenter__(self) -> LegacyCursor:
        return await self._cursor()

    async def __aexit__(self, *exc: object) -> None:
        return None


class LegacyConnection:
    """``execute`` and ``commit`` of the aiosqlite connection ``Database.conn`` used to be (see the module)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Statement:
        """Run one statement: a read after the queued writes, anything else through the group commit."""
        return _Statement(self._db, sql, params)

    async def commit(self) -> None:
        """Wait for every write queued so far (each :meth:`execute` write is committed when it returns)."""
        await self._db.writes.flushed()
