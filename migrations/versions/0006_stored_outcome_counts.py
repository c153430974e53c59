"""stored outcome counts per person, for the regional dashboard

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

COLUMNS = ("outcomes_recorded", "outcomes_attended", "outcomes_complied")


def upgrade():
    with op.batch_alter_table("referral_progress") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    op.execute("""
        UPDATE referral_progress SET
          outcomes_recorded = (SELECT count(*) FROM attendance JOIN attendee ON attendee.id = attendance.attendee_id
                               WHERE attendee.referral_id = referral_progress.referral_id
                                 AND attendance.outcome IS NOT NULL),
          outcomes_attended = (SELECT count(*) FROM attendance JOIN attendee ON attendee.id = attendance.attendee_id
                               WHERE attendee.referral_id = referral_progress.referral_id
                                 AND attendance.outcome IN ('ATTC', 'AFTC')),
          outcomes_complied = (SELECT count(*) FROM attendance JOIN attendee ON attendee.id = attendance.attendee_id
                               WHERE attendee.referral_id = referral_progress.referral_id
                                 AND attendance.outcome = 'ATTC')
    """)


def downgrade():
    with op.batch_alter_table("referral_progress") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
