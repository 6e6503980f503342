"""Home tab viewers, notice permalinks, token marketplace, and the index behind the pickers' type-ahead

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('homeview',
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('opened_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_index(op.f('ix_homeview_opened_at'), 'homeview', ['opened_at'], unique=False)
    # Plain ADD COLUMN, never a batch copy: on SQLite a copied token table would cascade-delete its notices.
    op.add_column('notice', sa.Column('permalink', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('token', sa.Column('marketplace', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True))
    op.create_index('ix_token_lower_name', 'token', [sa.text('lower(name)')], unique=False)


def downgrade() -> None:
    op.drop_index('ix_token_lower_name', table_name='token')
    op.drop_column('token', 'marketplace')
    op.drop_column('notice', 'permalink')
    op.drop_index(op.f('ix_homeview_opened_at'), table_name='homeview')
    op.drop_table('homeview')
