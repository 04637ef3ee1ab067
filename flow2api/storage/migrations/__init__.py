"""Alembic's script directory of the storage schema: ``env.py`` and the revisions in ``versions/``.

Run by :mod:`flow2api.storage.migrate` (never by the ``alembic`` command line, which needs no
``alembic.ini`` here); a new revision is made with ``flow2api.storage.migrate.new_revision``.
"""
