"""Issue 17: one revision per scope of live state (``api_keys``, ``accounts``, ``settings``), bumped with every
change, so a server notices what another process changed (:mod:`flow2api.storage.changes`).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the ``changes`` table."""
    op.create_table(
        "changes",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope"),
    )


def downgrade() -> None:
    """Drop the ``changes`` table."""
    op.drop_table("changes")
