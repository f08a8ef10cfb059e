"""incidents.declare_key: the one-use key of the form or card an incident was declared
from, so a second press of the same Declare button (a double click, or two people on one
shared card) finds the incident instead of declaring it twice

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04 19:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incidents') as batch:
        batch.add_column(sa.Column('declare_key', sa.String(length=64), nullable=True))
        batch.create_unique_constraint('uq_incidents_declare_key', ['declare_key'])


def downgrade() -> None:
    with op.batch_alter_table('incidents') as batch:
        batch.drop_constraint('uq_incidents_declare_key', type_='unique')
        batch.drop_column('declare_key')
