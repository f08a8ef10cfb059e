"""replies read from a Teams channel remember their post

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 20:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('channel_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reply_to_id', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('channel_messages', schema=None) as batch_op:
        batch_op.drop_column('reply_to_id')
