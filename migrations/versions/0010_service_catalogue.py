"""service catalogue: owners, runbook and DR links, dependencies, suppliers, escalation chain

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 14:40:20.481796
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('escalation_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=60), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('when', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_steps'))
    )
    with op.batch_alter_table('escalation_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_steps_position'), ['position'], unique=False)

    op.create_table('suppliers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('support_route', sa.Text(), nullable=False),
    sa.Column('hours', sa.String(length=200), nullable=False),
    sa.Column('escalation', sa.Text(), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppliers')),
    sa.UniqueConstraint('name', name=op.f('uq_suppliers_name'))
    )
    op.create_table('service_dependencies',
    sa.Column('downstream_id', sa.Integer(), nullable=False),
    sa.Column('upstream_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['downstream_id'], ['services.id'], name=op.f('fk_service_dependencies_downstream_id_services'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['upstream_id'], ['services.id'], name=op.f('fk_service_dependencies_upstream_id_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('downstream_id', 'upstream_id', name=op.f('pk_service_dependencies'))
    )
    op.create_table('service_suppliers',
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_service_suppliers_service_id_services'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_service_suppliers_supplier_id_suppliers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('service_id', 'supplier_id', name=op.f('pk_service_suppliers'))
    )
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('owner', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('runbook_url', sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column('dr_url', sa.String(length=1000), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.drop_column('dr_url')
        batch_op.drop_column('runbook_url')
        batch_op.drop_column('owner')
        batch_op.drop_column('description')

    op.drop_table('service_suppliers')
    op.drop_table('service_dependencies')
    op.drop_table('suppliers')
    with op.batch_alter_table('escalation_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_steps_position'))

    op.drop_table('escalation_steps')
