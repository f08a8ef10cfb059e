"""participants, role hand-overs, typed and editable scribe log, security team flag

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 14:26:40.860446
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('participants',
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], name=op.f('fk_participants_added_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_participants_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_participants_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('incident_id', 'user_id', name=op.f('pk_participants'))
    )
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_participants_user_id'), ['user_id'], unique=False)

    op.create_table('role_handovers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.Column('from_user_id', sa.Integer(), nullable=True),
    sa.Column('to_user_id', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['from_user_id'], ['users.id'], name=op.f('fk_role_handovers_from_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_role_handovers_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_role_handovers_requested_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['to_user_id'], ['users.id'], name=op.f('fk_role_handovers_to_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_role_handovers'))
    )
    with op.batch_alter_table('role_handovers', schema=None) as batch_op:
        batch_op.create_index('ix_role_handovers_incident_status', ['incident_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_role_handovers_to_user_id'), ['to_user_id'], unique=False)

    op.create_table('timeline_edits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('entry_type', sa.String(length=20), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('edited_by_id', sa.Integer(), nullable=True),
    sa.Column('edited_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['edited_by_id'], ['users.id'], name=op.f('fk_timeline_edits_edited_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['entry_id'], ['timeline_entries.id'], name=op.f('fk_timeline_edits_entry_id_timeline_entries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timeline_edits'))
    )
    with op.batch_alter_table('timeline_edits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_timeline_edits_entry_id'), ['entry_id'], unique=False)

    with op.batch_alter_table('timeline_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('entry_type', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_security', sa.Boolean(), server_default='0', nullable=False))

    # Everyone who has held a role on an incident took part in it.
    op.execute("INSERT INTO participants (incident_id, user_id, added_at) "
               "SELECT incident_id, user_id, MIN(assigned_at) FROM role_assignments "
               "GROUP BY incident_id, user_id")


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('is_security')

    with op.batch_alter_table('timeline_entries', schema=None) as batch_op:
        batch_op.drop_column('edited_at')
        batch_op.drop_column('entry_type')

    with op.batch_alter_table('timeline_edits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_timeline_edits_entry_id'))

    op.drop_table('timeline_edits')
    with op.batch_alter_table('role_handovers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_role_handovers_to_user_id'))
        batch_op.drop_index('ix_role_handovers_incident_status')

    op.drop_table('role_handovers')
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_participants_user_id'))

    op.drop_table('participants')
