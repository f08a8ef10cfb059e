"""uptime checks: HTTP(S) checks per catalogue service, run by the scheduler, and their
results (response times for the status page; failures open an incident through alert
intake). Results are pruned to the last 90 days (app/uptime/service.py RESULTS_KEPT).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('uptime_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('expected_status', sa.Integer(), nullable=False),
    sa.Column('timeout_seconds', sa.Integer(), nullable=False),
    sa.Column('interval_seconds', sa.Integer(), nullable=False),
    sa.Column('failures_before_open', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    # state: how many failures in a row, whether an alert for it is firing, when it is
    # next due, and the lease of the run in flight (never two runs at once)
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('alert_firing', sa.Boolean(), nullable=False),
    sa.Column('next_run_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_token', sa.String(length=32), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_uptime_checks_service_id_services'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_uptime_checks_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uptime_checks'))
    )
    with op.batch_alter_table('uptime_checks', schema=None) as batch_op:
        batch_op.create_index('ix_uptime_checks_service_id', ['service_id'], unique=False)
        batch_op.create_index('ix_uptime_checks_due', ['enabled', 'next_run_at'], unique=False)
    op.create_table('uptime_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('check_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response_ms', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['check_id'], ['uptime_checks.id'], name=op.f('fk_uptime_results_check_id_uptime_checks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uptime_results'))
    )
    with op.batch_alter_table('uptime_results', schema=None) as batch_op:
        # "the latest N of a check" and "a check's last 24 hours"
        batch_op.create_index('ix_uptime_results_check_at', ['check_id', 'at'], unique=False)
        # pruning by age
        batch_op.create_index('ix_uptime_results_at', ['at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('uptime_results', schema=None) as batch_op:
        batch_op.drop_index('ix_uptime_results_at')
        batch_op.drop_index('ix_uptime_results_check_at')
    op.drop_table('uptime_results')
    with op.batch_alter_table('uptime_checks', schema=None) as batch_op:
        batch_op.drop_index('ix_uptime_checks_due')
        batch_op.drop_index('ix_uptime_checks_service_id')
    op.drop_table('uptime_checks')
