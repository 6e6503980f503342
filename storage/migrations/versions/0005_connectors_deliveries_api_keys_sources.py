"""connectors and their delivery outbox, platform confirmations, API keys, account state reports,
verification and source fields on tokens and renewals

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('apikey',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    with op.batch_alter_table('apikey', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apikey_name'), ['name'], unique=False)
        live = sa.text('revoked_at IS NULL')
        batch_op.create_index('uq_apikey_live_name', ['name'], unique=True, sqlite_where=live, postgresql_where=live)

    op.create_table('connector',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('renewal_id', sa.Integer(), nullable=False),
    sa.Column('token_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('connector_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('claimed_until', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('give_up_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reply_channel', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('reply_thread_ts', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('confirmation_ts', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('delivery_id'),
    sa.UniqueConstraint('renewal_id', 'connector_id', name='uq_delivery_renewal_connector')
    )
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_renewal_id'), ['renewal_id'], unique=False)
        batch_op.create_index('ix_delivery_state_next', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_delivery_token_id'), ['token_id'], unique=False)

    op.create_table('platformconfirmation',
    sa.Column('renewal_id', sa.Integer(), nullable=False),
    sa.Column('confirmed_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('confirmed_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('renewal_id')
    )
    # Plain ADD COLUMN, never a batch copy: on SQLite a copied token table would cascade-delete its notices.
    op.add_column('account', sa.Column('state_reason', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
    op.add_column('account', sa.Column('state_reported_at', storage.types.UTCDateTime(timezone=True), nullable=True))

    op.add_column('renewal', sa.Column('verification', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('renewal', sa.Column('via', sqlmodel.sql.sqltypes.AutoString(), nullable=True))

    op.add_column('token', sa.Column('connector', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    op.add_column('token', sa.Column('verify_url', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('token', sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('token', sa.Column('expiry_known', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('token', sa.Column('source_checked_at', storage.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column('token', sa.Column('source_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('token', sa.Column('source_subject', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('token', sa.Column('source_issuer', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_index('ix_token_source', 'token', ['id'], unique=False, sqlite_where=sa.text('source IS NOT NULL'),
                    postgresql_where=sa.text('source IS NOT NULL'))



def downgrade() -> None:
    op.drop_index('ix_token_source', table_name='token')
    with op.batch_alter_table('token', schema=None) as batch_op:
        batch_op.drop_column('source_issuer')
        batch_op.drop_column('source_subject')
        batch_op.drop_column('source_error')
        batch_op.drop_column('source_checked_at')
        batch_op.drop_column('expiry_known')
        batch_op.drop_column('source')
        batch_op.drop_column('verify_url')
        batch_op.drop_column('connector')

    with op.batch_alter_table('renewal', schema=None) as batch_op:
        batch_op.drop_column('via')
        batch_op.drop_column('verification')

    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('state_reported_at')
        batch_op.drop_column('state_reason')

    op.drop_table('platformconfirmation')
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_token_id'))
        batch_op.drop_index('ix_delivery_state_next')
        batch_op.drop_index(batch_op.f('ix_delivery_renewal_id'))

    op.drop_table('delivery')
    op.drop_table('connector')
    with op.batch_alter_table('apikey', schema=None) as batch_op:
        batch_op.drop_index('uq_apikey_live_name')
        batch_op.drop_index(batch_op.f('ix_apikey_name'))

    op.drop_table('apikey')
