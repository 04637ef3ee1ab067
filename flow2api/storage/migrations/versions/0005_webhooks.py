"""Issue 21: ``webhook_events`` (the durable webhook outbox) and ``webhook_endpoints`` (an API key's own endpoint).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the two tables and their indexes."""
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Text(), nullable=True),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.Double(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("delivered_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("webhook_events_due", "webhook_events", ["status", "next_attempt_at"])
    op.create_index("webhook_events_created", "webhook_events", ["created_at"])
    op.create_index("webhook_events_task", "webhook_events", ["task_id"], unique=True,
                    sqlite_where=sa.text("task_id IS NOT NULL"), postgresql_where=sa.text("task_id IS NOT NULL"))
    op.create_table(
        "webhook_endpoints",
        sa.Column("api_key_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("api_key_id"),
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("webhook_endpoints")
    for index in ("webhook_events_task", "webhook_events_created", "webhook_events_due"):
        op.drop_index(index, table_name="webhook_events")
    op.drop_table("webhook_events")
