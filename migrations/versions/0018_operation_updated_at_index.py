"""the calendar asks on every load for reschedules updated in the last hour (issue 16): an index on
operation.updated_at answers it without reading every operation in the country

Revision ID: 0018
Revises: 0017
"""
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(op.f('ix_operation_updated_at'), 'operation', ['updated_at'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_operation_updated_at'), table_name='operation')
