"""reconciliation runs say which region they covered and how many of their searches failed

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ndelius_reconciliation") as batch:
        batch.add_column(sa.Column("region_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("searches", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("failed_searches", sa.Integer(), nullable=False, server_default="0"))
        batch.create_foreign_key("fk_ndelius_reconciliation_region_id_region", "region", ["region_id"], ["id"])


def downgrade():
    with op.batch_alter_table("ndelius_reconciliation") as batch:
        batch.drop_constraint("fk_ndelius_reconciliation_region_id_region", type_="foreignkey")
        batch.drop_column("failed_searches")
        batch.drop_column("searches")
        batch.drop_column("region_id")
