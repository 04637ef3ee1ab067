"""Persistent state: every SQL statement. SQLite (``sqlite3`` in one worker thread), versioned migrations,
encrypted secrets.

``Database`` owns the connection, the schema and the one write path (the group
commit, ``Database.writes``); the repositories (:mod:`.accounts`, :mod:`.tasks`,
:mod:`.usage`, :mod:`.apikeys`, :mod:`.admin`, :mod:`.overrides`, :mod:`.stats`)
own their tables' queries;
:class:`SecretBox` encrypts account secrets with Fernet.
"""

from typing import Final

from aiohttp import web

from flow2api.storage.crypto import SecretBox, load_or_create_key
from flow2api.storage.database import Database

__all__ = ["DATABASE", "Database", "SecretBox", "load_or_create_key"]

DATABASE: Final = web.AppKey("database", Database)
