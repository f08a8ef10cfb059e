"""alert sources and records

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 14:34:09.289851
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert_sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('severity', sa.String(length=40), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_alert_sources_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_sources')),
    sa.UniqueConstraint('name', name=op.f('uq_alert_sources_name')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_alert_sources_secret_hash'))
    )
    op.create_table('alert_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=200), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('times_fired', sa.Integer(), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_alert_records_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['alert_sources.id'], name=op.f('fk_alert_records_source_id_alert_sources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_records')),
    sa.UniqueConstraint('source_id', 'fingerprint', name='uq_alert_records_source_fingerprint')
    )
    with op.batch_alter_table('alert_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_records_incident_id'), ['incident_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('alert_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_records_incident_id'))

    op.drop_table('alert_records')
    op.drop_table('alert_sources')
