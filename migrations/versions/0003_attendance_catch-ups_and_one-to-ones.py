"""attendance, catch-ups and one-to-ones: idempotency keys of processed requests

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'processed_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('scope', sa.String(length=30), nullable=False),
        sa.Column('object_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_processed_request_user_id_app_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_processed_request')),
        sa.UniqueConstraint('key', name='uq_processed_request_key'),
    )
    with op.batch_alter_table('processed_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processed_request_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('processed_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_processed_request_created_at'))
    op.drop_table('processed_request')
