"""Alembic's environment: migrate the connection :mod:`flow2api.storage.migrate` hands over, to ``schema.metadata``.

``render_as_batch`` lets a later revision alter a column on SQLite (copy-and-move, as Alembic's batch mode does).
Importing this module outside Alembic (the import checks of the test suite) does nothing.
"""

from alembic import context

from flow2api.storage.schema import metadata


def run_migrations() -> None:
    """Run the pending revisions on the handed-over connection, one transaction per revision."""
    connection = context.config.attributes["connection"]
    # SQLite's DDL is transactional too (Alembic assumes not): a failing revision is rolled back on both engines.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                      transaction_per_migration=True, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


if hasattr(context, "config"):  # only while Alembic runs this script
    run_migrations()
