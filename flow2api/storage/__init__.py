"""Persistent state: every SQL statement. SQLite or PostgreSQL through SQLAlchemy Core (one worker thread),
Alembic migrations, encrypted secrets.

``Database`` owns the connection, the migrations and the one write path (the group
commit, ``Database.writes``); :mod:`.schema` holds the tables; the repositories (:mod:`.accounts`,
:mod:`.tasks` with :mod:`.task_queries`, :mod:`.usage`, :mod:`.apikeys`, :mod:`.admin`, :mod:`.overrides`, :mod:`.stats`,
:mod:`.leases`, :mod:`.instances`)
own their tables' queries;
:class:`SecretBox` encrypts account secrets with Fernet.
"""

from typing import Final

from aiohttp import web

from flow2api.storage.crypto import SecretBox, load_or_create_key
from flow2api.storage.database import Database, database_url

__all__ = ["DATABASE", "Database", "SecretBox", "database_url", "load_or_create_key"]

DATABASE: Final = web.AppKey("database", Database)
