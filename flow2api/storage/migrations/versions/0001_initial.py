"""The schema of the sqlite3 storage (its ``user_version`` 5): accounts, projects, tasks, request logs, API keys,
the admin site's tables, settings overrides, daily usage.

Revision ID: 0001
Revises:
Create Date: 2026-12-07

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('family', sa.Text(), nullable=False),
    sa.Column('email', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('remark', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('enabled', sa.Boolean(create_constraint=False), server_default=sa.true(), nullable=False),
    sa.Column('image_enabled', sa.Boolean(create_constraint=False), server_default=sa.true(), nullable=False),
    sa.Column('video_enabled', sa.Boolean(create_constraint=False), server_default=sa.true(), nullable=False),
    sa.Column('image_concurrency', sa.Integer(), server_default=sa.text('(-1)'), nullable=False),
    sa.Column('video_concurrency', sa.Integer(), server_default=sa.text('(-1)'), nullable=False),
    sa.Column('proxy_url', sa.Text(), nullable=True),
    sa.Column('credits', sa.Integer(), nullable=True),
    sa.Column('tier', sa.Text(), nullable=True),
    sa.Column('secrets', sa.LargeBinary(), nullable=True),
    sa.Column('state', sa.Text(), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('consecutive_errors', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('cooldown_until', sa.Double(), nullable=True),
    sa.Column('ban_reason', sa.Text(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('use_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_used_at', sa.Double(), nullable=True),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.Column('updated_at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('family', 'email'),
    sqlite_autoincrement=True
    )
    op.create_table('admin_credentials',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('username', sa.Text(), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('seed_hash', sa.Text(), nullable=False),
    sa.Column('must_change', sa.Boolean(create_constraint=False), server_default=sa.true(), nullable=False),
    sa.Column('changed_at', sa.Double(), nullable=False),
    sa.CheckConstraint('id = 1'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('admin_revoked_sessions',
    sa.Column('sid', sa.Text(), nullable=False),
    sa.Column('until', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('sid')
    )
    op.create_table('admin_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('token_hash', sa.Text(), nullable=False),
    sa.Column('prefix', sa.Text(), nullable=False),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.Column('last_used_at', sa.Double(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash'),
    sqlite_autoincrement=True
    )
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('key_hash', sa.Text(), nullable=False),
    sa.Column('prefix', sa.Text(), nullable=False),
    sa.Column('rpm', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('concurrency', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('models', sa.Text(), server_default=sa.text("'[]'"), nullable=False),
    sa.Column('expires_at', sa.Double(), nullable=True),
    sa.Column('enabled', sa.Boolean(create_constraint=False), server_default=sa.true(), nullable=False),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.Column('last_used_at', sa.Double(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash'),
    sqlite_autoincrement=True
    )
    op.create_table('request_logs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Text(), nullable=False),
    sa.Column('method', sa.Text(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('model', sa.Text(), nullable=True),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('duration_ms', sa.Double(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('api_key', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('request_logs', schema=None) as batch_op:
        batch_op.create_index('request_logs_created', ['created_at'], unique=False)

    op.create_table('settings_overrides',
    sa.Column('section', sa.Text(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('value', sa.LargeBinary(), nullable=False),
    sa.Column('updated_at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('section', 'key')
    )
    op.create_table('tasks',
    sa.Column('id', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('model', sa.Text(), nullable=False),
    sa.Column('prompt', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('progress', sa.Double(), server_default=sa.text('0'), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('api_key', sa.Text(), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.Column('updated_at', sa.Double(), nullable=False),
    sa.Column('completed_at', sa.Double(), nullable=True),
    sa.Column('resume', sa.Text(), nullable=True),
    sa.Column('surface', sa.Text(), nullable=True),
    sa.Column('owner', sa.Text(), nullable=True),
    sa.Column('api_key_id', sa.Integer(), nullable=True),
    sa.Column('request', sa.Text(), nullable=True),
    sa.Column('idempotency_key', sa.Text(), nullable=True),
    sa.Column('request_hash', sa.Text(), nullable=True),
    sa.Column('deleted_at', sa.Double(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('tasks_idempotency', ['owner', 'idempotency_key'], unique=True, sqlite_where=sa.text('idempotency_key IS NOT NULL'), postgresql_where=sa.text('idempotency_key IS NOT NULL'))
        batch_op.create_index('tasks_owner_surface', ['owner', 'surface', 'created_at'], unique=False)
        batch_op.create_index('tasks_status', ['status'], unique=False)

    op.create_table('usage_daily',
    sa.Column('day', sa.Text(), nullable=False),
    sa.Column('account_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('api_key_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('api_key', sa.Text(), nullable=False),
    sa.Column('model', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('succeeded', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('failed', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('outputs', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('duration_ms', sa.Double(), server_default=sa.text('0'), nullable=False),
    sa.PrimaryKeyConstraint('day', 'account_id', 'api_key_id', 'model')
    )
    op.create_table('projects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), server_default=sa.text("('')"), nullable=False),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account_id', 'project_id'),
    sqlite_autoincrement=True
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('projects')
    op.drop_table('usage_daily')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('tasks_status')
        batch_op.drop_index('tasks_owner_surface')
        batch_op.drop_index('tasks_idempotency', sqlite_where=sa.text('idempotency_key IS NOT NULL'), postgresql_where=sa.text('idempotency_key IS NOT NULL'))

    op.drop_table('tasks')
    op.drop_table('settings_overrides')
    with op.batch_alter_table('request_logs', schema=None) as batch_op:
        batch_op.drop_index('request_logs_created')

    op.drop_table('request_logs')
    op.drop_table('api_keys')
    op.drop_table('admin_tokens')
    op.drop_table('admin_revoked_sessions')
    op.drop_table('admin_credentials')
    op.drop_table('accounts')
