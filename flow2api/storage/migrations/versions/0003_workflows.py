"""Issue 20: ``workflow_documents``, the documents of workflow plugins (e.g. storyboards), one JSON row each.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the ``workflow_documents`` table and its owner index."""
    op.create_table(
        "workflow_documents",
        sa.Column("workflow", sa.Text(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("workflow", "id"),
    )
    op.create_index("workflow_documents_owner", "workflow_documents", ["workflow", "owner", "created_at"])


def downgrade() -> None:
    """Drop the ``workflow_documents`` table."""
    op.drop_index("workflow_documents_owner", table_name="workflow_documents")
    op.drop_table("workflow_documents")
