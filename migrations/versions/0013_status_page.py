"""public status page: published updates, public titles, public services

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 14:54:03.650908
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_title', sa.String(length=200), nullable=True))

    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public', sa.Boolean(), server_default='0', nullable=False))

    with op.batch_alter_table('status_updates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public', sa.Boolean(), server_default='0', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('status_updates', schema=None) as batch_op:
        batch_op.drop_column('public')

    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.drop_column('public')

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_column('public_title')

