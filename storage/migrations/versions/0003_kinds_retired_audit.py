"""team-defined kinds; retired tokens and accounts; audit rows no longer cascade with their token

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# SQLite keeps the renewal table's foreign key unnamed; batch mode names it by this convention to drop it.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def upgrade() -> None:
    op.create_table('kind',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('pattern', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('pattern_message', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('lifetime_days', sa.Integer(), nullable=True),
    sa.Column('notify_days', sa.JSON(), nullable=True),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('reminder', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    # A plain ADD COLUMN: batch mode would copy and drop these tables, which other tables reference.
    op.add_column('account', sa.Column('retired', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('token', sa.Column('retired', sa.Boolean(), server_default=sa.false(), nullable=False))
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table('renewal', schema=None, naming_convention=NAMING) as batch_op:
            batch_op.drop_constraint('fk_renewal_token_id_token', type_='foreignkey')
    else:
        op.drop_constraint('renewal_token_id_fkey', 'renewal', type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('renewal', schema=None) as batch_op:
        batch_op.create_foreign_key('renewal_token_id_fkey', 'token', ['token_id'], ['id'], ondelete='CASCADE')
    with op.batch_alter_table('token', schema=None) as batch_op:
        batch_op.drop_column('retired')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('retired')
    op.drop_table('kind')
