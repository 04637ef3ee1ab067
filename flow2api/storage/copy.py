"""``flow2api db copy``: every table of one database into another (SQLite → PostgreSQL, to grow to several
instances), rows as stored — account secrets stay sealed with the same secrets key, so copy ``secret.key``
(or keep ``[storage] secret_key``) along.

Both databases are migrated to the newest revision first, so their columns
match. The target must be empty (no row in any table): a copy never merges.
Tables go in foreign-key order, in chunks of :data:`CHUNK` rows, one
transaction per chunk. On PostgreSQL, each table's id sequence is then set
past the copied ids, so new rows do not collide with old ones.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select

from flow2api.storage.database import Database
from flow2api.storage.schema import metadata

log = logging.getLogger(__name__)

CHUNK = 1000


def _read(table: Table, offset: int, connection: Connection) -> list[dict[str, Any]]:
    query = select(table).order_by(*table.primary_key.columns).limit(CHUNK).offset(offset)
    with connection.begin():
        return [dict(row._mapping) for row in connection.execute(query)]


def _write(table: Table, rows: list[dict[str, Any]], connection: Connection) -> None:
    with connection.begin():
        connection.execute(insert(table), rows)


def _count(table: Table, connection: Connection) -> int:
    with connection.begin():
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def _advance_sequences(connection: Connection) -> None:
    """PostgreSQL: set every serial id's sequence past the largest copied id."""
    with connection.begin():
        for table in metadata.sorted_tables:
            column = table.c.get("id")
            if column is None or column.type.python_type is not int:
                continue
            sequence = func.pg_get_serial_sequence(table.name, "id")
            connection.execute(select(func.setval(sequence, func.coalesce(func.max(column), 0) + 1, False)
                                      .label("next")).select_from(table))


async def copy_tables(source: Database, target: Database) -> dict[str, int]:
    """Copy every table of the open ``source`` into the open, empty ``target``; returns rows copied per table.

    Raises ``ValueError`` when the target already holds rows.
    """
    for table in metadata.sorted_tables:
        if await target.run(functools.partial(_count, table)):
            raise ValueError(f"the target database already holds rows (table {table.name}): copy into an empty one")
    copied: dict[str, int] = {}
    for table in metadata.sorted_tables:
        offset = 0
        while rows := await source.run(functools.partial(_read, table, offset)):
            await target.run(functools.partial(_write, table, rows))
            offset += len(rows)
        copied[table.name] = offset
        log.info("copied %d rows of %s", offset, table.name)
    if target.dialect == "postgresql":
        await target.run(_advance_sequences)
    return copied


async def copy_database(source_url: str, target_url: str) -> dict[str, int]:
    """Open (and migrate) both databases, :func:`copy_tables`, close them; returns rows copied per table."""
    source, target = Database(source_url), Database(target_url)
    await source.open()
    try:
        await target.open()
        try:
            return await copy_tables(source, target)
        finally:
            await target.close()
    finally:
        await source.close()
