"""a finished group can be closed: when, and by whom (issue 15.4)

Revision ID: 0014
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("programme_group") as batch:
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("closed_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_programme_group_closed_by_id_app_user", "app_user", ["closed_by_id"], ["id"])


def downgrade():
    with op.batch_alter_table("programme_group") as batch:
        batch.drop_constraint("fk_programme_group_closed_by_id_app_user", type_="foreignkey")
        batch.drop_column("closed_by_id")
        batch.drop_column("closed_at")
