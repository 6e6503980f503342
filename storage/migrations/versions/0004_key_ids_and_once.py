"""the key that encrypted each secret; a table of things done at most once (replays, one-off messages)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('token', sa.Column('secret_key_id', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
    op.create_index(op.f('ix_token_secret_key_id'), 'token', ['secret_key_id'], unique=False)
    op.create_table('once',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('expires_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_index(op.f('ix_once_expires_at'), 'once', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_once_expires_at'), table_name='once')
    op.drop_table('once')
    op.drop_index(op.f('ix_token_secret_key_id'), table_name='token')
    with op.batch_alter_table('token', schema=None) as batch_op:
        batch_op.drop_column('secret_key_id')
