"""review meetings

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 14:58:58.538103
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('review_meetings',
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('invited', sa.JSON(), nullable=False),
    sa.Column('attended', sa.JSON(), nullable=False),
    sa.Column('facilitator_id', sa.Integer(), nullable=True),
    sa.Column('note_taker_id', sa.Integer(), nullable=True),
    sa.Column('booked_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['booked_by_id'], ['users.id'], name=op.f('fk_review_meetings_booked_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['facilitator_id'], ['users.id'], name=op.f('fk_review_meetings_facilitator_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_review_meetings_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['note_taker_id'], ['users.id'], name=op.f('fk_review_meetings_note_taker_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('incident_id', name=op.f('pk_review_meetings'))
    )


def downgrade() -> None:
    op.drop_table('review_meetings')
