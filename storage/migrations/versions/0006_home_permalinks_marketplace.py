"""Home tab viewers, notice permalinks, token marketplace, and the index behind the pickers' type-ahead

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""
from datetime import timedelta

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
    # The built-in LWA client secret kind now reminds from 90 days (it used the default 30): move the first
    # moment a notice can be due for those that follow the kind's ladder, or the scan would not see them until
    # 30 days before. A handful of rows; done in Python so the date arithmetic is the same on both databases.
    token = sa.table('token', sa.column('id', sa.String), sa.column('kind', sa.String),
                     sa.column('expires_at', storage.types.UTCDateTime(timezone=True)),
                     sa.column('notify_from', storage.types.UTCDateTime(timezone=True)),
                     sa.column('notify_days', sa.JSON), sa.column('expiry_known', sa.Boolean))
    bind = op.get_bind()
    rows = bind.execute(sa.select(token.c.id, token.c.expires_at, token.c.notify_days).where(
        token.c.kind == 'amazon-lwa-client-secret', token.c.expiry_known.is_(True))).all()
    for token_id, expires_at, notify_days in rows:
        if not notify_days:
            bind.execute(token.update().where(token.c.id == token_id).values(
                notify_from=expires_at - timedelta(days=90)))


def downgrade() -> None:
    op.drop_index('ix_token_lower_name', table_name='token')
    op.drop_column('token', 'marketplace')
    op.drop_column('notice', 'permalink')
    op.drop_index(op.f('ix_homeview_opened_at'), table_name='homeview')
    op.drop_table('homeview')
