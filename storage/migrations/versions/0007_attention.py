"""attention: acknowledge and snooze on notices, mute and escalate_to on tokens, follow-ups (reminders and
escalations) and weekly digests planned like notices, and their audit (tokenevent)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _outbox_columns() -> list[sa.Column]:
    return [
        sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('ts', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('claimed_until', storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('sent_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    op.create_table('followup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('expires_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('thread_ts', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('due_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    *_outbox_columns(),
    sa.ForeignKeyConstraint(['token_id'], ['token.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_id', 'expires_at', 'kind', 'key', name='uq_followup_key')
    )
    op.create_index('ix_followup_state_next', 'followup', ['state', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_followup_token_id'), 'followup', ['token_id'], unique=False)
    op.create_table('digest',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('week', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    *_outbox_columns(),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'week', name='uq_digest_week')
    )
    op.create_index('ix_digest_state_next', 'digest', ['state', 'next_attempt_at'], unique=False)
    op.create_table('tokenevent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('stage', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_tokenevent_token_id'), 'tokenevent', ['token_id'], unique=False)
    # Plain ADD COLUMN, never a batch copy: on SQLite a copied token table would cascade-delete its notices.
    op.add_column('notice', sa.Column('acked_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
    op.add_column('notice', sa.Column('acked_at', storage.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column('notice', sa.Column('snoozed_until', storage.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column('notice', sa.Column('snoozed_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
    op.add_column('token', sa.Column('escalate_to', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
    op.add_column('token', sa.Column('muted_expiry', storage.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column('token', sa.Column('muted_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
    op.add_column('token', sa.Column('muted_at', storage.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column('token', sa.Column('mute_reason', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
    # Follow-ups read the tokens near or past expiry; a digest, one channel's tokens by expiry.
    op.create_index('ix_token_expires_at', 'token', ['expires_at'], unique=False)
    op.create_index('ix_token_channel_expires_at', 'token', ['channel', 'expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_token_channel_expires_at', table_name='token')
    op.drop_index('ix_token_expires_at', table_name='token')
    for column in ('mute_reason', 'muted_at', 'muted_by', 'muted_expiry', 'escalate_to'):
        op.drop_column('token', column)
    for column in ('snoozed_by', 'snoozed_until', 'acked_at', 'acked_by'):
        op.drop_column('notice', column)
    op.drop_index(op.f('ix_tokenevent_token_id'), table_name='tokenevent')
    op.drop_table('tokenevent')
    op.drop_index('ix_digest_state_next', table_name='digest')
    op.drop_table('digest')
    op.drop_index(op.f('ix_followup_token_id'), table_name='followup')
    op.drop_index('ix_followup_state_next', table_name='followup')
    op.drop_table('followup')
