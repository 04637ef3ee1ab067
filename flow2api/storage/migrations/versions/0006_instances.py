"""Issue 17 item 6: ``instances`` (the serving instances and their heartbeats, :mod:`flow2api.storage.instances`)
and ``tasks.instance_id`` (the instance that accepted a row, so a start-up fails only the rows of instances gone).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the table and the nullable column (existing rows: no instance, failed by the next start as before)."""
    op.create_table(
        "instances",
        sa.Column("instance_id", sa.Text(), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("last_seen", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("instance_id"),
    )
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("instance_id", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop the column and the table."""
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("instance_id")
    op.drop_table("instances")
