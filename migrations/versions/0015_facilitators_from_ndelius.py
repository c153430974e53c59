"""facilitators are the region's nDelius staff: whether nDelius still lists them, and when it was last read

Revision ID: 0015
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("facilitator") as batch:
        batch.add_column(sa.Column("in_ndelius", sa.Boolean(), nullable=False, server_default=sa.text("true")))
        batch.add_column(sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("facilitator") as batch:
        batch.drop_column("refreshed_at")
        batch.drop_column("in_ndelius")
