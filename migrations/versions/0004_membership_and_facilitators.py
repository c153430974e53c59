"""membership and facilitators

Attendee.removed_at: a person who leaves a group stays on the rows of their future sessions (so the nDelius
appointment can be deleted through the outbox) but is no longer expected there.
Membership.removed_by_id / left_status: who removed the person and the referral status they chose.

Revision ID: 0004
Revises: 0003
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('attendee', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('left_status', sa.String(length=30), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_membership_removed_by_id_app_user'), 'app_user', ['removed_by_id'], ['id'])


def downgrade():
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_membership_removed_by_id_app_user'), type_='foreignkey')
        batch_op.drop_column('left_status')
        batch_op.drop_column('removed_by_id')
    with op.batch_alter_table('attendee', schema=None) as batch_op:
        batch_op.drop_column('removed_at')
