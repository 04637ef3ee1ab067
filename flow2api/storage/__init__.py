"""Persistent state: SQLite through aiosqlite, versioned migrations, encrypted secrets.

``Database`` owns the connection and the schema; the repositories
(:mod:`.accounts`, :mod:`.tasks`, :mod:`.logs`) own their tables' queries;
:class:`SecretBox` encrypts account secrets with Fernet.
"""

from flow2api.storage.crypto import SecretBox, load_or_create_key
from flow2api.storage.database import Database

__all__ = ["Database", "SecretBox", "load_or_create_key"]
