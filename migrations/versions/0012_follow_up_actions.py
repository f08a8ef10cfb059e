"""follow-up actions

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 14:50:37.195264
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('follow_up_actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('due', sa.Date(), nullable=True),
    sa.Column('link', sa.String(length=1000), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_chased_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_follow_up_actions_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_follow_up_actions_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_follow_up_actions_owner_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up_actions'))
    )
    with op.batch_alter_table('follow_up_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_actions_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index('ix_follow_up_actions_status_due', ['status', 'due'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('follow_up_actions', schema=None) as batch_op:
        batch_op.drop_index('ix_follow_up_actions_status_due')
        batch_op.drop_index(batch_op.f('ix_follow_up_actions_incident_id'))

    op.drop_table('follow_up_actions')
