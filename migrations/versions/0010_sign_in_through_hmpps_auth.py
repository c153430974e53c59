"""people sign in through HMPPS Auth: no passwords are stored here any more

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("password_hash")


def downgrade():
    # The passwords are gone for good: a downgraded database has accounts nobody can sign in to with one.
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(256), nullable=False, server_default="!"))
