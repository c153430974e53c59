"""what nothing uses goes (issue 18.6): the operation kinds nothing creates ('sync', 'transfer',
'bank_holidays') and ndelius_appointment.ndelius_seen, which nothing reads

Revision ID: 0017
Revises: 0016
"""
from alembic import op
import sqlalchemy as sa

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

KINDS = "kind IN ('generate', 'cascade', 'reslot')"
OLD_KINDS = "kind IN ('generate', 'cascade', 'reslot', 'sync', 'transfer', 'bank_holidays')"


def upgrade():
    # A plain column: SQLite (3.35 and later) drops it in place, as PostgreSQL does.
    op.drop_column('ndelius_appointment', 'ndelius_seen')
    _replace_kind_check(KINDS)


def downgrade():
    _replace_kind_check(OLD_KINDS)
    op.add_column('ndelius_appointment', sa.Column('ndelius_seen', sa.JSON(), nullable=True))


def _replace_kind_check(condition):
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f('ck_operation_kind'), 'operation', type_='check')
        op.create_check_constraint(op.f('ck_operation_kind'), 'operation', condition)
        return
    # SQLite changes a CHECK only by re-creating the table, and operation_step points at it: SQLite's own
    # procedure for this turns foreign keys off, which it allows only between transactions (as in 0005).
    raw = op.get_bind().connection.driver_connection
    if raw.in_transaction:
        raw.execute("COMMIT")
    raw.execute("PRAGMA foreign_keys = OFF")
    raw.execute("BEGIN IMMEDIATE")
    try:
        with op.batch_alter_table('operation', schema=None, recreate='always') as batch_op:
            batch_op.drop_constraint(op.f('ck_operation_kind'), type_='check')
            batch_op.create_check_constraint(op.f('ck_operation_kind'), condition)
        raw.execute("COMMIT")
    finally:
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        raw.execute("PRAGMA foreign_keys = ON")
        raw.execute("BEGIN IMMEDIATE")  # the migration's own transaction carries on
