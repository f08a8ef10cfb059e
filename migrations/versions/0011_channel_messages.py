"""copies of Teams channel messages, to import into the timeline

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 14:44:01.973776
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('channel_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=100), nullable=False),
    sa.Column('sender', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('web_url', sa.String(length=1000), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('timeline_entry_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_channel_messages_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['timeline_entry_id'], ['timeline_entries.id'], name=op.f('fk_channel_messages_timeline_entry_id_timeline_entries'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_messages')),
    sa.UniqueConstraint('incident_id', 'message_id', name='uq_channel_messages_incident_message')
    )
    with op.batch_alter_table('channel_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_messages_incident_id'), ['incident_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('channel_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_messages_incident_id'))

    op.drop_table('channel_messages')
