"""a membership that restarts the programme (bus stopping after 12 weeks)

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("membership") as batch:
        batch.add_column(sa.Column("restarts_programme", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("membership") as batch:
        batch.drop_column("restarts_programme")
