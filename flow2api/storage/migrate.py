"""Schema migrations: Alembic's revisions in :mod:`flow2api.storage.migrations`, run in place on open.

:func:`upgrade` runs on a SQLAlchemy connection (in the storage thread): a
SQLite file made by the earlier ``sqlite3`` code (no ``alembic_version``
table, its version in ``PRAGMA user_version``) first gets the scripts it
misses (:mod:`flow2api.storage.legacy`) and is stamped with the matching
revision; then every pending revision runs. On PostgreSQL the upgrade holds an
advisory lock, so several instances starting at once migrate one after the
other. A revision only ever adds (tables, columns, indexes): stored data is
never dropped.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, inspect, select

from flow2api.storage import legacy

log = logging.getLogger(__name__)
# Alembic logs its context at INFO on every open (each CLI command, each test gateway); our own line says what ran.
logging.getLogger("alembic").setLevel(logging.WARNING)

SCRIPTS = Path(__file__).parent / "migrations"
_LOCK = 0x0F1A_2A91  # pg_advisory_lock key of flow2api's migrations


def alembic_config(connection: Connection) -> Config:
    """An Alembic configuration over ``connection`` (no ``alembic.ini``: the script directory is the package's)."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision of the package's migrations."""
    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()  # type: ignore[arg-type]


def current(connection: Connection) -> str | None:
    """The revision the database is at, or ``None`` before the first."""
    revision = MigrationContext.configure(connection).get_current_revision()
    connection.rollback()  # the look opened a transaction; end it before anyone else uses the connection
    return revision


def upgrade(connection: Connection) -> str:
    """Bring the database to :func:`head` (adopting a ``sqlite3``-era file first); returns the revision now in
    place. Raises the database's error when a revision fails (that revision is rolled back)."""
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.execute(select(func.pg_advisory_lock(_LOCK)))
        connection.commit()
    try:
        _adopt_sqlite3_file(connection)
        before = current(connection)
        command.upgrade(alembic_config(connection), "head")
        connection.commit()
        now = current(connection)
        if now != before:
            log.info("database migrated from revision %s to %s", before or "(empty)", now)
        return now or ""
    finally:
        if postgres:
            connection.execute(select(func.pg_advisory_unlock(_LOCK)))
            connection.commit()


def _adopt_sqlite3_file(connection: Connection) -> None:
    """Stamp a file made by the ``sqlite3`` code with its revision, after running the scripts it misses."""
    if connection.dialect.name != "sqlite":
        return
    tables = inspect(connection).get_table_names()
    connection.rollback()
    if not tables or "alembic_version" in tables:
        return
    version = connection.exec_driver_sql("PRAGMA user_version").scalar() or 0
    connection.rollback()
    if version not in legacy.STAMPS:
        raw = connection.connection.driver_connection
        for number, script in enumerate(legacy.MIGRATIONS[version:5], start=version + 1):
            raw.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        version = 5
    command.stamp(alembic_config(connection), legacy.STAMPS[version])
    connection.commit()
    log.info("adopted a database file of the sqlite3 storage (schema version %d) as revision %s",
             version, legacy.STAMPS[version])
