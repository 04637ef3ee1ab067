"""Issue 17 item 4: the owner instance of a running Videos API job and its lease (``tasks.lease_owner``,
``tasks.lease_until``), so another instance takes over the jobs of one that died (:mod:`flow2api.jobs.leases`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the two nullable lease columns (existing rows: unowned, so the first runner to look claims them)."""
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("lease_owner", sa.Text(), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.Double(), nullable=True))


def downgrade() -> None:
    """Drop the lease columns."""
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
