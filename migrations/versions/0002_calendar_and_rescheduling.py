"""calendar and rescheduling

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

ONE_RESCHEDULE = "kind IN ('cascade', 'reslot') AND status IN ('queued', 'running')"


def upgrade():
    op.create_table(
        'calendar_feed',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_calendar_feed_user_id_app_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_feed')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_calendar_feed_token_hash')),
        sa.UniqueConstraint('user_id', name=op.f('uq_calendar_feed_user_id')),
    )
    # Only one reschedule (cascade or change of days and times) of a group at a time, even when two
    # requests race past the service's check.
    with op.batch_alter_table('operation', schema=None) as batch_op:
        batch_op.create_index('uq_operation_one_reschedule', ['group_id'], unique=True,
                              postgresql_where=sa.text(ONE_RESCHEDULE), sqlite_where=sa.text(ONE_RESCHEDULE))


def downgrade():
    with op.batch_alter_table('operation', schema=None) as batch_op:
        batch_op.drop_index('uq_operation_one_reschedule')
    op.drop_table('calendar_feed')
