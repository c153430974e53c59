"""domain events (outbox, inbound messages, status history, CRN merges) and two sources of truth for a
person's case (issue 14)

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('crn_merge',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_crn', sa.String(length=10), nullable=False),
    sa.Column('target_crn', sa.String(length=10), nullable=False),
    sa.Column('merged_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crn_merge')),
    sa.UniqueConstraint('source_crn', name=op.f('uq_crn_merge_source_crn'))
    )
    op.create_table('case_fact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=30), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('observed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['referral_id'], ['referral.id'], name=op.f('fk_case_fact_referral_id_referral')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_fact')),
    sa.UniqueConstraint('referral_id', 'field', 'source', name='uq_case_fact')
    )
    with op.batch_alter_table('case_fact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_fact_referral_id'), ['referral_id'], unique=False)

    op.create_table('inbound_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=100), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('referral_id', sa.Integer(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('received', 'processed', 'ignored', 'retrying', 'dead', 'dismissed')", name=op.f('ck_inbound_event_status')),
    sa.ForeignKeyConstraint(['referral_id'], ['referral.id'], name=op.f('fk_inbound_event_referral_id_referral')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_event')),
    sa.UniqueConstraint('message_id', name=op.f('uq_inbound_event_message_id'))
    )
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_event_referral_id'), ['referral_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_event_status'), ['status'], unique=False)

    op.create_table('case_disagreement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=30), nullable=False),
    sa.Column('referral_value', sa.Text(), nullable=True),
    sa.Column('referral_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ndelius_value', sa.Text(), nullable=True),
    sa.Column('ndelius_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('found_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['referral_id'], ['referral.id'], name=op.f('fk_case_disagreement_referral_id_referral')),
    sa.ForeignKeyConstraint(['region_id'], ['region.id'], name=op.f('fk_case_disagreement_region_id_region')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['app_user.id'], name=op.f('fk_case_disagreement_resolved_by_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_disagreement'))
    )
    with op.batch_alter_table('case_disagreement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_disagreement_referral_id'), ['referral_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_disagreement_region_id'), ['region_id'], unique=False)
        batch_op.create_index('uq_case_disagreement_open', ['referral_id', 'field'], unique=True, postgresql_where=sa.text('resolved_at IS NULL'), sqlite_where=sa.text('resolved_at IS NULL'))

    op.create_table('referral_status_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=30), nullable=True),
    sa.Column('to_status', sa.String(length=30), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['changed_by_id'], ['app_user.id'], name=op.f('fk_referral_status_change_changed_by_id_app_user')),
    sa.ForeignKeyConstraint(['referral_id'], ['referral.id'], name=op.f('fk_referral_status_change_referral_id_referral')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_status_change'))
    )
    with op.batch_alter_table('referral_status_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referral_status_change_referral_id'), ['referral_id'], unique=False)

    op.create_table('domain_event_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('status_change_id', sa.Integer(), nullable=True),
    sa.Column('dedupe_key', sa.String(length=120), nullable=True),
    sa.Column('crn', sa.String(length=10), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('message_id', sa.String(length=100), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sent', 'needs_attention')", name=op.f('ck_domain_event_outbox_status')),
    sa.ForeignKeyConstraint(['referral_id'], ['referral.id'], name=op.f('fk_domain_event_outbox_referral_id_referral')),
    sa.ForeignKeyConstraint(['status_change_id'], ['referral_status_change.id'], name=op.f('fk_domain_event_outbox_status_change_id_referral_status_change')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_domain_event_outbox')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_domain_event_outbox_dedupe_key'))
    )
    with op.batch_alter_table('domain_event_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_domain_event_outbox_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_domain_event_outbox_referral_id'), ['referral_id'], unique=False)

    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_referral_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('date_of_birth', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('event_number', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('case_checked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('case_check_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('requirement_terminated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('requirement_terminated_reason', sa.Text(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_referral_source_referral_id'), ['source_referral_id'])



def downgrade():
    with op.batch_alter_table('referral', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_referral_source_referral_id'), type_='unique')
        batch_op.drop_column('requirement_terminated_reason')
        batch_op.drop_column('requirement_terminated_at')
        batch_op.drop_column('case_check_error')
        batch_op.drop_column('case_checked_at')
        batch_op.drop_column('event_number')
        batch_op.drop_column('date_of_birth')
        batch_op.drop_column('source_referral_id')

    with op.batch_alter_table('domain_event_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_domain_event_outbox_referral_id'))
        batch_op.drop_index('ix_domain_event_outbox_due')

    op.drop_table('domain_event_outbox')
    with op.batch_alter_table('referral_status_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referral_status_change_referral_id'))

    op.drop_table('referral_status_change')
    with op.batch_alter_table('case_disagreement', schema=None) as batch_op:
        batch_op.drop_index('uq_case_disagreement_open', postgresql_where=sa.text('resolved_at IS NULL'), sqlite_where=sa.text('resolved_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_case_disagreement_region_id'))
        batch_op.drop_index(batch_op.f('ix_case_disagreement_referral_id'))

    op.drop_table('case_disagreement')
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_event_status'))
        batch_op.drop_index(batch_op.f('ix_inbound_event_referral_id'))

    op.drop_table('inbound_event')
    with op.batch_alter_table('case_fact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_fact_referral_id'))

    op.drop_table('case_fact')
    op.drop_table('crn_merge')
