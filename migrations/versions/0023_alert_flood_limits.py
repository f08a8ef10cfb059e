"""alert flood limits: a source's hourly limit of incidents, its grouping incident, and
when each alert record opened its incident (what the limit counts)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02 18:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alert_sources', schema=None) as batch_op:
        batch_op.add_column(sa.Column('incidents_per_hour', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('grouping_incident_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_alert_sources_grouping_incident_id_incidents'), 'incidents',
            ['grouping_incident_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('alert_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_alert_records_source_opened', ['source_id', 'opened_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alert_records', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_records_source_opened')
        batch_op.drop_column('opened_at')
    with op.batch_alter_table('alert_sources', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_alert_sources_grouping_incident_id_incidents'), type_='foreignkey')
        batch_op.drop_column('grouping_incident_id')
        batch_op.drop_column('incidents_per_hour')
