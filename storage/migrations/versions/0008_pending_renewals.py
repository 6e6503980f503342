"""pending renewals (Amazon authorization state, one-time private page) and token selling_partner_id

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pendingrenewal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('token_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('token_version', sa.Integer(), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('choices', sa.JSON(), nullable=False),
    sa.Column('thread_channel', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('claimed_until', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    op.create_index(op.f('ix_pendingrenewal_expires_at'), 'pendingrenewal', ['expires_at'], unique=False)
    op.create_index(op.f('ix_pendingrenewal_token_id'), 'pendingrenewal', ['token_id'], unique=False)
    # Plain ADD COLUMN, never a batch copy: on SQLite a copied token table would cascade-delete its notices.
    op.add_column('token', sa.Column('selling_partner_id', sqlmodel.sql.sqltypes.AutoString(length=64),
                                     nullable=True))


def downgrade() -> None:
    op.drop_column('token', 'selling_partner_id')
    op.drop_index(op.f('ix_pendingrenewal_token_id'), table_name='pendingrenewal')
    op.drop_index(op.f('ix_pendingrenewal_expires_at'), table_name='pendingrenewal')
    op.drop_table('pendingrenewal')
