"""ndelius sync

The relay's view of each appointment on nDelius's side (remote_state), the payload last sent, a per-appointment
lease (claimed_by/claimed_until) so two relays never work on one appointment, and the reconciliation tables.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

REMOTE_STATES = "remote_state IN ('absent', 'uncertain', 'present', 'deleted')"


def upgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # ADD COLUMN keeps the table (a batch re-create would drop a table outbox_item points at).
        op.execute(
            "ALTER TABLE ndelius_appointment ADD COLUMN remote_state VARCHAR(20) DEFAULT 'absent' NOT NULL "
            f"CONSTRAINT ck_ndelius_appointment_remote_state CHECK ({REMOTE_STATES})"
        )
    else:
        op.add_column('ndelius_appointment',
                      sa.Column('remote_state', sa.String(length=20), server_default='absent', nullable=False))
        op.create_check_constraint(op.f('ck_ndelius_appointment_remote_state'), 'ndelius_appointment', REMOTE_STATES)
    op.add_column('ndelius_appointment', sa.Column('last_sent', sa.JSON(), nullable=True))
    op.add_column('ndelius_appointment', sa.Column('claimed_by', sa.String(length=64), nullable=True))
    op.add_column('ndelius_appointment', sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
    # Appointments already synced before this revision exist in nDelius.
    op.execute("UPDATE ndelius_appointment SET remote_state = 'present' WHERE sync_state = 'synced'")
    op.execute("UPDATE ndelius_appointment SET remote_state = 'deleted' WHERE sync_state = 'deleted'")

    op.create_table('ndelius_disagreement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('region_id', sa.Integer(), nullable=True),
    sa.Column('reference', sa.Uuid(), nullable=False),
    sa.Column('field', sa.String(length=30), nullable=False),
    sa.Column('ours', sa.Text(), nullable=True),
    sa.Column('ours_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('theirs', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution', sa.String(length=30), nullable=True),
    sa.ForeignKeyConstraint(['appointment_id'], ['ndelius_appointment.id'],
                            name=op.f('fk_ndelius_disagreement_appointment_id_ndelius_appointment')),
    sa.ForeignKeyConstraint(['region_id'], ['region.id'], name=op.f('fk_ndelius_disagreement_region_id_region')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ndelius_disagreement')),
    )
    with op.batch_alter_table('ndelius_disagreement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ndelius_disagreement_appointment_id'), ['appointment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ndelius_disagreement_region_id'), ['region_id'], unique=False)
        batch_op.create_index('uq_ndelius_disagreement_open', ['reference', 'field'], unique=True,
                              postgresql_where=sa.text('resolved_at IS NULL'),
                              sqlite_where=sa.text('resolved_at IS NULL'))

    op.create_table('ndelius_reconciliation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('compared', sa.Integer(), nullable=False),
    sa.Column('found', sa.Integer(), nullable=False),
    sa.Column('new', sa.Integer(), nullable=False),
    sa.Column('resolved', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ndelius_reconciliation')),
    )


def downgrade():
    op.drop_table('ndelius_reconciliation')
    with op.batch_alter_table('ndelius_disagreement', schema=None) as batch_op:
        batch_op.drop_index('uq_ndelius_disagreement_open', postgresql_where=sa.text('resolved_at IS NULL'),
                            sqlite_where=sa.text('resolved_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_ndelius_disagreement_region_id'))
        batch_op.drop_index(batch_op.f('ix_ndelius_disagreement_appointment_id'))
    op.drop_table('ndelius_disagreement')
    if op.get_bind().dialect.name == "sqlite":
        # The CHECK names remote_state, so SQLite can drop it only by re-creating the table, and outbox_item
        # points at that table: SQLite's own procedure for this turns foreign keys off, which it allows only
        # between transactions.
        raw = op.get_bind().connection.driver_connection
        if raw.in_transaction:
            raw.execute("COMMIT")
        raw.execute("PRAGMA foreign_keys = OFF")
        raw.execute("BEGIN IMMEDIATE")
        try:
            with op.batch_alter_table('ndelius_appointment', schema=None, recreate='always') as batch_op:
                batch_op.drop_constraint(op.f('ck_ndelius_appointment_remote_state'), type_='check')
                for column in ('claimed_until', 'claimed_by', 'last_sent', 'remote_state'):
                    batch_op.drop_column(column)
            raw.execute("COMMIT")
        finally:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raw.execute("PRAGMA foreign_keys = ON")
            raw.execute("BEGIN IMMEDIATE")  # the migration's own transaction carries on
        return
    op.drop_constraint(op.f('ck_ndelius_appointment_remote_state'), 'ndelius_appointment', type_='check')
    for column in ('claimed_until', 'claimed_by', 'last_sent', 'remote_state'):
        op.drop_column('ndelius_appointment', column)
