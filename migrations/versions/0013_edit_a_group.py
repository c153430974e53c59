"""a session keeps its own nDelius office location once its group's location changes (issue 15.1)

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("programme_session") as batch:
        batch.add_column(sa.Column("location_code", sa.String(20), nullable=True))


def downgrade():
    with op.batch_alter_table("programme_session") as batch:
        batch.drop_column("location_code")
