"""partial index on tokens holding a secret (start-up key check)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('token', schema=None) as batch_op:
        batch_op.create_index('ix_token_secret', ['id'], unique=False,
                              sqlite_where=sa.text('secret_encrypted IS NOT NULL'),
                              postgresql_where=sa.text('secret_encrypted IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('token', schema=None) as batch_op:
        batch_op.drop_index('ix_token_secret')
