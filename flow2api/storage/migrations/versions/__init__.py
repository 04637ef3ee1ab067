"""The revisions, oldest first: ``0001`` is the schema the ``sqlite3`` code had (its ``user_version`` 5)."""
