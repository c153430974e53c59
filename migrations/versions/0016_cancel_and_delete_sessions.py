"""a cancelled session keeps why, when and by whom; a catch-up or one-to-one booked in error is deleted (kept,
hidden, so its nDelius appointments can be deleted by reference) (issue 15.2)

Revision ID: 0016
Revises: 0015
"""
from alembic import op
import sqlalchemy as sa

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("programme_session") as batch:
        batch.add_column(sa.Column("cancel_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("cancelled_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key("fk_programme_session_cancelled_by_id_app_user", "app_user", ["cancelled_by_id"],
                                 ["id"])


def downgrade():
    with op.batch_alter_table("programme_session") as batch:
        batch.drop_constraint("fk_programme_session_cancelled_by_id_app_user", type_="foreignkey")
        batch.drop_column("deleted_at")
        batch.drop_column("cancelled_by_id")
        batch.drop_column("cancelled_at")
        batch.drop_column("cancel_reason")
