"""what a person cannot do, recorded before allocating: times, delivery locations, non-associations

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def _columns(table):
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(),
                  sa.ForeignKey("app_user.id", name=op.f(f"fk_{table}_created_by_id_app_user")), nullable=True),
    ]


def upgrade():
    op.create_table(
        "referral_unavailability",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_unavailability")),
        sa.Column("referral_id", sa.Integer(), sa.ForeignKey("referral.id", name=op.f("fk_referral_unavailability_referral_id_referral")), nullable=False),
        sa.Column("day_of_week", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        *_columns("referral_unavailability"),
        sa.CheckConstraint("day_of_week BETWEEN 0 AND 6", name=op.f("ck_referral_unavailability_day_of_week")),
        sa.CheckConstraint("start_time < end_time", name=op.f("ck_referral_unavailability_start_before_end")),
    )
    op.create_index("ix_referral_unavailability_referral_id", "referral_unavailability", ["referral_id"])
    op.create_table(
        "referral_excluded_location",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_excluded_location")),
        sa.Column("referral_id", sa.Integer(), sa.ForeignKey("referral.id", name=op.f("fk_referral_excluded_location_referral_id_referral")), nullable=False),
        sa.Column("location", sa.String(200), nullable=False),
        sa.Column("location_key", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        *_columns("referral_excluded_location"),
        sa.UniqueConstraint("referral_id", "location_key", name=op.f("uq_excluded_location")),
    )
    op.create_index("ix_referral_excluded_location_referral_id", "referral_excluded_location", ["referral_id"])
    op.create_table(
        "non_association",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_non_association")),
        sa.Column("referral_id", sa.Integer(), sa.ForeignKey("referral.id", name=op.f("fk_non_association_referral_id_referral")), nullable=False),
        sa.Column("other_referral_id", sa.Integer(), sa.ForeignKey("referral.id", name=op.f("fk_non_association_other_referral_id_referral")), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        *_columns("non_association"),
        sa.UniqueConstraint("referral_id", "other_referral_id", name=op.f("uq_non_association")),
        sa.CheckConstraint("referral_id < other_referral_id", name=op.f("ck_non_association_ordered_pair")),
    )
    op.create_index("ix_non_association_referral_id", "non_association", ["referral_id"])
    op.create_index("ix_non_association_other_referral_id", "non_association", ["other_referral_id"])


def downgrade():
    op.drop_table("non_association")
    op.drop_table("referral_excluded_location")
    op.drop_table("referral_unavailability")
